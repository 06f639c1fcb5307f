import SoftmaxKitSIMD

/// Masked softmax and masked log-softmax over the `n` extent.
///
/// A mask byte that is nonzero means "this position takes part" (JAX `where=`,
/// Keras masks). The mask is either full-shape (`outer * n * inner` bytes) or
/// one `n`-long pattern shared by every fibre. With `M` the selected set:
///
///   renormalize (default): y_j = exp(x_j - m) / sum_{k in M} exp(x_k - m),  m = max_{k in M} x_k
///   renormalize == false:  y_j = softmax(x)_j over every position (a network trained unmasked)
///   masked log-softmax:    y_j = x_j - m - log(sum_{k in M} exp(x_k - m))
///
/// and y_j = 0 (log: `-inf`) for every j not in M, whatever x_j is (NaN and
/// inf included): the result is a select, never a multiply. A fully masked
/// fibre is all 0 (log: all `-inf`), never NaN. Selected positions follow the
/// softmax rules: a NaN among them makes them NaN; all `-inf` makes them NaN.

/// How a mask covers the tensor.
@usableFromInline enum MaskLayout: Sendable, Equatable {
    /// One byte per element of the tensor.
    case full
    /// One `n`-long pattern applied to every fibre.
    case pattern
}

/// Masked softmax of `x` over the `n` extent into `y` (`y` may be `x`).
/// - Parameter mask: `extents.count` bytes (full) or `extents.n` bytes (pattern).
/// - Throws: `.shapeMismatch` when the mask length is neither; the errors of
///   ``softmax(_:into:extents:temperature:)``. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, mask: UnsafeBufferPointer<UInt8>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, renormalize: Bool = true
) throws(SoftmaxKitError) {
    try MaskedKernel<T>.run(renormalize ? .softmax : .softmaxThenMask, x, mask, y, extents)
}

/// Masked log-softmax of `x` over the `n` extent into `y` (`y` may be `x`);
/// unselected and fully masked positions are `-inf`. Errors as ``maskedSoftmax(_:mask:into:extents:renormalize:)``.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedLogSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, mask: UnsafeBufferPointer<UInt8>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents
) throws(SoftmaxKitError) {
    try MaskedKernel<T>.run(.logSoftmax, x, mask, y, extents)
}

/// Masked softmax of an array viewed as `shape` over `axis`; `mask` holds
/// `x.count` entries or the length of `axis` (a pattern); `true` takes part.
public func maskedSoftmax<T: KernelScalar>(
    _ x: [T], mask: [Bool], shape: [Int]? = nil, axis: Int = -1, renormalize: Bool = true
) throws(SoftmaxKitError) -> [T] {
    let bytes = mask.map { $0 ? UInt8(1) : 0 }
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try bytes.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in
            try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: renormalize)
        }
    }
}

/// Masked log-softmax of an array; arguments as the array ``maskedSoftmax(_:mask:shape:axis:renormalize:)``.
public func maskedLogSoftmax<T: KernelScalar>(
    _ x: [T], mask: [Bool], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    let bytes = mask.map { $0 ? UInt8(1) : 0 }
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try bytes.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in
            try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
        }
    }
}

/// Which mask layout a mask of `count` bytes is for these extents.
@usableFromInline
func maskLayout(_ count: Int, _ e: Extents) throws(SoftmaxKitError) -> MaskLayout {
    if count == e.count { return .full }
    if count == e.n { return .pattern }
    throw .shape("mask holds \(count) elements but must hold \(e.count) (full shape) or \(e.n) (one pattern of the axis length)")
}

@usableFromInline
enum MaskedKind { case softmax, softmaxThenMask, logSoftmax }

@usableFromInline
enum MaskedKernel<T: KernelScalar> {
    @usableFromInline
    static func run(_ kind: MaskedKind, _ x: UnsafeBufferPointer<T>, _ mask: UnsafeBufferPointer<UInt8>,
                    _ y: UnsafeMutableBufferPointer<T>, _ e: Extents) throws(SoftmaxKitError) {
        try checkCount("x", x.count, e.count)
        try checkCount("y", y.count, e.count)
        let layout = try maskLayout(mask.count, e)
        try checkAliasing(x, y, count: e.count)
        try checkDisjoint(UnsafeRawPointer(mask.baseAddress), mask.count,
                          UnsafeRawPointer(y.baseAddress), e.count * MemoryLayout<T>.stride, names: ("mask", "y"))
        guard e.count > 0 else { return }
        let xp = x.baseAddress!, yp = y.baseAddress!, mp = mask.baseAddress!
        if e.inner == 1 {
            if e.n > 0 { rows(kind, xp, mp, pattern: layout == .pattern, yp, rows: e.outer, n: e.n) }
            return
        }
        if e.n > 0 { columns(kind, xp, mp, pattern: layout == .pattern, yp, e) }
    }

    /// Fibres down columns (`inner > 1`) through the vectorized column
    /// kernels instead of a transpose each way. Renormalizing kinds run the
    /// column kernel with the mask as its selection (exactly 0, log `-inf`,
    /// wherever the mask is off and in fully masked columns);
    /// `softmaxThenMask` runs the plain column softmax, then a selecting
    /// pass. Never fails.
    @inlinable
    static func columns(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, pattern: Bool,
                        _ y: UnsafeMutablePointer<T>, _ e: Extents) {
        let n = e.n, inner = e.inner
        parallelFor(e.outer, work: e.count) { blocks in
            switch kind {
            case .softmaxThenMask:
                // Softmax over every position, then 0 where the mask is off.
                Columns<T>.run(.softmax, x, y, e, blocks, invT: 1)
                for o in blocks {
                    for j in 0..<n {
                        let at = (o * n + j) * inner
                        if !pattern {
                            selectStore(y + at, mask + at, y + at, inner, shift: 0, scale: 1, offset: 0, fill: 0)
                        } else if mask[j] == 0 {
                            (y + at).update(repeating: 0, count: inner)
                        }
                    }
                }
            case .softmax, .logSoftmax:
                let op: NormalizerKind = kind == .logSoftmax ? .logSoftmax : .softmax
                if pattern {
                    Columns<T>.run(op, x, y, e, blocks, invT: 1, PatternRows(mask))
                } else {
                    Columns<T>.run(op, x, y, e, blocks, invT: 1, MaskLanes(mask))
                }
            }
        }
    }

    /// `rows` contiguous rows of `n > 0` elements, the mask one `n`-byte
    /// pattern or full-shape (the model heads call this directly).
    @inlinable
    static func rows(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, pattern: Bool,
                     _ y: UnsafeMutablePointer<T>, rows count: Int, n: Int) {
        if let short = ShortRows<T>(n) {
            let kernel = ShortMasked(kind, x, mask, pattern: pattern, y)
            parallelFor(count, work: count * n) { rows in short.run(kernel, rows) }
            return
        }
        // Calls larger than the cache write y with streaming stores, as
        // softmax does (a plain store first reads the line it writes: a third
        // more memory traffic); the exponentials then go to a row of scratch.
        // Same bits either way.
        let stream = streamingStores(bytes: 2 * count * n * MemoryLayout<T>.stride)
        parallelFor(count, work: count * n) { rows in
            streamingRange(stream, scratch: kind == .logSoftmax ? 0 : n, T.self) { streaming, scratch in
                // As softmax's rows: each row's bounds ride along the loop that
                // exponentiates the row before it (same bits).
                @inline(__always) func maskOf(_ r: Int) -> UnsafePointer<UInt8> { pattern ? mask : mask + r * n }
                var bounds = self.bounds(kind, x + rows.lowerBound * n, maskOf(rows.lowerBound), n)
                for r in rows {
                    let next = r + 1 < rows.upperBound ? (x + (r + 1) * n, maskOf(r + 1)) : nil
                    bounds = row(kind, x + r * n, maskOf(r), y + r * n, n, bounds: bounds, next: next,
                                 streaming: streaming, scratch: scratch)
                }
            }
        }
    }

    /// The bounds `row` starts from: the masked min/max, or the whole row's
    /// for `softmaxThenMask` (softmax over every position).
    @inlinable
    static func bounds(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ n: Int) -> (min: T, max: T) {
        kind == .softmaxThenMask ? rowMinMax(x, n) : maskedMinMax(x, mask, n)
    }

    /// One contiguous row: (masked) max, exp-sum, then a selecting store.
    @inlinable
    static func row(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>,
                    _ y: UnsafeMutablePointer<T>, _ n: Int) {
        _ = row(kind, x, mask, y, n, bounds: bounds(kind, x, mask, n), next: nil)
    }

    /// One row from its `bounds`; returns those of `next` (row and mask), taken
    /// in the exp-sum's loop, or junk when nil. With `streaming`, y is written
    /// by `rowStream` (softmax's exponentials go to `scratch`, n elements).
    @inlinable
    static func row(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>,
                    _ y: UnsafeMutablePointer<T>, _ n: Int, bounds: (min: T, max: T),
                    next: (UnsafePointer<T>, UnsafePointer<UInt8>)?,
                    streaming: Bool = false, scratch: UnsafeMutablePointer<T>? = nil) -> (min: T, max: T) {
        let fill: T = kind == .logSoftmax ? -.infinity : 0
        let (lo, m) = bounds
        let e = streaming && kind != .logSoftmax ? scratch! : y
        if kind == .softmaxThenMask {
            let r = rowExpSum(x, e, n, shift: m, scale: 1, lowest: lo, readable: 0, alongside: next?.0)
            selectStore(UnsafePointer(e), mask, y, n, shift: 0, scale: T(1 / r.sum), offset: 0, fill: 0, streaming: streaming)
            return r.next
        }
        if m == -.infinity && !(0..<n).contains(where: { mask[$0] != 0 }) {
            y.update(repeating: fill, count: n)
            return next.map { maskedMinMax($0.0, $0.1, n) } ?? bounds
        }
        if kind == .softmax {
            let r = maskedExpSum(x, mask, e, n, shift: m, lowest: lo, alongside: next)
            let f = T(1 / r.sum)
            if f.isFinite {
                // e holds exact zeros where the mask is 0, and 0 * f == 0:
                // the plain scale gives selectStore's bits without reading
                // the mask again (a NaN sum needs the select: 0 * NaN).
                rowScale(UnsafePointer(e), y, n, f, streaming: streaming)
            } else {
                selectStore(UnsafePointer(e), mask, y, n, shift: 0, scale: f, offset: 0, fill: 0, streaming: streaming)
            }
            return r.next
        } else {
            let r = maskedExpSum(x, mask, nil, n, shift: m, lowest: lo, alongside: next)
            selectStore(x, mask, y, n, shift: m, scale: 1, offset: T(T.libmLog(T(r.sum))), fill: -.infinity,
                        streaming: streaming)
            return r.next
        }
    }

    /// Smallest and largest selected elements (NaN ignored); `(+inf, -inf)`
    /// when nothing is selected or every selected element is NaN.
    @inlinable
    static func maskedMinMax(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ n: Int) -> (min: T, max: T) {
        let w = T.width
        let ninf = T.Vector(repeating: -.infinity), pinf = T.Vector(repeating: .infinity)
        var m0 = ninf, m1 = ninf, l0 = pinf, l1 = pinf
        var i = 0
        while i + 2 * w <= n {
            let a = vload(x + i), b = vload(x + i + w)
            let ma = mload(mask + i, T.self), mb = mload(mask + i + w, T.self)
            m0 = T.vmax(m0, T.vselect(ma, a, ninf)); m1 = T.vmax(m1, T.vselect(mb, b, ninf))
            l0 = T.vmin(l0, T.vselect(ma, a, pinf)); l1 = T.vmin(l1, T.vselect(mb, b, pinf))
            i += 2 * w
        }
        while i < n {
            let r = min(w, n - i)
            let a = r == w ? vload(x + i) : vloadPartial(x + i, r, fill: -.infinity)
            let ma = r == w ? mload(mask + i, T.self) : mloadPartial(mask + i, r, T.self)
            m0 = T.vmax(m0, T.vselect(ma, a, ninf))
            l0 = T.vmin(l0, T.vselect(ma, a, pinf))
            i += r
        }
        let hi = T.hmax(T.vmax(m0, m1))
        let lo = T.hmin(T.vmin(l0, l1))
        return (lo, hi)
    }

    /// `sum over selected j of exp(x_j - shift)` in double blocks, the exp
    /// routine chosen once from the selected range (as `rowExpSum`).
    /// Unselected lanes are exactly 0 (selected after the exp, so whatever
    /// they hold never matters). Stores the exponentials in `y` if given.
    /// With `next` (the following row and its mask), also that row's
    /// `maskedMinMax`, in the same loop (see `rowExpSum(alongside:)`).
    @inlinable
    static func maskedExpSum(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<T>?,
                             _ n: Int, shift: T, lowest: T, alongside next: (UnsafePointer<T>, UnsafePointer<UInt8>)?)
        -> (sum: Double, next: (min: T, max: T)) {
        if lowest - shift >= -T.expNormalLimit {
            return maskedExpSum(x, mask, y, n, shift: shift, next, NormalExp.self)
        }
        return maskedExpSum(x, mask, y, n, shift: shift, next, AnyExp.self)
    }

    @inlinable
    static func maskedExpSum<E: ExpKind>(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<T>?,
                                         _ n: Int, shift: T, _ nextRow: (UnsafePointer<T>, UnsafePointer<UInt8>)?,
                                         _: E.Type) -> (sum: Double, next: (min: T, max: T)) {
        let w = T.width
        #if SMK_SIMD256
        // 16 vector registers do not hold the exp's constants, the sums and
        // the next row's masked bounds: those take their own pass at the end.
        let next: (UnsafePointer<T>, UnsafePointer<UInt8>)? = nil
        #else
        let next = nextRow
        #endif
        let zero = T.Vector(repeating: 0), one = T.Vector(repeating: 1), vs = T.Vector(repeating: -shift)
        let ninf = T.Vector(repeating: -.infinity), pinf = T.Vector(repeating: .infinity)
        var m0 = ninf, m1 = ninf, l0 = pinf, l1 = pinf  // the next row's, as maskedMinMax keeps them
        var total = 0.0
        var i = 0
        while i + w <= n {
            let blockEnd = min(n, i + accumulationBlock)
            var s0 = zero, s1 = zero
            while i + 2 * w <= blockEnd {
                let e0 = T.vselect(mload(mask + i, T.self), E.exp(T.vmadd(vload(x + i), one, vs), T.self), zero)
                let e1 = T.vselect(mload(mask + i + w, T.self), E.exp(T.vmadd(vload(x + i + w), one, vs), T.self), zero)
                if let y { vstore(e0, y + i); vstore(e1, y + i + w) }
                if let nb = next {
                    // And a hint for the row after (never faults), as rowExpSum's.
                    smk_simd_prefetch(nb.0 + n + i); smk_simd_prefetch(nb.0 + n + i + w)
                    let a = vload(nb.0 + i), b = vload(nb.0 + i + w)
                    let ma = mload(nb.1 + i, T.self), mb = mload(nb.1 + i + w, T.self)
                    m0 = T.vmax(m0, T.vselect(ma, a, ninf)); m1 = T.vmax(m1, T.vselect(mb, b, ninf))
                    l0 = T.vmin(l0, T.vselect(ma, a, pinf)); l1 = T.vmin(l1, T.vselect(mb, b, pinf))
                }
                s0 += e0; s1 += e1
                i += 2 * w
            }
            if i + w <= blockEnd {
                let e0 = T.vselect(mload(mask + i, T.self), E.exp(T.vmadd(vload(x + i), one, vs), T.self), zero)
                if let y { vstore(e0, y + i) }
                if let nb = next {
                    let a = vload(nb.0 + i), ma = mload(nb.1 + i, T.self)
                    m0 = T.vmax(m0, T.vselect(ma, a, ninf)); l0 = T.vmin(l0, T.vselect(ma, a, pinf))
                }
                s0 += e0
                i += w
            }
            total += Double(T.hsum(s0 + s1))
        }
        if i < n {
            let r = n - i
            let e = T.vselect(mloadPartial(mask + i, r, T.self), E.exp(vloadPartial(x + i, r, fill: shift) + vs, T.self), zero)
            if let y { vstorePartial(e, y + i, r) }
            for k in 0..<r { total += Double(e[k]) }
            if let nb = next {
                let a = vloadPartial(nb.0 + i, r, fill: -.infinity), ma = mloadPartial(nb.1 + i, r, T.self)
                m0 = T.vmax(m0, T.vselect(ma, a, ninf)); l0 = T.vmin(l0, T.vselect(ma, a, pinf))
            }
        }
        #if SMK_SIMD256
        if let nextRow { return (total, maskedMinMax(nextRow.0, nextRow.1, n)) }
        #endif
        return (total, (T.hmin(T.vmin(l0, l1)), T.hmax(T.vmax(m0, m1))))
    }

    /// `y_j = mask_j ? (x_j - shift) * scale - offset : fill` (in place allowed).
    @inlinable
    static func selectStore(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<T>, _ n: Int,
                            shift: T, scale: T, offset: T, fill: T, streaming: Bool = false) {
        let vs = T.Vector(repeating: shift), vc = T.Vector(repeating: scale)
        let vo = T.Vector(repeating: offset), vf = T.Vector(repeating: fill)
        if streaming {
            // The unaligned ends through the same vector arithmetic, one lane used.
            rowStream(y, n, vector: { T.vselect(mload(mask + $0, T.self), (vload(x + $0) - vs) * vc - vo, vf) },
                      scalar: { mask[$0] != 0 ? ((T.Vector(repeating: x[$0]) - vs) * vc - vo)[0] : fill })
            return
        }
        // Explicit loops, not a closure per vector: a closure is not inlined and
        // costs a call per vector (measured with perf).
        let w = T.width
        var i = 0
        while i + w <= n {
            vstore(T.vselect(mload(mask + i, T.self), (vload(x + i) - vs) * vc - vo, vf), y + i)
            i += w
        }
        if i < n {
            let r = n - i
            let v = (vloadPartial(x + i, r, fill: 0) - vs) * vc - vo
            vstorePartial(T.vselect(mloadPartial(mask + i, r, T.self), v, vf), y + i, r)
        }
    }
}
