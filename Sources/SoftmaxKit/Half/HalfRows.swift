import SoftmaxKitSIMD

/// Row kernels that read float16 / bfloat16 bits straight into float32
/// vector lanes (the C module's `smk_simd_load_f16` / `_bf16`: vcvtph2ps,
/// or a zero-extend and shift) and round results straight from float32
/// lanes into half bits: no float32 copy of the input is written. Each loop
/// mirrors its float32 counterpart in VectorMath.swift lane for lane (the
/// same vector width, accumulators, blocks and exp), so a half row gives the
/// bits the float32 kernel gives on the widened row.

/// How one half format's bits enter and leave float32 vectors.
@usableFromInline protocol HalfLanes {
    static var isBFloat16: Bool { get }
    static func load(_ p: UnsafePointer<UInt16>) -> Float.Vector
    static func store(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>)
    /// A non-temporal store; `p` aligned to `halfVectorBytes`.
    static func stream(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>)
}

@usableFromInline enum Binary16Lanes: HalfLanes {
    @inlinable @inline(__always) static var isBFloat16: Bool { false }
    @inlinable @inline(__always) static func load(_ p: UnsafePointer<UInt16>) -> Float.Vector { smk_simd_load_f16(p) }
    @inlinable @inline(__always) static func store(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>) { smk_simd_store_f16(v, p) }
    @inlinable @inline(__always) static func stream(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>) { smk_simd_stream_f16(v, p) }
}

@usableFromInline enum BFloat16Lanes: HalfLanes {
    @inlinable @inline(__always) static var isBFloat16: Bool { true }
    @inlinable @inline(__always) static func load(_ p: UnsafePointer<UInt16>) -> Float.Vector { smk_simd_load_bf16(p) }
    @inlinable @inline(__always) static func store(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>) { smk_simd_store_bf16(v, p) }
    @inlinable @inline(__always) static func stream(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>) { smk_simd_stream_bf16(v, p) }
}

extension HalfLanes {
    /// The first `count` elements at `p`, the other lanes `fill`.
    @inlinable @inline(__always)
    static func loadFirst(_ p: UnsafePointer<UInt16>, _ count: Int, fill: Float) -> Float.Vector {
        smk_simd_load_first_half(p, Int64(count), fill, isBFloat16 ? 1 : 0)
    }

    /// `count` elements at `src` widened into `dst`.
    @inlinable @inline(__always)
    static func widen(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        if isBFloat16 { smk_bf16_widen(src, dst, count) } else { smk_f16_widen(src, dst, count) }
    }

    /// `count` floats at `src` rounded into `dst`.
    @inlinable @inline(__always)
    static func narrow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ count: Int) {
        if isBFloat16 { smk_bf16_narrow(src, dst, count) } else { smk_f16_narrow(src, dst, count) }
    }

    @inlinable @inline(__always)
    static func storeFirst(_ v: Float.Vector, _ p: UnsafeMutablePointer<UInt16>, _ count: Int) {
        smk_simd_store_first_half(v, p, Int64(count), isBFloat16 ? 1 : 0)
    }
}

/// Bytes of one vector of half bits (a streamed store's alignment).
@usableFromInline let halfVectorBytes = MemoryLayout<Float.Vector>.size / 2

/// `rowLaneBounds` of a half row.
@inlinable
func halfLaneBounds<H: HalfLanes>(_ x: UnsafePointer<UInt16>, _ n: Int, _: H.Type) -> LaneBounds<Float> {
    let w = Float.width
    var b = LaneBounds<Float>()
    var i = 0
    while i + 2 * w <= n {
        let a = H.load(x + i), c = H.load(x + i + w)
        b.max0 = Float.vmax(b.max0, a); b.max1 = Float.vmax(b.max1, c)
        b.min0 = Float.vmin(b.min0, a); b.min1 = Float.vmin(b.min1, c)
        i += 2 * w
    }
    if i + w <= n {
        let a = H.load(x + i)
        b.max0 = Float.vmax(b.max0, a); b.min0 = Float.vmin(b.min0, a)
        i += w
    }
    if i < n {
        let r = n - i
        b.max1 = Float.vmax(b.max1, H.loadFirst(x + i, r, fill: -.infinity))
        b.min1 = Float.vmin(b.min1, H.loadFirst(x + i, r, fill: .infinity))
    }
    return b
}

/// `rowExpSum(lanesOf:)` of a half row: `sum exp((x - shift) * scale)` in
/// blocks into a Double, each exponential stored (float32) in `e` when
/// given, and the lane bounds of `next` (the following row, `n` halves)
/// taken in the same loop.
@inlinable
func halfExpSum<H: HalfLanes>(
    _ x: UnsafePointer<UInt16>, _ e: UnsafeMutablePointer<Float>?, _ n: Int, shift: Float, scale: Float,
    lowest: Float, next: UnsafePointer<UInt16>?, _: H.Type
) -> (sum: Double, next: LaneBounds<Float>) {
    var none = NoCandidates<Float>()
    return halfExpSum(x, e, n, shift: shift, scale: scale, lowest: lowest, next: next, candidates: &none, H.self)
}

/// `halfExpSum` that also offers every vector it reads to `sink` (as
/// `rowExpSum(candidates:)`: softmax + top-k collects its candidates there).
@inlinable
func halfExpSum<H: HalfLanes, K: CandidateSink>(
    _ x: UnsafePointer<UInt16>, _ e: UnsafeMutablePointer<Float>?, _ n: Int, shift: Float, scale: Float,
    lowest: Float, next: UnsafePointer<UInt16>?, candidates sink: inout K, _: H.Type
) -> (sum: Double, next: LaneBounds<Float>) where K.Scalar == Float {
    let normal = (lowest - shift) * scale >= -Float.expNormalLimit
    switch (normal, scale == 1) {
    case (true, true): return halfExpSum(x, e, n, shift: shift, scale: scale, next, H.self, NormalExp.self, UnitScale.self, &sink)
    case (true, false): return halfExpSum(x, e, n, shift: shift, scale: scale, next, H.self, NormalExp.self, AnyScale.self, &sink)
    case (false, true): return halfExpSum(x, e, n, shift: shift, scale: scale, next, H.self, AnyExp.self, UnitScale.self, &sink)
    case (false, false): return halfExpSum(x, e, n, shift: shift, scale: scale, next, H.self, AnyExp.self, AnyScale.self, &sink)
    }
}

@inlinable
func halfExpSum<H: HalfLanes, E: ExpKind, S: ExpScale, K: CandidateSink>(
    _ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<Float>?, _ n: Int, shift: Float, scale: Float,
    _ next: UnsafePointer<UInt16>?, _: H.Type, _: E.Type, _: S.Type, _ sink: inout K
) -> (sum: Double, next: LaneBounds<Float>) where K.Scalar == Float {
    typealias T = Float
    let w = T.width
    let vscale = T.Vector(repeating: scale), vshift = T.Vector(repeating: shift)
    var total = 0.0
    var m0 = T.Vector(repeating: -.infinity), m1 = m0
    var l0 = T.Vector(repeating: .infinity), l1 = l0
    var i = 0
    while i + w <= n {
        let blockEnd = min(n, i + accumulationBlock)
        var s0 = T.Vector(repeating: 0), s1 = s0
        while i + 2 * w <= blockEnd {
            let x0 = H.load(x + i), x1 = H.load(x + i + w)
            sink.offer(x0, lanes: w, base: i); sink.offer(x1, lanes: w, base: i + w)
            let e0 = E.exp(S.apply(x0 - vshift, vscale), T.self)
            let e1 = E.exp(S.apply(x1 - vshift, vscale), T.self)
            if let y { vstore(e0, y + i); vstore(e1, y + i + w) }
            if let next {
                // Two vectors of halves are one cache line: one hint for the row after.
                smk_simd_prefetch(next + n + i)
                let a = H.load(next + i), b = H.load(next + i + w)
                m0 = T.vmax(m0, a); m1 = T.vmax(m1, b)
                l0 = T.vmin(l0, a); l1 = T.vmin(l1, b)
            }
            s0 += e0; s1 += e1
            i += 2 * w
        }
        while i + w <= blockEnd {
            let x0 = H.load(x + i)
            sink.offer(x0, lanes: w, base: i)
            let e0 = E.exp(S.apply(x0 - vshift, vscale), T.self)
            if let y { vstore(e0, y + i) }
            if let next {
                let a = H.load(next + i)
                m0 = T.vmax(m0, a); l0 = T.vmin(l0, a)
            }
            s0 += e0
            i += w
        }
        total += Double(T.hsum(s0 + s1))
    }
    if i < n {
        let r = n - i
        let xt = H.loadFirst(x + i, r, fill: shift)
        sink.offer(xt, lanes: r, base: i)
        let e = T.vkeepFirst(E.exp(S.apply(xt - vshift, vscale), T.self), r, fill: 0)
        if let y { vstorePartial(e, y + i, r) }
        total += Double(T.hsum(e))
        if let next {
            m1 = T.vmax(m1, H.loadFirst(next + i, r, fill: -.infinity))
            l1 = T.vmin(l1, H.loadFirst(next + i, r, fill: .infinity))
        }
    }
    var b = LaneBounds<T>()
    (b.max0, b.max1, b.min0, b.min1) = (m0, m1, l0, l1)
    return (total, b)
}

/// Whether a row at `y` is written with streaming stores (aligned to a
/// half vector; a row whose start is not takes plain stores).
@inlinable @inline(__always)
func halfStreams(_ y: UnsafeMutablePointer<UInt16>, _ streaming: Bool) -> Bool {
    streaming && UInt(bitPattern: y) % UInt(halfVectorBytes) == 0
}

/// Softmax's last pass: `y = half(e * factor)` over `n` elements (`e`: the
/// row's exponentials, float32 scratch).
@inlinable
func halfScaleWrite<H: HalfLanes>(_ e: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, _ n: Int,
                                  _ factor: Float, streaming: Bool, _: H.Type) {
    let w = Float.width, f = Float.Vector(repeating: factor)
    var i = 0
    if halfStreams(y, streaming) {
        while i + w <= n { H.stream(vload(e + i) * f, y + i); i += w }
    } else {
        while i + 2 * w <= n {
            H.store(vload(e + i) * f, y + i); H.store(vload(e + i + w) * f, y + i + w)
            i += 2 * w
        }
        while i + w <= n { H.store(vload(e + i) * f, y + i); i += w }
    }
    if i < n { H.storeFirst(vloadPartial(e + i, n - i, fill: 0) * f, y + i, n - i) }
}

/// Log-softmax's last pass: `y = half((x - shift) * scale - offset)` over
/// `n` elements, `x` read as half (in place allowed).
@inlinable
func halfShiftWrite<H: HalfLanes>(_ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<UInt16>, _ n: Int,
                                  shift: Float, scale: Float, offset: Float, streaming: Bool, _: H.Type) {
    let w = Float.width
    let vm = Float.Vector(repeating: shift), vs = Float.Vector(repeating: scale), vo = Float.Vector(repeating: offset)
    var i = 0
    if halfStreams(y, streaming) {
        while i + w <= n { H.stream((H.load(x + i) - vm) * vs - vo, y + i); i += w }
    } else {
        while i + 2 * w <= n {
            let a = H.load(x + i), b = H.load(x + i + w)
            H.store((a - vm) * vs - vo, y + i); H.store((b - vm) * vs - vo, y + i + w)
            i += 2 * w
        }
        while i + w <= n { H.store((H.load(x + i) - vm) * vs - vo, y + i); i += w }
    }
    if i < n { H.storeFirst((H.loadFirst(x + i, n - i, fill: 0) - vm) * vs - vo, y + i, n - i) }
}

/// Softmax (`logSoftmax == false`) or log-softmax of `rows` contiguous half
/// rows of `n > 0` elements from `x` into `y` (`y` may be `x`: a row is read
/// whole, and the next row's bounds taken, before the row is written). The
/// bits the float32 kernels give on the widened rows, rounded once. Each
/// thread's row of float32 scratch is allocated before anything is written.
func halfNormalizeRows<H: HalfLanes>(_ logSoftmax: Bool, _ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<UInt16>,
                                     rows count: Int, n: Int, invT: Float, _: H.Type) throws(SoftmaxKitError) {
    // Larger than the cache: y goes out with streaming stores (see streamingStores).
    let stream = streamingStores(bytes: 2 * count * n * MemoryLayout<UInt16>.stride)
    let threads = plannedThreads(count, work: count * n)
    guard let total = elementCount(n, threads) else { throw .overflow("half-precision row scratch overflows") }
    let scratch = try allocate(Float.self, total, for: "half-precision row scratch")
    defer { scratch.deallocate() }
    parallelFor(threads, work: threads < 2 ? 0 : parallelThreshold) { ts in
        for t in ts {
            let tmp = scratch + t * n
            let rows = (count * t / threads)..<(count * (t + 1) / threads)
            guard !rows.isEmpty else { continue }
            var bounds = halfLaneBounds(x + rows.lowerBound * n, n, H.self).bounds
            for o in rows {
                let xo = x + o * n, yo = y + o * n
                let next = o + 1 < rows.upperBound ? xo + n : nil
                let (lo, m) = bounds
                if logSoftmax {
                    let r = halfExpSum(xo, nil, n, shift: m, scale: invT, lowest: lo, next: next, H.self)
                    bounds = r.next.bounds
                    var offset = Double.libmLog(r.sum)
                    if r.sum < 2 {
                        // Log-probabilities near 0: the sum again in double with
                        // the maximum's exact 1 left out (see halfLogFibres).
                        _ = halfExpSum(xo, tmp, n, shift: m, scale: invT, lowest: lo, next: nil, H.self)
                        let k = halfFirstMaximum(xo, n, m, H.self)
                        offset = Double.libmLog1p(halfDoubleSum(tmp, n) - Double(tmp[k]))
                    }
                    halfShiftWrite(xo, yo, n, shift: m, scale: invT, offset: Float(offset), streaming: stream, H.self)
                } else {
                    let r = halfExpSum(xo, tmp, n, shift: m, scale: invT, lowest: lo, next: next, H.self)
                    bounds = r.next.bounds
                    halfScaleWrite(tmp, yo, n, Float(1 / r.sum), streaming: stream, H.self)
                }
            }
            if stream { endStreaming() }
        }
    }
}

/// `log(sum exp(x))` of each of `rows` contiguous half rows of `n > 0`
/// (for the losses): `m + log(s)` in double, as `CrossEntropyRow.normalizer`
/// on the widened row.
@inlinable
func halfRowLogNormalizer<H: HalfLanes>(_ x: UnsafePointer<UInt16>, _ n: Int, _: H.Type) -> Double {
    let (lo, m) = halfLaneBounds(x, n, H.self).bounds
    let s = halfExpSum(x, nil, n, shift: m, scale: 1, lowest: lo, next: nil, H.self).sum
    return Double(m) + Double.libmLog(s)
}

/// Rows at least this long take the half row kernels; shorter ones the
/// widening adapter (`HalfBlocks`) and the float32 short-row kernels.
let halfRowsMinimum = 4 * Float.width

/// Softmax + top-k of `rows` contiguous half rows of `n` elements
/// (`0 < k <= 2w`, `n` within Int32): as `pipelinedSoftmaxTopK`, each row's
/// lane floor from the bounds the row before took, one exp-sum over the half
/// row (shift: the row's max) collecting the elements at or above the floor
/// and taking the next row's bounds, then the rank of the candidates and
/// their probabilities, rounded once into `probs`. Rows the candidates do
/// not settle (NaN, ties past the buffer, no number above -inf) are widened
/// into a row of scratch and selected by the float32 kernels.
func halfSoftmaxTopKRows<H: HalfLanes>(_ x: UnsafePointer<UInt16>, rows count: Int, n: Int, k: Int, invT: Float,
                                       _ probs: UnsafeMutablePointer<UInt16>, _ indices: UnsafeMutablePointer<Int>,
                                       _: H.Type) throws(SoftmaxKitError) {
    let threads = plannedThreads(count, work: count * n), per = n + k
    guard let total = elementCount(per, threads) else { throw .overflow("half-precision row scratch overflows") }
    let scratch = try allocate(Float.self, total, for: "half-precision row scratch")
    defer { scratch.deallocate() }
    let capacity = TopKCandidates<Float>.capacity
    parallelFor(threads, work: threads < 2 ? 0 : parallelThreshold) { ts in
        for t in ts {
            let wide = scratch + t * per, vals = wide + n
            let rows = (count * t / threads)..<(count * (t + 1) / threads)
            guard !rows.isEmpty else { continue }
            withTopKScratch(Float.self) { raw in
                let c = TopKCandidates<Float>(raw)
                var lanes = halfLaneBounds(x + rows.lowerBound * n, n, H.self)
                for r in rows {
                    let xo = x + r * n, next = r + 1 < rows.upperBound ? xo + n : nil, idx = indices + r * k
                    let f = laneFloor(lanes, k)
                    if f.hi == -.infinity {
                        // No number above -inf (all -inf, or NaN among them): the float32 row kernel.
                        H.widen(xo, wide, n)
                        rowSoftmaxTopK(wide, n, k, invT, vals, idx)
                        if let next { lanes = halfLaneBounds(next, n, H.self) }
                    } else {
                        let e = n >= sparseCollectVectors * Float.width
                            ? halfTopKSweep(xo, n, f, invT, next, c.positions, H.self, SparseCollect.self)
                            : halfTopKSweep(xo, n, f, invT, next, c.positions, H.self, DenseCollect.self)
                        for j in 0 ..< min(e.count, capacity) {
                            c.values[j] = H.loadFirst(xo + Int(c.positions[j]), 1, fill: 0)[0]
                        }
                        if next != nil { lanes = e.next }
                        if !rankCandidates(c.values, c.positions, e.count, held: 0, k: k, vals, idx,
                                           room: capacity, open: f.floor == -.infinity) {
                            H.widen(xo, wide, n)
                            _ = admitRange(wide, 0, n, k, vals, idx, 0, floor: f.floor)
                        }
                        topKProbabilities(vals, k, bigM: f.hi, total: e.sum, invT)
                    }
                    H.narrow(vals, probs + r * k, k)
                }
            }
        }
    }
}

/// A top-k row's exp-sum (shift: the row's max) collecting the positions of
/// the elements at or above the floor into `positions` (the count may pass
/// the capacity: see `FloorCandidates`), with the next row's lane bounds.
@inlinable
func halfTopKSweep<H: HalfLanes, M: CollectMode>(
    _ x: UnsafePointer<UInt16>, _ n: Int, _ f: (lo: Float, hi: Float, floor: Float), _ invT: Float,
    _ next: UnsafePointer<UInt16>?, _ positions: UnsafeMutablePointer<Int32>, _: H.Type, _: M.Type
) -> (sum: Double, next: LaneBounds<Float>, count: Int) {
    var sink = FloorCandidates<Float, M>(floor: f.floor, positions: positions, capacity: TopKCandidates<Float>.capacity)
    let e = halfExpSum(x, nil, n, shift: f.hi, scale: invT, lowest: f.lo, next: next, candidates: &sink, H.self)
    return (e.sum, e.next, sink.count)
}

/// Per-sample cross-entropy losses of `samples` contiguous half rows of
/// `classes` logits against class-index targets (no label smoothing, no
/// gradient): `w_t (log Z - x_t)` rounded to float32, 0 for ignore_index
/// (as the float32 kernel on the widened rows).
func halfCrossEntropyRows<H: HalfLanes>(_ x: UnsafePointer<UInt16>, _ targets: UnsafePointer<Int>,
                                        _ weight: UnsafePointer<Float>?, ignoreIndex: Int,
                                        _ loss: UnsafeMutablePointer<Float>, samples: Int, classes: Int, _: H.Type) {
    parallelFor(samples, work: samples * classes) { range in
        for r in range {
            let t = targets[r]
            guard t != ignoreIndex else { loss[r] = 0; continue }
            let row = x + r * classes
            let xt = H.loadFirst(row + t, 1, fill: 0)[0]
            let wt = weight.map { Double($0[t]) } ?? 1
            loss[r] = Float(wt * (halfRowLogNormalizer(row, classes, H.self) - Double(xt)))
        }
    }
}

/// The first position of `m`, the maximum of a half row holding no NaN, a
/// vector compare at a time (0 if absent).
@inlinable
func halfFirstMaximum<H: HalfLanes>(_ x: UnsafePointer<UInt16>, _ n: Int, _ m: Float, _: H.Type) -> Int {
    let w = Float.width, below = m.nextDown  // lanes above it are m
    var i = 0
    while i + w <= n {
        let bits = Float.vranksAboveBits(H.load(x + i), below)
        if bits != 0 { return i + bits.trailingZeroBitCount }
        i += w
    }
    if i < n {
        let bits = Float.vranksAboveBits(H.loadFirst(x + i, n - i, fill: -.infinity), below)
        if bits != 0 { return i + bits.trailingZeroBitCount }
    }
    return 0
}
