#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A chunk's part of the cross-entropy gradient when the class axis is split
/// across chunks: with class-index targets t, weights w (all `classes` = C of
/// them, default 1), label smoothing e and the rows' merged states
/// `(max, sum)` over every class,
///   d loss_r / d x_c = (Q_r p_c - q_c) / divisor,
///   p_c = exp(x_c - max) / sum,  q_c = (e / C) w_c + (1 - e) w_t [c == t],
///   Q_r = sum_c q_c = (1 - e) w_t + (e / C) sum_c w_c,
/// the in-memory `crossEntropy` gradient restricted to classes
/// `offset ..< offset + n`; an ignored sample's row is 0. `divisor` is the
/// reduction's: the mean's denominator, or 1 for sum and none. A NaN,
/// +inf or all -inf state gives a NaN row. Arithmetic in Double, stored as `T`.
public func crossEntropyGradientChunk<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, max: UnsafeBufferPointer<Double>, sum: UnsafeBufferPointer<Double>,
    target: UnsafeBufferPointer<Int64>, weight: UnsafeBufferPointer<T>?, into gradient: UnsafeMutableBufferPointer<T>,
    extents e: Extents, offset: Int, classes: Int, ignoreIndex: Int64 = -100, labelSmoothing: Double = 0,
    divisor: Double = 1
) throws(SoftmaxKitError) {
    let r = e.reducedCount
    guard labelSmoothing >= 0, labelSmoothing <= 1 else {
        throw .invalid("label_smoothing must be in [0, 1], got \(labelSmoothing)")
    }
    guard !divisor.isNaN, divisor != 0 else { throw .invalid("divisor must be a nonzero number, got \(divisor)") }
    guard offset >= 0, classes >= 0, offset <= classes, e.n <= classes &- offset else {
        throw .invalid("the chunk's classes \(offset)..<\(offset &+ e.n) are not inside 0..<\(classes)")
    }
    try checkCount("logits", x.count, e.count)
    try checkCount("max", max.count, r)
    try checkCount("sum", sum.count, r)
    try checkCount("target", target.count, r)
    try checkCount("gradient", gradient.count, e.count)
    if let weight { try checkCount("weight", weight.count, classes) }
    guard e.count > 0 else { return }
    try checkSeparate(gradient, "gradient", from: x, "logits")
    try checkSeparate(gradient, "gradient", from: max, "max")
    try checkSeparate(gradient, "gradient", from: sum, "sum")
    try checkSeparate(gradient, "gradient", from: target, "target")
    try checkSeparate(gradient, "gradient", from: weight, "weight")
    for f in 0..<r {
        let t = target[f]
        if t != ignoreIndex, t < 0 || t >= Int64(classes) {
            throw SoftmaxKitError(.indexOutOfRange,
                                  "target \(t) is outside [0, \(classes)) and is not ignore_index (\(ignoreIndex))")
        }
    }
    let eps = labelSmoothing, share = labelSmoothing / Double(classes)
    var wsum = Double(classes)
    if let weight {
        wsum = 0
        for c in 0..<classes { wsum += Double(weight[c]) }
    }
    let xp = x.baseAddress!, gp = gradient.baseAddress!, wp = weight?.baseAddress
    let tp = target.baseAddress!, mp = max.baseAddress!, sp = sum.baseAddress!
    let n = e.n, inner = e.inner
    parallelFor(e.outer, work: e.count) { rows in
        for o in rows {
            for i in 0..<inner {
                let f = o &* inner &+ i
                @inline(__always) func at(_ j: Int) -> Int { (o &* n &+ j) &* inner &+ i }
                let t = tp[f]
                if t == ignoreIndex {
                    for j in 0..<n { gp[at(j)] = 0 }
                    continue
                }
                let m = mp[f], s = sp[f]
                if m.isNaN || m.isInfinite || s.isNaN {
                    for j in 0..<n { gp[at(j)] = .nan }
                    continue
                }
                let wt = wp.map { Double($0[Int(t)]) } ?? 1
                let q = (1 - eps) * wt + share * wsum
                let a = q / s / divisor, b = share / divisor
                for j in 0..<n {
                    var g = a * exp(Double(xp[at(j)]) - m)
                    if eps > 0 { g -= b * (wp.map { Double($0[offset &+ j]) } ?? 1) }
                    gp[at(j)] = T(g)
                }
                let local = t - Int64(offset)
                if local >= 0, local < Int64(n) {
                    let k = at(Int(local))
                    // The target's term, subtracted in Double from the value just stored.
                    var g = a * exp(Double(xp[k]) - m) - (1 - eps) * wt / divisor
                    if eps > 0 { g -= b * (wp.map { Double($0[Int(t)]) } ?? 1) }
                    gp[k] = T(g)
                }
            }
        }
    }
}
