/// Masked softmax and log-softmax with per-fibre lengths instead of a mask:
/// in fibre `f` (the fibres of `(outer, n, inner)` taken in order, `f = o *
/// inner + i`), positions `j < lengths[f]` take part and positions `j >=
/// lengths[f]` are padding. The result is the mask-built one with the mask
/// `j < lengths[f]`, with no mask built: padding is exactly 0 (log: `-inf`)
/// whatever its logits, a zero length gives an all-0 (log: all `-inf`) fibre.

/// Masked softmax of `x` over the `n` extent where each fibre takes part up
/// to its length (`y` may be `x`).
/// - Parameter lengths: `extents.outer * extents.inner` values, each in `0...n`.
/// - Parameter renormalize: as ``maskedSoftmax(_:mask:into:extents:renormalize:)``.
/// - Throws: `.shapeMismatch` when `lengths` holds another count;
///   `.invalidArgument` for a length outside `0...n` (the fibre named); the
///   errors of ``softmax(_:into:extents:temperature:)``. Nothing is written
///   when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, lengths: UnsafeBufferPointer<Int64>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, renormalize: Bool = true
) throws(SoftmaxKitError) {
    try LengthsKernel<T>.run(renormalize ? .softmax : .softmaxThenMask, x, lengths, y, extents)
}

/// Masked log-softmax of `x` over the `n` extent with per-fibre lengths;
/// padding positions and zero-length fibres are `-inf`. Errors as
/// ``maskedSoftmax(_:lengths:into:extents:renormalize:)``.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedLogSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, lengths: UnsafeBufferPointer<Int64>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents
) throws(SoftmaxKitError) {
    try LengthsKernel<T>.run(.logSoftmax, x, lengths, y, extents)
}

/// Masked softmax of an array viewed as `shape` over `axis`, each fibre
/// taking part up to its length; `lengths` holds one value per fibre (the
/// shape without `axis`, in C order).
public func maskedSoftmax<T: KernelScalar>(
    _ x: [T], lengths: [Int], shape: [Int]? = nil, axis: Int = -1, renormalize: Bool = true
) throws(SoftmaxKitError) -> [T] {
    let l = lengths.map { Int64($0) }
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try l.withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try maskedSoftmax(xb, lengths: lb, into: yb, extents: e, renormalize: renormalize)
        }
    }
}

/// Masked log-softmax of an array with per-fibre lengths; arguments as the
/// array ``maskedSoftmax(_:lengths:shape:axis:renormalize:)``.
public func maskedLogSoftmax<T: KernelScalar>(
    _ x: [T], lengths: [Int], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    let l = lengths.map { Int64($0) }
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try l.withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e)
        }
    }
}

@usableFromInline
enum LengthsKernel<T: KernelScalar> {
    @usableFromInline
    static func run(_ kind: MaskedKind, _ x: UnsafeBufferPointer<T>, _ lengths: UnsafeBufferPointer<Int64>,
                    _ y: UnsafeMutableBufferPointer<T>, _ e: Extents) throws(SoftmaxKitError) {
        try checkCount("x", x.count, e.count)
        try checkCount("y", y.count, e.count)
        let fibres = e.outer * e.inner
        guard lengths.count == fibres else {
            throw .shape("lengths holds \(lengths.count) values but there are \(fibres) fibres (outer \(e.outer) x inner \(e.inner)): one length per fibre")
        }
        try checkAliasing(x, y, count: e.count)
        try checkDisjoint(UnsafeRawPointer(lengths.baseAddress), fibres * 8,
                          UnsafeRawPointer(y.baseAddress), e.count * MemoryLayout<T>.stride, names: ("lengths", "y"))
        for (f, l) in lengths.enumerated() where l < 0 || l > Int64(e.n) {
            throw .invalid("lengths[\(f)] is \(l) but must be in [0, \(e.n)] (the axis length)")
        }
        guard e.count > 0 else { return }
        let fill: T = kind == .logSoftmax ? -.infinity : 0
        let n = e.n, inner = e.inner
        // A fibre's (or row's) prefix through the plain kernels; the padding
        // is filled. Errors cannot occur past the checks above.
        func prefix(_ xp: UnsafePointer<T>, _ yp: UnsafeMutablePointer<T>, _ len: Int) {
            let width = kind == .softmaxThenMask ? n : len
            if width > 0 {
                let xs = UnsafeBufferPointer(start: xp, count: width)
                let ys = UnsafeMutableBufferPointer(start: yp, count: width)
                let ex = try! Extents(outer: 1, n: width)
                if kind == .logSoftmax { try! logSoftmax(xs, into: ys, extents: ex) } else { try! softmax(xs, into: ys, extents: ex) }
            }
            if len < n { (yp + len).update(repeating: fill, count: n - len) }
        }
        let xp = x.baseAddress!, yp = y.baseAddress!
        if inner == 1 {
            for r in 0..<e.outer { prefix(xp + r * n, yp + r * n, Int(lengths[r])) }
            return
        }
        // Fibres down a middle axis: each gathered into a row, normalized and
        // scattered back.
        let row = UnsafeMutablePointer<T>.allocate(capacity: n)
        defer { row.deallocate() }
        for o in 0..<e.outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                for j in 0..<n { row[j] = xp[base + j * inner] }
                prefix(row, row, Int(lengths[o * inner + i]))
                for j in 0..<n { yp[base + j * inner] = row[j] }
            }
        }
    }
}
