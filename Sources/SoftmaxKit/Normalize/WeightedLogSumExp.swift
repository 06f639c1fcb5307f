/// Weighted logsumexp with its sign, as scipy.special.logsumexp(a, b=...,
/// return_sign=...): per fibre of `(outer, n, inner)`,
///
///   s = sum_j b_j * exp(x_j - m),   m = max { x_j : b_j != 0 }
///   y = m + log|s|,   sign = sign(s)  (+1, -1 or 0)
///
/// The weights are folded into the exp-sum's loop (one read of x and b).
/// A weight of 0 removes its element whatever its value (NaN and inf
/// included: a select, never a multiply), so the maximum runs over the
/// weighted elements only and a large unweighted value cannot underflow the
/// others. Edge cases: a zero total (every weight 0, every weighted element
/// `-inf`, an empty fibre, or cancelling weights) gives `-inf` with sign 0;
/// a NaN element or weight with nonzero weight gives NaN (sign NaN); `+inf`
/// elements (or infinite weights) give `+inf` with the sign of their weights,
/// NaN when those signs differ. Without a sign output, a negative total is
/// NaN (its logarithm is not real). Sums are accumulated in `Double` blocks.

// MARK: Public API

/// Weighted logsumexp of `x` with weights `b` (both `extents.count`
/// elements, the same layout) over the `n` extent into `y` (`outer * inner`
/// results); `sign`, when given, receives each total's sign (`outer * inner`).
/// With `sign` nil a negative total gives NaN.
/// - Throws: `.shapeMismatch` for buffers shorter than the extents need;
///   `.invalidArgument` when `y` or `sign` shares memory with `x`, `b` or
///   each other. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSumExp<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, weights b: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>,
    sign: UnsafeMutableBufferPointer<T>? = nil, extents e: Extents
) throws(SoftmaxKitError) {
    let outCount = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("b", b.count, e.count)
    try checkCount("y", y.count, outCount)
    if let sign { try checkCount("sign", sign.count, outCount) }
    guard outCount > 0 else { return }
    let xBytes = e.count * MemoryLayout<T>.stride, rBytes = outCount * MemoryLayout<T>.stride
    let yp = UnsafeRawPointer(y.baseAddress), sp = UnsafeRawPointer(sign?.baseAddress)
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), xBytes, yp, rBytes, names: ("x", "y"))
    try checkDisjoint(UnsafeRawPointer(b.baseAddress), xBytes, yp, rBytes, names: ("b", "y"))
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), xBytes, sp, rBytes, names: ("x", "sign"))
    try checkDisjoint(UnsafeRawPointer(b.baseAddress), xBytes, sp, rBytes, names: ("b", "sign"))
    try checkDisjoint(yp, rBytes, sp, rBytes, names: ("y", "sign"))
    WeightedLogSumExp<T>.run(x.baseAddress, b.baseAddress, y.baseAddress!, sign?.baseAddress, e)
}

/// Weighted logsumexp of an array viewed as `shape` (default: 1-D) over
/// `axis`, with weights `b` of the same shape. Returns the results (the shape
/// with `axis` removed) and their signs; negative totals are reported through
/// the sign (the value is `log|total|`).
public func logSumExp<T: KernelScalar>(
    _ x: [T], weights b: [T], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> (value: [T], sign: [T]) {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    guard b.count == x.count else { throw .shape("b holds \(b.count) elements but x holds \(x.count)") }
    var y = [T](repeating: 0, count: e.reducedCount), s = y
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try b.withUnsafeBufferPointer { (bb) throws(SoftmaxKitError) in
            try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
                try s.withUnsafeMutableBufferPointer { (sb) throws(SoftmaxKitError) in
                    try logSumExp(xb, weights: bb, into: yb, sign: sb, extents: e)
                }
            }
        }
    }
    return (y, s)
}

// MARK: Kernel

@usableFromInline
enum WeightedLogSumExp<T: KernelScalar> {
    /// Blocks of fibres in parallel: contiguous rows when `inner == 1`, else
    /// strips of up to `width` columns (vectors along the contiguous `inner`).
    @usableFromInline
    static func run(_ x: UnsafePointer<T>?, _ b: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>,
                    _ sign: UnsafeMutablePointer<T>?, _ e: Extents) {
        let n = e.n, inner = e.inner
        guard n > 0, let x, let b else {
            for r in 0..<e.reducedCount { y[r] = -.infinity; sign?[r] = 0 }
            return
        }
        if inner == 1 {
            parallelFor(e.outer, work: 2 * e.count) { rows in
                for o in rows {
                    let (m, s) = row(x + o * n, b + o * n, n)
                    finish(m, s, y + o, sign.map { $0 + o }, x + o * n, b + o * n, n, stride: 1)
                }
            }
            return
        }
        let w = T.width, strips = (inner + w - 1) / w
        parallelFor(e.outer * strips, work: 2 * e.count) { range in
            for k in range {
                let o = k / strips, c = (k % strips) * w
                strip(x + o * n * inner + c, b + o * n * inner + c, n, inner, lanes: min(w, inner - c),
                      y + o * inner + c, sign.map { $0 + o * inner + c })
            }
        }
    }

    /// The weighted maximum and the weighted exp-sum of one contiguous row.
    /// The sum is only meaningful when the maximum is finite.
    @inlinable
    static func row(_ x: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> (T, Double) {
        let w = T.width, c = WeightedLaneConstants<T>()
        var m0 = T.Vector(repeating: -.infinity), m1 = m0
        // The smallest element, weighted or not (NaN ignored): when it is
        // within the normal range of exp below the maximum, so is every
        // weighted exponent, and the sum takes the cheaper exp.
        var lo0 = T.Vector(repeating: .infinity), lo1 = lo0
        var i = 0
        while i + 2 * w <= n {
            let a0 = vload(x + i), a1 = vload(x + i + w)
            m0 = T.vmax(m0, weightedLanes(a0, vload(b + i), c))
            m1 = T.vmax(m1, weightedLanes(a1, vload(b + i + w), c))
            lo0 = T.vmin(lo0, a0); lo1 = T.vmin(lo1, a1)
            i += 2 * w
        }
        if i + w <= n {
            let a0 = vload(x + i)
            m0 = T.vmax(m0, weightedLanes(a0, vload(b + i), c)); lo0 = T.vmin(lo0, a0)
            i += w
        }
        if i < n {
            // Padding lanes: element +inf of weight 0, outside both bounds.
            let r = n - i, a1 = vloadPartial(x + i, r, fill: .infinity)
            m1 = T.vmax(m1, weightedLanes(a1, vloadPartial(b + i, r, fill: 0), c)); lo1 = T.vmin(lo1, a1)
        }
        let m = T.hmax(T.vmax(m0, m1))
        guard m.isFinite else { return (m, 0) }
        let shift = T.Vector(repeating: m)
        if T.hmin(T.vmin(lo0, lo1)) - m >= -T.expNormalLimit {
            return (m, rowSum(x, b, n, shift: shift, floor: T.Vector(repeating: -T.expNormalLimit), NormalExp.self))
        }
        return (m, rowSum(x, b, n, shift: shift, floor: T.Vector(repeating: -.infinity), AnyExp.self))
    }

    /// `sum_j b_j * exp(x_j - shift)` over one contiguous row, in blocks of
    /// `accumulationBlock` flushed into a `Double`. `shift` is the weighted
    /// maximum, so a weighted exponent lies in `[floor, 0]` (with `NormalExp`,
    /// every one is at or above `floor`; with `AnyExp` `floor` is `-inf`).
    /// Exponents are clamped into that range, which moves only elements of
    /// weight 0 (NaN, `+inf`, or above the weighted maximum) to a finite
    /// exponent: their weight then zeroes the term, with no select. One
    /// exponential in the loop, the row's last partial vector included: with
    /// several inlined copies the function outgrew what the optimizer inlines
    /// into, and each vector's exp became a call.
    @inlinable
    static func rowSum<E: ExpKind>(_ x: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int, shift: T.Vector,
                                   floor: T.Vector, _: E.Type) -> Double {
        let w = T.width, zero = T.Vector(repeating: 0)
        var total = 0.0, i = 0
        while i < n {
            let end = min(n, i + accumulationBlock)
            var s = T.Vector(repeating: 0)
            while i < end {
                let r = end - i
                let xv = r >= w ? vload(x + i) : vloadPartial(x + i, r, fill: 0)
                let bv = r >= w ? vload(b + i) : vloadPartial(b + i, r, fill: 0)
                s += bv * E.exp(T.vmin(zero, T.vmax(floor, xv - shift)), T.self)
                i += w
            }
            total += Double(T.hsum(s))
        }
        return total
    }

    /// Up to `width` adjacent fibres (columns `0..<lanes` of an `n x inner`
    /// block), each lane its own fibre, finished into `y[0..<lanes]`.
    @inlinable
    static func strip(_ x: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int, _ inner: Int, lanes: Int,
                      _ y: UnsafeMutablePointer<T>, _ sign: UnsafeMutablePointer<T>?) {
        let full = lanes == T.width, c = WeightedLaneConstants<T>()
        @inline(__always) func load(_ p: UnsafePointer<T>) -> T.Vector {
            full ? vload(p) : vloadPartial(p, lanes, fill: 0)
        }
        var mv = T.Vector(repeating: -.infinity), lo = T.Vector(repeating: .infinity)
        for j in 0..<n {
            let o = j * inner, a = load(x + o)
            mv = T.vmax(mv, weightedLanes(a, load(b + o), c)); lo = T.vmin(lo, a)
        }
        // Lanes whose maximum is not finite sum junk here and rescan in
        // finish. The cheaper exp when every lane's smallest element is
        // within its normal range below the lane's maximum (as in `row`).
        let normal = T.hmin(lo - mv) >= -T.expNormalLimit
        withUnsafeTemporaryAllocation(of: Double.self, capacity: T.width) { totals in
            for l in 0..<T.width { totals[l] = 0 }
            if normal {
                stripSum(x, b, n, inner, lanes: lanes, shift: mv, floor: T.Vector(repeating: -T.expNormalLimit),
                         NormalExp.self, into: totals.baseAddress!)
            } else {
                stripSum(x, b, n, inner, lanes: lanes, shift: mv, floor: T.Vector(repeating: -.infinity),
                         AnyExp.self, into: totals.baseAddress!)
            }
            for l in 0..<lanes {
                finish(mv[l], totals[l], y + l, sign.map { $0 + l }, x + l, b + l, n, stride: inner)
            }
        }
    }

    /// `totals[l] += sum_j b_jl * exp(x_jl - shift_l)` for the lanes `l <
    /// lanes` of an `n x inner` strip, in blocks of `accumulationBlock`
    /// (as `rowSum`, lane by lane).
    @inlinable
    static func stripSum<E: ExpKind>(_ x: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int, _ inner: Int, lanes: Int,
                                     shift: T.Vector, floor: T.Vector, _: E.Type,
                                     into totals: UnsafeMutablePointer<Double>) {
        let full = lanes == T.width, zero = T.Vector(repeating: 0)
        var j = 0
        while j < n {
            let end = min(n, j + accumulationBlock)
            var s = T.Vector(repeating: 0)
            while j < end {
                let o = j * inner
                let xv = full ? vload(x + o) : vloadPartial(x + o, lanes, fill: 0)
                let bv = full ? vload(b + o) : vloadPartial(b + o, lanes, fill: 0)
                s += bv * E.exp(T.vmin(zero, T.vmax(floor, xv - shift)), T.self)
                j += 1
            }
            for l in 0..<lanes { totals[l] += Double(s[l]) }
        }
    }

    /// `y = m + log|s|` and the sign. A fibre whose maximum is not finite
    /// is rescanned: NaN when a weighted element or a weight is NaN; else
    /// `-inf` (nothing weighted: total 0) or, for `+inf`, the direct sum of
    /// `b_j * exp(x_j)`, whose infinite terms decide `+inf`, `-inf` or NaN.
    @inlinable
    static func finish(_ m: T, _ s: Double, _ y: UnsafeMutablePointer<T>, _ sign: UnsafeMutablePointer<T>?,
                       _ x: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int, stride: Int) {
        var total = s
        if !m.isFinite {
            total = 0
            for j in 0..<n {
                let bj = Double(b[j * stride]), xj = Double(x[j * stride])
                if bj == 0 { continue }
                if bj.isNaN || xj.isNaN { total = .nan; break }
                if m > 0 { total += bj * Double.libmExp(xj) }
            }
        }
        if total.isNaN {
            y.pointee = .nan; sign?.pointee = .nan
            return
        }
        let magnitude: T = total == 0 ? -.infinity
            : m.isFinite ? m + T(Double.libmLog(abs(total))) : .infinity
        let sg: T = total > 0 ? 1 : total < 0 ? -1 : 0
        if let sign {
            y.pointee = magnitude; sign.pointee = sg
        } else {
            y.pointee = sg < 0 ? .nan : magnitude
        }
    }
}

/// The constants of `weightedLanes`, made once per call.
@usableFromInline
struct WeightedLaneConstants<T: KernelScalar> {
    @usableFromInline let big: T.Vector, one: T.Vector, largest: T.Vector, two: T.Vector
    @inlinable init() {
        big = T.Vector(repeating: T(sign: .plus, exponent: T.greatestFiniteMagnitude.exponent - 1, significand: 1))
        one = T.Vector(repeating: 1); largest = T.Vector(repeating: .greatestFiniteMagnitude); two = T.Vector(repeating: 2)
    }
}

/// `x` where the weight is nonzero, `-inf` where it is 0 (NaN and `+inf`
/// elements included), and `+inf` for a NaN element of nonzero weight (its
/// fibre's maximum is then `+inf`, whose finish rescans for NaN).
/// Arithmetic, not comparisons: generic `SIMD` comparisons compile to a loop
/// per lane (see `KernelScalar.vmax`). `e` is exactly 1 for a nonzero (or
/// NaN) weight and 0 for a zero one, since |b| scaled by
/// 2^(2 * (maxExponent - 1)) is >= 1 for every nonzero |b|, subnormals
/// included; `edge` is then `+inf` or `-inf`, and `vmin(edge, x)` keeps x
/// below `+inf` or turns the lane to `-inf`.
// Transparent: the optimizer kept these out of line (a call per vector)
// despite @inline(__always).
@_transparent @usableFromInline
func weightedLanes<T: KernelScalar>(_ xv: T.Vector, _ bv: T.Vector, _ c: WeightedLaneConstants<T>) -> T.Vector {
    let e = T.vmin(c.one, T.vabs(bv) * c.big * c.big)
    let edge = (e + e - c.one) * c.largest * c.two
    return T.vmin(edge, xv)
}
