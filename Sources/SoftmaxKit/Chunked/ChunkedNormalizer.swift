#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax over a reduction axis split into chunks: the online normalizer's
/// partial state of each chunk, the exact merge of states, and the finishing
/// pass that writes a chunk's softmax, log-softmax or logsumexp from its
/// rows' merged state. No step needs a whole row in memory.
///
/// The state of a fibre (over its `n` extent) is a pair of doubles
///   m = max_j x_j,   s = sum_j exp((x_j - m) / T)
/// with these conventions, which the merge keeps:
///   - an empty or all `-inf` fibre is `(-inf, 0)`;
///   - a fibre holding NaN is `(NaN, NaN)`;
///   - a fibre holding `+inf` (and no NaN) is `(+inf, NaN)`.
/// Two states merge as `(m, s1 e^((m1 - m)/T) + s2 e^((m2 - m)/T))`,
/// `m = max(m1, m2)`, a state with `m_i = -inf` contributing 0. The finishing
/// pass gives `exp((x - m)/T) / s`, `(x - m)/T - log s` and `m + log s`
/// (`+inf` for a `+inf` state), so a fibre split in any number of chunks
/// gets what the whole-row kernels give, up to the rounding of the sum's
/// order (the edge cases agree exactly).

@inline(__always)
private func fibreIndex(_ o: Int, _ i: Int, _ inner: Int) -> Int { o &* inner &+ i }

/// The partial state of each `(outer, inner)` fibre of `x` over `n`.
/// `max` and `sum` hold `outer * inner` values and must not overlap `x` or
/// each other. Throws `.invalidArgument` (temperature, overlap) or
/// `.shapeMismatch` (short buffers); nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmaxState<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, max: UnsafeMutableBufferPointer<Double>,
    sum: UnsafeMutableBufferPointer<Double>, extents e: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    let r = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    guard r > 0 else { return }
    try checkSeparate(max, "max", from: x, "x")
    try checkSeparate(sum, "sum", from: x, "x")
    try checkDisjoint(UnsafeRawPointer(max.baseAddress), r * 8, UnsafeRawPointer(sum.baseAddress), r * 8,
                      names: ("max", "sum"))
    let inv = 1 / Double(temperature)
    let xp = x.baseAddress, mp = max.baseAddress!, sp = sum.baseAddress!
    if e.inner == 1, e.n > 0, let xp {
        ChunkedRows<T>.states(xp, mp, sp, rows: e.outer, n: e.n, invT: 1 / temperature)
        return
    }
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            var m = -Double.infinity
            var nan = false
            for j in 0..<e.n {
                let v = Double(xp![(o &* e.n &+ j) &* e.inner &+ i])
                if v.isNaN { nan = true; break }
                if v > m { m = v }
            }
            let f = fibreIndex(o, i, e.inner)
            if nan { mp[f] = .nan; sp[f] = .nan; continue }
            if m == -.infinity { mp[f] = m; sp[f] = 0; continue }
            if m == .infinity { mp[f] = m; sp[f] = .nan; continue }
            var s = 0.0
            for j in 0..<e.n {
                let v = Double(xp![(o &* e.n &+ j) &* e.inner &+ i])
                s += exp((v - m) * inv)
            }
            mp[f] = m; sp[f] = s
        }
    }
}

/// Merges `parts` states per fibre: `maxIn`/`sumIn` hold `parts * count`
/// values, part-major (part `p`'s fibre `f` at `p * count + f`); the merged
/// state of fibre `f` goes to `maxOut[f]`, `sumOut[f]`. Parts are folded in
/// order. Outputs must not overlap the inputs or each other.
/// Throws `.invalidArgument` (temperature, `parts < 1`, overlap) or
/// `.shapeMismatch`.
public func mergeSoftmaxStates(
    max maxIn: UnsafeBufferPointer<Double>, sum sumIn: UnsafeBufferPointer<Double>,
    parts: Int, count: Int, intoMax maxOut: UnsafeMutableBufferPointer<Double>,
    sum sumOut: UnsafeMutableBufferPointer<Double>, temperature: Double = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    guard parts >= 1 else { throw .invalid("parts must be >= 1, got \(parts)") }
    guard count >= 0 else { throw .invalid("count must be non-negative, got \(count)") }
    guard let total = elementCount(parts, count) else { throw .overflow("parts * count overflows 64 bits") }
    try checkCount("max_in", maxIn.count, total)
    try checkCount("sum_in", sumIn.count, total)
    try checkCount("max_out", maxOut.count, count)
    try checkCount("sum_out", sumOut.count, count)
    guard count > 0 else { return }
    for (out, name) in [(maxOut, "max_out"), (sumOut, "sum_out")] {
        try checkSeparate(out, name, from: maxIn, "max_in")
        try checkSeparate(out, name, from: sumIn, "sum_in")
    }
    try checkDisjoint(UnsafeRawPointer(maxOut.baseAddress), count * 8, UnsafeRawPointer(sumOut.baseAddress), count * 8,
                      names: ("max_out", "sum_out"))
    let inv = 1 / temperature
    let mi = maxIn.baseAddress!, si = sumIn.baseAddress!
    for f in 0..<count {
        var m = -Double.infinity
        var nan = false
        for p in 0..<parts {
            let v = mi[p &* count &+ f]
            if v.isNaN || si[p &* count &+ f].isNaN && v != .infinity { nan = true; break }
            if v > m { m = v }
        }
        if nan { maxOut[f] = .nan; sumOut[f] = .nan; continue }
        if m == -.infinity { maxOut[f] = m; sumOut[f] = 0; continue }
        if m == .infinity { maxOut[f] = m; sumOut[f] = .nan; continue }
        var s = 0.0
        for p in 0..<parts {
            let v = mi[p &* count &+ f]
            if v == -.infinity { continue }
            s += si[p &* count &+ f] * exp((v - m) * inv)
        }
        maxOut[f] = m; sumOut[f] = s
    }
}

/// Writes the softmax (or, with `log`, the log-softmax) of a chunk `x` from
/// its fibres' merged states: `exp((x - m)/T) / s` or `(x - m)/T - log s`.
/// `max`/`sum` hold `outer * inner` states. `y` may equal `x` (in place) but
/// not overlap it otherwise, and must not overlap `max` or `sum`.
/// Throws `.invalidArgument` or `.shapeMismatch`; nothing written then.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmaxFinish<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, max: UnsafeBufferPointer<Double>, sum: UnsafeBufferPointer<Double>,
    into y: UnsafeMutableBufferPointer<T>, extents e: Extents, temperature: T = 1, log takeLog: Bool = false
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    let r = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    guard e.count > 0 else { return }
    try checkAliasing(x, y, count: e.count)
    try checkSeparate(y, "y", from: max, "max")
    try checkSeparate(y, "y", from: sum, "sum")
    let inv = 1 / Double(temperature)
    let xp = x.baseAddress!, yp = y.baseAddress!
    if e.inner == 1 {
        ChunkedRows<T>.finish(xp, max.baseAddress!, sum.baseAddress!, yp, rows: e.outer, n: e.n,
                              invT: 1 / temperature, log: takeLog)
        return
    }
    for o in 0..<e.outer {
        for i in 0..<e.inner {
            let f = fibreIndex(o, i, e.inner)
            let m = max[f], s = sum[f]
            let bad = m.isNaN || s.isNaN || m == -.infinity
            let shift = bad ? 0 : (takeLog ? log(s) : 1 / s)
            for j in 0..<e.n {
                let k = (o &* e.n &+ j) &* e.inner &+ i
                if bad { yp[k] = .nan; continue }
                let z = (Double(xp[k]) - m) * inv
                yp[k] = T(takeLog ? z - shift : exp(z) * shift)
            }
        }
    }
}

/// `m + log s` per state, in `T`: the fibres' logsumexp (`+inf` for a
/// `+inf` state, `-inf` for an empty one, NaN for NaN). `y` (`count`
/// values) must not overlap `max` or `sum`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSumExpFinish<T: KernelScalar>(
    max: UnsafeBufferPointer<Double>, sum: UnsafeBufferPointer<Double>,
    into y: UnsafeMutableBufferPointer<T>, count: Int
) throws(SoftmaxKitError) {
    guard count >= 0 else { throw .invalid("count must be non-negative, got \(count)") }
    try checkCount("max", max.count, count)
    try checkCount("sum", sum.count, count)
    try checkCount("y", y.count, count)
    guard count > 0 else { return }
    try checkSeparate(y, "y", from: max, "max")
    try checkSeparate(y, "y", from: sum, "sum")
    for f in 0..<count {
        let m = max[f], s = sum[f]
        if m.isNaN { y[f] = .nan } else if m == .infinity { y[f] = .infinity } else if m == -.infinity { y[f] = -.infinity } else { y[f] = T(m + log(s)) }
    }
}

/// The contiguous-row (`inner == 1`) paths of the chunked normalizer: the
/// in-memory softmax's vector row loops (`rowMinMax`, `rowExpSum`,
/// `rowScale`, `rowShiftScaleOffset`), rows spread over the library's threads.
/// Exponentials are taken in `T` and summed in `Double`, as the in-memory
/// softmax does; the state conventions are the scalar path's.
enum ChunkedRows<T: KernelScalar> {
    static func states(_ x: UnsafePointer<T>, _ mp: UnsafeMutablePointer<Double>, _ sp: UnsafeMutablePointer<Double>,
                       rows count: Int, n: Int, invT: T) {
        parallelFor(count, work: count * n) { rows in
            for o in rows {
                let xo = x + o * n
                let avail = (count - o) * n
                let (lo, m) = rowMinMax(xo, n, readable: avail)
                // rowMinMax ignores NaN: a non-finite max needs a look for one,
                // a finite one shows a NaN through the sum.
                if !m.isFinite {
                    if (0..<n).contains(where: { xo[$0].isNaN }) { mp[o] = .nan; sp[o] = .nan }
                    else if m == -.infinity { mp[o] = -.infinity; sp[o] = 0 }
                    else { mp[o] = .infinity; sp[o] = .nan }
                    continue
                }
                let s = rowExpSum(xo, nil, n, shift: m, scale: invT, lowest: lo, readable: avail)
                if s.isNaN { mp[o] = .nan; sp[o] = .nan } else { mp[o] = Double(m); sp[o] = s }
            }
        }
    }

    static func finish(_ x: UnsafePointer<T>, _ mp: UnsafePointer<Double>, _ sp: UnsafePointer<Double>,
                       _ y: UnsafeMutablePointer<T>, rows count: Int, n: Int, invT: T, log takeLog: Bool) {
        guard n > 0 else { return }
        parallelFor(count, work: count * n) { rows in
            for o in rows {
                let xo = x + o * n, yo = y + o * n
                let m = mp[o], s = sp[o]
                if m.isNaN || s.isNaN || m == -.infinity {
                    for j in 0..<n { yo[j] = .nan }
                    continue
                }
                if takeLog {
                    rowShiftScaleOffset(xo, yo, n, shift: T(m), scale: invT, offset: T(log(s)))
                } else {
                    _ = rowExpSum(xo, yo, n, shift: T(m), scale: invT, readable: (count - o) * n)
                    rowScale(yo, yo, n, T(1 / s))
                }
            }
        }
    }
}
