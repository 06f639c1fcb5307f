#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The other chunked kernels: the merge of partial top-k lists, masked
/// states and finishing passes, and a chunk's part of the cross-entropy.
/// With the chunked normalizer they let an engine that splits a row across
/// chunks do every merge and finishing step in the library.

/// Checks a mask of `count` bytes for extents `e`: the full `e.count` or an
/// `e.n` pattern shared by every fibre. Returns true for a pattern.
private func maskIsPattern(_ count: Int, _ e: Extents) throws(SoftmaxKitError) -> Bool {
    if count == e.count { return false }
    if count == e.n { return true }
    throw .shape("mask holds \(count) bytes; expected \(e.count) (the whole chunk) or \(e.n) (one pattern along n)")
}

/// Whether candidate `a` comes before `b` in the selection order: larger
/// first, NaN above every number, ties (and NaN against NaN) to the lower index.
@inline(__always)
private func ranksBefore<T: KernelScalar>(_ a: T, _ ai: Int64, _ b: T, _ bi: Int64) -> Bool {
    if a.isNaN { return b.isNaN ? ai < bi : true }
    if b.isNaN { return false }
    if a != b { return a > b }
    return ai < bi
}

/// Merges candidate lists into each fibre's top `k`: `values`/`indices`
/// hold `extents.count` candidates (typically the top-k of several chunks of
/// a row, concatenated along `n`), each index the candidate's position in
/// the whole row. The `k` first in the selection order (larger first, NaN
/// above every number, ties to the lower row index) go to `valuesOut` and
/// `indicesOut`, laid out `(outer, k, inner)`. Outputs must not overlap the
/// inputs or each other. Throws `.invalidArgument` (`k` outside `0...n`,
/// overlap) or `.shapeMismatch`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func mergeTopK<T: KernelScalar>(
    values: UnsafeBufferPointer<T>, indices: UnsafeBufferPointer<Int64>,
    intoValues valuesOut: UnsafeMutableBufferPointer<T>, indices indicesOut: UnsafeMutableBufferPointer<Int64>,
    extents e: Extents, k: Int
) throws(SoftmaxKitError) {
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n) (the candidates per fibre), got \(k)") }
    let outCount = e.outer &* k &* e.inner
    try checkCount("values", values.count, e.count)
    try checkCount("indices", indices.count, e.count)
    try checkCount("values_out", valuesOut.count, outCount)
    try checkCount("indices_out", indicesOut.count, outCount)
    guard outCount > 0 else { return }
    for (out, name) in [(UnsafeRawPointer(valuesOut.baseAddress), "values_out"),
                        (UnsafeRawPointer(indicesOut.baseAddress), "indices_out")] {
        let bytes = outCount * (name == "values_out" ? MemoryLayout<T>.stride : 8)
        try checkDisjoint(UnsafeRawPointer(values.baseAddress), e.count * MemoryLayout<T>.stride, out, bytes,
                          names: ("values", name))
        try checkDisjoint(UnsafeRawPointer(indices.baseAddress), e.count * 8, out, bytes, names: ("indices", name))
    }
    try checkDisjoint(UnsafeRawPointer(valuesOut.baseAddress), outCount * MemoryLayout<T>.stride,
                      UnsafeRawPointer(indicesOut.baseAddress), outCount * 8, names: ("values_out", "indices_out"))
    let vp = values.baseAddress!, ip = indices.baseAddress!
    var order = [Int](repeating: 0, count: e.n)
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            @inline(__always) func at(_ j: Int) -> Int { (o &* e.n &+ j) &* e.inner &+ i }
            // Selection of the k first by insertion into a sorted prefix:
            // candidate lists are short (parts * k).
            var kept = 0
            for j in 0..<e.n {
                let v = vp[at(j)], vi = ip[at(j)]
                if kept == k {
                    let last = order[k - 1]
                    if !ranksBefore(v, vi, vp[at(last)], ip[at(last)]) { continue }
                    kept -= 1
                }
                var p = kept
                while p > 0, ranksBefore(v, vi, vp[at(order[p - 1])], ip[at(order[p - 1])]) {
                    order[p] = order[p - 1]
                    p -= 1
                }
                order[p] = j
                kept += 1
            }
            for r in 0..<k {
                let dst = (o &* k &+ r) &* e.inner &+ i
                valuesOut[dst] = vp[at(order[r])]
                indicesOut[dst] = ip[at(order[r])]
            }
        }
    }
}

/// The partial state (as ``softmaxState(_:max:sum:extents:temperature:)``,
/// temperature 1) of each fibre of `x` over its selected positions: a
/// position takes part where `mask` is nonzero. `mask` holds `extents.count`
/// bytes or an `extents.n` pattern. A fibre with nothing selected is
/// `(-inf, 0)`; unselected values (NaN and inf included) are never read.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedSoftmaxState<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, mask: UnsafeBufferPointer<UInt8>, max: UnsafeMutableBufferPointer<Double>,
    sum: UnsafeMutableBufferPointer<Double>, extents e: Extents
) throws(SoftmaxKitError) {
    let r = e.reducedCount
    try checkCount("x", x.count, e.count)
    let pattern = try maskIsPattern(mask.count, e)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    guard r > 0 else { return }
    for (out, name) in [(max, "max"), (sum, "sum")] {
        try checkSeparate(out, name, from: x, "x")
        try checkSeparate(out, name, from: mask, "mask")
    }
    try checkDisjoint(UnsafeRawPointer(max.baseAddress), r * 8, UnsafeRawPointer(sum.baseAddress), r * 8,
                      names: ("max", "sum"))
    let xp = x.baseAddress, mk = mask.baseAddress
    if e.inner == 1, e.n > 0, let xp, let mk {
        MaskedChunkRows<T>.states(xp, mk, pattern: pattern, max.baseAddress!, sum.baseAddress!, rows: e.outer, n: e.n)
        return
    }
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            var m = -Double.infinity
            var nan = false
            for j in 0..<e.n {
                let k = (o &* e.n &+ j) &* e.inner &+ i
                if mk![pattern ? j : k] == 0 { continue }
                let v = Double(xp![k])
                if v.isNaN { nan = true; break }
                if v > m { m = v }
            }
            let f = o &* e.inner &+ i
            if nan { max[f] = .nan; sum[f] = .nan; continue }
            if m == -.infinity { max[f] = m; sum[f] = 0; continue }
            if m == .infinity { max[f] = m; sum[f] = .nan; continue }
            var s = 0.0
            for j in 0..<e.n {
                let k = (o &* e.n &+ j) &* e.inner &+ i
                if mk![pattern ? j : k] != 0 { s += exp(Double(xp![k]) - m) }
            }
            max[f] = m; sum[f] = s
        }
    }
}

/// A chunk's part of its fibres' masked softmax (or, with `log`, masked
/// log-softmax) from their merged states: selected positions as
/// ``softmaxFinish(_:max:sum:into:extents:temperature:log:)`` (temperature
/// 1), unselected ones exactly 0 (`-inf` with `log`) whatever `x` holds
/// there. `mask` as ``maskedSoftmaxState(_:mask:max:sum:extents:)``. With
/// states made over the selected positions this is ``maskedSoftmax``
/// (renormalized) or ``maskedLogSoftmax``; with states of the whole fibres,
/// the softmax-then-mask variant. `y` may equal `x` but not overlap it
/// otherwise, nor `mask`, `max` or `sum`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func maskedSoftmaxFinish<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, mask: UnsafeBufferPointer<UInt8>, max: UnsafeBufferPointer<Double>,
    sum: UnsafeBufferPointer<Double>, into y: UnsafeMutableBufferPointer<T>, extents e: Extents, log takeLog: Bool = false
) throws(SoftmaxKitError) {
    let r = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    let pattern = try maskIsPattern(mask.count, e)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    guard e.count > 0 else { return }
    try checkAliasing(x, y, count: e.count)
    try checkSeparate(y, "y", from: mask, "mask")
    try checkSeparate(y, "y", from: max, "max")
    try checkSeparate(y, "y", from: sum, "sum")
    let xp = x.baseAddress!, yp = y.baseAddress!, mk = mask.baseAddress!
    let off: T = takeLog ? -.infinity : 0
    if e.inner == 1 {
        MaskedChunkRows<T>.finish(xp, mk, pattern: pattern, max.baseAddress!, sum.baseAddress!, yp, rows: e.outer, n: e.n,
                                  log: takeLog)
        return
    }
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            let f = o &* e.inner &+ i
            let m = max[f], s = sum[f]
            let bad = m.isNaN || s.isNaN || m == -.infinity
            let shift = bad ? 0 : (takeLog ? log(s) : 1 / s)
            for j in 0..<e.n {
                let k = (o &* e.n &+ j) &* e.inner &+ i
                if mk[pattern ? j : k] == 0 { yp[k] = off; continue }
                if bad { yp[k] = .nan; continue }
                let z = Double(xp[k]) - m
                yp[k] = T(takeLog ? z - shift : exp(z) * shift)
            }
        }
    }
}

/// A chunk's part of each sample's cross-entropy (as
/// ``crossEntropy``'s `loss_r = (1 - e) w_t (-lsm_t) + (e / C) sum_c w_c (-lsm_c)`)
/// over classes `offset ..< offset + n` of `classes`, from the fibres'
/// merged states (temperature 1). Class-index targets (`target`, one per
/// fibre, each in `0..<classes` or `ignoreIndex`) when `probabilities` is
/// nil; probability targets (`probabilities`, the chunk's `extents.count`
/// values, `p' = (1 - e) p + e / C`, `loss_r = sum_c w_c p'_c (-lsm_c)`)
/// otherwise. `weight`: nil (all 1) or the chunk's `n` class weights.
/// `loss[f]` receives the part (an ignored sample's is 0); summed over the
/// chunks of a row it is the sample's loss. `targetWeight`, when given
/// (class-index targets only), receives `w_t` where the target falls in this
/// chunk and is not ignored, else 0: summed over every chunk and sample it is
/// the mean reduction's denominator.
/// Throws `.indexOutOfRange` (a target outside `0..<classes` that is not
/// `ignoreIndex`), `.invalidArgument` (label smoothing outside [0, 1],
/// `offset`/`classes` not holding the chunk, overlap) or `.shapeMismatch`.
/// Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func crossEntropyChunk<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, max: UnsafeBufferPointer<Double>, sum: UnsafeBufferPointer<Double>,
    target: UnsafeBufferPointer<Int64>?, probabilities: UnsafeBufferPointer<T>?, weight: UnsafeBufferPointer<T>?,
    into loss: UnsafeMutableBufferPointer<Double>, targetWeight: UnsafeMutableBufferPointer<Double>? = nil,
    extents e: Extents, offset: Int, classes: Int, ignoreIndex: Int64 = -100, labelSmoothing: Double = 0
) throws(SoftmaxKitError) {
    let r = e.reducedCount
    guard labelSmoothing >= 0, labelSmoothing <= 1 else {
        throw .invalid("label_smoothing must be in [0, 1], got \(labelSmoothing)")
    }
    guard offset >= 0, classes >= 0, offset <= classes, e.n <= classes &- offset else {
        throw .invalid("the chunk's classes \(offset)..<\(offset &+ e.n) are not inside 0..<\(classes)")
    }
    try checkCount("logits", x.count, e.count)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    try checkCount("loss", loss.count, r)
    if let target { try checkCount("target", target.count, r) }
    if let probabilities { try checkCount("target", probabilities.count, e.count) }
    guard (target == nil) != (probabilities == nil) else {
        throw .invalid("give class-index targets or probability targets, exactly one")
    }
    if let weight { try checkCount("weight", weight.count, e.n) }
    if let targetWeight { try checkCount("target_weight", targetWeight.count, r) }
    guard r > 0 else { return }
    for (out, name) in [(loss, "loss")] + (targetWeight.map { [($0, "target_weight")] } ?? []) {
        try checkSeparate(out, name, from: x, "logits")
        try checkSeparate(out, name, from: max, "max")
        try checkSeparate(out, name, from: sum, "sum")
        try checkSeparate(out, name, from: target, "target")
        try checkSeparate(out, name, from: probabilities, "target")
        try checkSeparate(out, name, from: weight, "weight")
    }
    if let targetWeight {
        try checkDisjoint(UnsafeRawPointer(loss.baseAddress), r * 8, UnsafeRawPointer(targetWeight.baseAddress), r * 8,
                          names: ("loss", "target_weight"))
    }
    if let target {
        for f in 0..<r {
            let t = target[f]
            if t != ignoreIndex, t < 0 || t >= Int64(classes) {
                throw SoftmaxKitError(.indexOutOfRange,
                                      "target \(t) is outside [0, \(classes)) and is not ignore_index (\(ignoreIndex))")
            }
        }
    }
    let eps = labelSmoothing, share = classes > 0 ? labelSmoothing / Double(classes) : 0
    let xp = x.baseAddress!
    if e.inner == 1 {
        // Contiguous rows: the bad-state test once a row, the sums over
        // classes in double vector blocks.
        let n = e.n, wp = weight?.baseAddress
        for f in 0..<e.outer {
            let m = max[f], s = sum[f]
            let bad = m.isNaN || m.isInfinite || s.isNaN
            let lse = bad ? Double.nan : m + log(s)
            let xo = xp + f &* n
            if let probabilities {
                loss[f] = n == 0 ? 0 : chunkNLSMSum(xo, probabilities.baseAddress! + f &* n, wp, n, lse: lse,
                                                    a: 1 - eps, b: share)
                targetWeight?[f] = 0
                continue
            }
            let t = target![f]
            if t == ignoreIndex { loss[f] = 0; targetWeight?[f] = 0; continue }
            var acc = 0.0
            let local = t - Int64(offset)
            if local >= 0, local < Int64(n) {
                let wt = wp.map { Double($0[Int(local)]) } ?? 1
                acc = (1 - eps) * wt * (lse - Double(xo[Int(local)]))
                targetWeight?[f] = wt
            } else {
                targetWeight?[f] = 0
            }
            if eps > 0, n > 0 { acc += share * chunkNLSMSum(xo, nil, wp, n, lse: lse, a: 0, b: 1) }
            loss[f] = acc
        }
        return
    }
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            let f = o &* e.inner &+ i
            let lse = max[f] + log(sum[f])
            @inline(__always) func at(_ j: Int) -> Int { (o &* e.n &+ j) &* e.inner &+ i }
            @inline(__always) func w(_ j: Int) -> Double { weight.map { Double($0[j]) } ?? 1 }
            // -lsm_c = lse - x_c; a bad state (NaN, +inf, all -inf) makes it NaN.
            @inline(__always) func nlsm(_ j: Int) -> Double {
                let m = max[f]
                if m.isNaN || m.isInfinite || sum[f].isNaN { return .nan }
                return lse - Double(xp[at(j)])
            }
            if let probabilities {
                var acc = 0.0
                for j in 0..<e.n {
                    let p = Double(probabilities[at(j)])
                    acc += w(j) * ((1 - eps) * p + share) * nlsm(j)
                }
                loss[f] = acc
                targetWeight?[f] = 0
                continue
            }
            let t = target![f]
            if t == ignoreIndex {
                loss[f] = 0
                targetWeight?[f] = 0
                continue
            }
            var acc = 0.0
            let local = t - Int64(offset)
            if local >= 0, local < Int64(e.n) {
                let wt = w(Int(local))
                acc = (1 - eps) * wt * nlsm(Int(local))
                targetWeight?[f] = wt
            } else {
                targetWeight?[f] = 0
            }
            if eps > 0 {
                var sm = 0.0
                for j in 0..<e.n { sm += w(j) * nlsm(j) }
                acc += share * sm
            }
            loss[f] = acc
        }
    }
}

/// `sum_j w_j (a p_j + b) (lse - x_j)` over a contiguous row of `n > 0`
/// (`w_j` 1 when `w` is nil, `p_j` 0 when `p` is nil), in double, four
/// lanes times two accumulators. `lse` NaN gives NaN.
@inline(__always)
private func chunkNLSMSum<T: KernelScalar>(_ x: UnsafePointer<T>, _ p: UnsafePointer<T>?, _ w: UnsafePointer<T>?,
                                          _ n: Int, lse: Double, a: Double, b: Double) -> Double {
    @inline(__always) func d4(_ q: UnsafePointer<T>, _ j: Int) -> SIMD4<Double> {
        SIMD4(Double(q[j]), Double(q[j + 1]), Double(q[j + 2]), Double(q[j + 3]))
    }
    let vl = SIMD4<Double>(repeating: lse), va = SIMD4<Double>(repeating: a), vb = SIMD4<Double>(repeating: b)
    @inline(__always) func term(_ j: Int) -> SIMD4<Double> {
        var c = p.map { va * d4($0, j) + vb } ?? vb
        if let w { c *= d4(w, j) }
        return c * (vl - d4(x, j))
    }
    var s0 = SIMD4<Double>(repeating: 0), s1 = s0
    var j = 0
    while j + 8 <= n {
        s0 += term(j)
        s1 += term(j + 4)
        j += 8
    }
    if j + 4 <= n { s0 += term(j); j += 4 }
    var acc = (s0 + s1).sum()
    while j < n {
        let c = (p.map { a * Double($0[j]) + b } ?? b) * (w.map { Double($0[j]) } ?? 1)
        acc += c * (lse - Double(x[j]))
        j += 1
    }
    return acc
}

/// The contiguous-row (`inner == 1`) paths of the masked state and finish:
/// the in-memory masked softmax's vector row loops (`maskedMinMax`,
/// `maskedExpSum`, `selectStore`) and `rowScale`, rows spread over the
/// library's threads. Exponentials in `T`, sums in `Double`, as the
/// in-memory kernels; the state conventions are the scalar path's.
enum MaskedChunkRows<T: KernelScalar> {
    static func states(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, pattern: Bool,
                       _ mp: UnsafeMutablePointer<Double>, _ sp: UnsafeMutablePointer<Double>, rows count: Int, n: Int) {
        parallelFor(count, work: count * n) { rows in
            for o in rows {
                let xo = x + o * n, mo = pattern ? mask : mask + o * n
                let (lo, m) = MaskedKernel<T>.maskedMinMax(xo, mo, n)
                // maskedMinMax ignores NaN: a non-finite max needs a look for a
                // selected one, a finite one shows it through the sum.
                if !m.isFinite {
                    if (0..<n).contains(where: { mo[$0] != 0 && xo[$0].isNaN }) { mp[o] = .nan; sp[o] = .nan }
                    else if m == -.infinity { mp[o] = -.infinity; sp[o] = 0 }
                    else { mp[o] = .infinity; sp[o] = .nan }
                    continue
                }
                let s = MaskedKernel<T>.maskedExpSum(xo, mo, nil, n, shift: m, lowest: lo, alongside: nil).sum
                if s.isNaN { mp[o] = .nan; sp[o] = .nan } else { mp[o] = Double(m); sp[o] = s }
            }
        }
    }

    static func finish(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, pattern: Bool,
                       _ mp: UnsafePointer<Double>, _ sp: UnsafePointer<Double>, _ y: UnsafeMutablePointer<T>,
                       rows count: Int, n: Int, log takeLog: Bool) {
        guard n > 0 else { return }
        let fill: T = takeLog ? -.infinity : 0
        parallelFor(count, work: count * n) { rows in
            for o in rows {
                let xo = x + o * n, yo = y + o * n, mo = pattern ? mask : mask + o * n
                let m = mp[o], s = sp[o]
                if m.isNaN || s.isNaN || m == -.infinity {
                    for j in 0..<n { yo[j] = mo[j] == 0 ? fill : .nan }
                    continue
                }
                if takeLog {
                    MaskedKernel<T>.selectStore(xo, mo, yo, n, shift: T(m), scale: 1, offset: T(log(s)), fill: fill)
                } else {
                    // Unselected lanes come out exactly 0, and stay 0 under a
                    // finite factor (a non-finite one needs the select).
                    _ = MaskedKernel<T>.maskedExpSum(xo, mo, yo, n, shift: T(m), lowest: -.infinity, alongside: nil)
                    let f = T(1 / s)
                    if f.isFinite {
                        rowScale(UnsafePointer(yo), yo, n, f)
                    } else {
                        MaskedKernel<T>.selectStore(UnsafePointer(yo), mo, yo, n, shift: 0, scale: f, offset: 0, fill: 0)
                    }
                }
            }
        }
    }
}
