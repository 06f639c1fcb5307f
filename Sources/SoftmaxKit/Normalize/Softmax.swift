/// softmax, log_softmax and logsumexp over the `n` extent of `(outer, n, inner)`.
///
/// Numerics (docs/DESIGN.md): with `m = max_j x_j` and temperature `T`,
///   softmax_j     = exp((x_j - m)/T) / sum_k exp((x_k - m)/T)
///   log_softmax_j = (x_j - m)/T - log(sum_k exp((x_k - m)/T))   (never log(softmax))
///   logsumexp     = m + log(sum_k exp(x_k - m))
/// A NaN makes its row NaN; `-inf` entries give 0 when the row has a finite
/// maximum; an all `-inf` row is NaN for softmax/log_softmax (0/0, as PyTorch
/// and JAX) and `-inf` for logsumexp. Sums are accumulated in blocks into a
/// `Double`, so float32 rows of millions of elements stay within ~1e-6 relative.

// MARK: Public API: unsafe buffers (no copies)

/// Softmax of `x` over the `n` extent, written to `y` (`y` may be `x`).
/// - Throws: `.invalidArgument` for a temperature that is not finite and > 0
///   or for partially overlapping buffers; `.shapeMismatch` for buffers
///   shorter than `extents.count`. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try Normalizer<T>.checked(.softmax, x, y, extents, temperature)
}

/// Log-softmax of `x` over the `n` extent, written to `y` (`y` may be `x`).
/// Same errors as ``softmax(_:into:extents:temperature:)``.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try Normalizer<T>.checked(.logSoftmax, x, y, extents, temperature)
}

/// `log(sum(exp(x)))` over the `n` extent; `y` holds `outer * inner` results
/// (the reduced extents). An empty row (`n == 0`) gives `-inf`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSumExp<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    let outCount = extents.reducedCount
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, outCount)
    guard outCount > 0 else { return }
    // y may start at x; any other overlap of x's and y's ranges is partial.
    // (Comparing only min(x, y) elements of each missed y = x + k with
    // k >= outCount: rows were overwritten before they were read.)
    try checkAliasing(x, xCount: extents.count, y, yCount: outCount)
    let yp = y.baseAddress!
    if extents.n == 0 {
        for i in 0..<outCount { yp[i] = -.infinity }
        return
    }
    try Normalizer<T>.logSumExp(x.baseAddress!, yp, extents)
}

// MARK: Public API: arrays

/// Softmax of an array viewed as `shape` (default: 1-D) over `axis`.
public func softmax<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1, temperature: T = 1
) throws(SoftmaxKitError) -> [T] {
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try softmax(xb, into: yb, extents: e, temperature: temperature)
    }
}

/// Log-softmax of an array viewed as `shape` (default: 1-D) over `axis`.
public func logSoftmax<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1, temperature: T = 1
) throws(SoftmaxKitError) -> [T] {
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try logSoftmax(xb, into: yb, extents: e, temperature: temperature)
    }
}

/// Logsumexp of an array viewed as `shape` over `axis`; the result has the
/// shape with that axis removed (`outer * inner` elements).
public func logSumExp<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var y = [T](repeating: 0, count: e.reducedCount)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
            try logSumExp(xb, into: yb, extents: e)
        }
    }
    return y
}

/// Runs a same-shape kernel on an array viewed as `shape` (default: 1-D)
/// over `axis` into a fresh array, with the extents that view gives.
@usableFromInline
func mapArray<T: KernelScalar>(
    _ x: [T], shape: [Int]?, axis: Int,
    _ body: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    return try mapArray(x) { (xb, yb) throws(SoftmaxKitError) in try body(xb, yb, e) }
}

/// Runs a same-shape kernel on an array into a fresh array.
@usableFromInline
func mapArray<T: KernelScalar>(
    _ x: [T], _ body: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [T] {
    var y = [T](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
            try body(xb, yb)
        }
    }
    return y
}

// MARK: Kernels

@usableFromInline
enum Normalizer<T: KernelScalar> {
    /// The public entry points' argument checks, then the kernel. Nothing is
    /// written unless every check passes.
    @usableFromInline
    static func checked(_ kind: NormalizerKind, _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>,
                        _ e: Extents, _ temperature: T) throws(SoftmaxKitError) {
        try checkTemperature(temperature)
        try checkCount("x", x.count, e.count)
        try checkCount("y", y.count, e.count)
        try checkAliasing(x, y, count: e.count)
        guard e.count > 0 else { return }
        try run(kind, x.baseAddress!, y.baseAddress!, e, invT: 1 / temperature)
    }

    /// Dispatches contiguous rows (`inner == 1`) and strided columns.
    @usableFromInline
    static func run(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ e: Extents, invT: T) throws(SoftmaxKitError) {
        if e.n == 0 { return }
        if e.inner == 1 {
            rows(kind, x, y, rows: e.outer, n: e.n, invT: invT)
        } else {
            parallelFor(e.outer, work: e.count) { blocks in
                Columns<T>.run(kind, x, y, e, blocks, invT: invT)
            }
        }
    }

    /// `rows` contiguous rows of `n > 0` elements (the model heads call this
    /// directly): short rows from registers, longer ones by `row`.
    @inlinable
    static func rows(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                     rows count: Int, n: Int, invT: T) {
        if let short = ShortRows<T>(n) {
            let kernel = ShortNormalize(kind, x, y, invT: invT)
            parallelFor(count, work: count * n) { rows in short.run(kernel, rows) }
            return
        }
        // Calls larger than the cache write y with streaming stores; softmax
        // then keeps each row's exponentials in a row of scratch (in L1/L2)
        // instead of in y. Same bits either way.
        let stream = streamingStores(bytes: 2 * count * n * MemoryLayout<T>.stride)
        parallelFor(count, work: count * n) { rows in
            streamingRange(stream, scratch: kind == .softmax ? n : 0, T.self) { streaming, scratch in
                // Each row's min/max comes from the loop that exponentiates the
                // row before it (see rowExpSum(alongside:)); the first of a range
                // takes its own pass. Same bits either way.
                var bounds = rowMinMax(x + rows.lowerBound * n, n, readable: (count - rows.lowerBound) * n)
                for o in rows {
                    let next = o + 1 < rows.upperBound ? x + (o + 1) * n : nil
                    bounds = row(kind, x + o * n, y + o * n, n, readable: (count - o) * n, invT: invT,
                                 bounds: bounds, next: next, streaming: streaming, scratch: scratch)
                }
            }
        }
    }

    /// One contiguous row: max, exp-sum (softmax stores the exponentials), then scale.
    @inlinable
    static func row(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ n: Int, readable: Int, invT: T) {
        _ = row(kind, x, y, n, readable: readable, invT: invT, bounds: rowMinMax(x, n, readable: readable), next: nil)
    }

    /// One row given its `(min, max)`; returns `next`'s (the following row,
    /// whose min/max rides along the exp-sum's loop), or junk when nil.
    /// With `streaming`, y is written by `rowStream` (softmax's exponentials
    /// go to `scratch`, n elements, which it then needs).
    @inlinable
    static func row(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ n: Int, readable: Int, invT: T, bounds: (min: T, max: T), next: UnsafePointer<T>?,
                    streaming: Bool = false, scratch: UnsafeMutablePointer<T>? = nil) -> (min: T, max: T) {
        let (lo, m) = bounds
        switch kind {
        case .softmax:
            let e = streaming ? scratch! : y
            let r = rowExpSum(x, e, n, shift: m, scale: invT, lowest: lo, readable: readable, alongside: next)
            rowScale(e, y, n, T(1 / r.sum), streaming: streaming)
            return r.next
        case .logSoftmax, .logSumExp:  // (logsumexp rows never come here: `logSumExp`)
            let r = rowExpSum(x, nil, n, shift: m, scale: invT, lowest: lo, readable: readable, alongside: next)
            let offset = T(T.libmLog(T(r.sum)))
            if streaming {
                let vm = T.Vector(repeating: m), vs = T.Vector(repeating: invT), vo = T.Vector(repeating: offset)
                rowStream(y, n, vector: { (vload(x + $0) - vm) * vs - vo }, scalar: { (x[$0] - m) * invT - offset })
            } else {
                rowShiftScaleOffset(x, y, n, shift: m, scale: invT, offset: offset)
            }
            return r.next
        }
    }

    /// Logsumexp of each `(o, :, i)` fibre into `y[o * inner + i]`.
    static func logSumExp(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ e: Extents) throws(SoftmaxKitError) {
        let n = e.n, inner = e.inner
        if inner == 1 {
            // In place, row o writes y[o] = x[o], inside row o / n: a thread
            // running later rows would overwrite rows another thread has yet
            // to read, so in-place calls stay on one thread.
            let inPlace = UInt(bitPattern: x) == UInt(bitPattern: y)
            parallelFor(e.outer, work: inPlace ? 0 : e.count) { rows in
                for o in rows {
                    let xo = x + o * n
                    let avail = (e.outer - o) * n
                    let (lo, m) = rowMinMax(xo, n, readable: avail)
                    y[o] = finishLogSumExp(m, m.isFinite ? rowExpSum(xo, nil, n, shift: m, scale: 1, lowest: lo, readable: avail) : 0) {
                        (0..<n).contains { xo[$0].isNaN }
                    }
                }
            }
            return
        }
        parallelFor(e.outer, work: e.count) { blocks in
            Columns<T>.run(.logSumExp, x, y, e, blocks, invT: 1)
        }
    }

    /// `m + log(s)` with the infinite cases of docs/DESIGN.md: a row whose max is
    /// `-inf` (all `-inf`) gives `-inf`, `+inf` gives `+inf`, unless the row
    /// holds a NaN (the max ignores NaN, so `hasNaN` rescans only then).
    @inlinable
    static func finishLogSumExp(_ m: T, _ s: Double, hasNaN: () -> Bool) -> T {
        if m.isFinite { return m + T(T.libmLog(T(s))) }
        return hasNaN() ? .nan : m
    }
}
