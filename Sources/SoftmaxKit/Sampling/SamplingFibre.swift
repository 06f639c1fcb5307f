/// One fibre of `sample`: greedy, or weights, truncation and draws.

/// Samples the contiguous fibre `x` (`n > 0`) with its mask row (nil: all
/// take part), writing `plan.draws` results at `indices[d * stride]` and
/// `logProbs[d * stride]`. `row` is the fibre's index in its call.
@inlinable
func sampleFibre<T: KernelScalar>(
    _ x: UnsafePointer<T>, mask: UnsafePointer<UInt8>?, n: Int, plan: SamplingPlan<T>, scratch s: SamplingScratch<T>,
    row: UInt64, indices: UnsafeMutablePointer<Int>, logProbs: UnsafeMutablePointer<T>?, stride: Int
) {
    let draws = plan.draws
    @inline(__always) func put(_ d: Int, _ j: Int, _ lp: T) {
        indices[d * stride] = j
        logProbs?[d * stride] = lp
    }
    @inline(__always) func none(from d: Int) {
        for e in d..<draws { put(e, -1, .nan) }
    }
    // Masked-out positions become -inf: never selected, never drawn.
    let z: UnsafePointer<T>
    if let mask {
        maskedLogits(x, mask, n, s.w)
        z = UnsafePointer(s.w)
    } else {
        z = x
    }
    if plan.greedy {
        if plan.replacement || draws == 1 {
            let a = rowArgmax(z, n)
            if z[a].isNaN || z[a] == -.infinity { return none(from: 0) }
            for d in 0..<draws { put(d, a, 0) }
        } else {
            rowTopK(z, n, draws, s.values, s.positions)
            if s.values[0].isNaN { return none(from: 0) }
            for d in 0..<draws {
                if s.values[d] == -.infinity { put(d, -1, .nan) } else { put(d, s.positions[d], 0) }
            }
        }
        return
    }
    let invT = plan.invT, m: T
    var summed = false
    if plan.topK > 0 {
        // The k largest, their weights, then top-p and min-p over them in
        // rank order; the kept weights are scattered into a zeroed row so
        // that the draw is the same as over the whole fibre.
        let k = plan.topK
        rowTopK(z, n, k, s.values, s.positions)
        m = s.values[0]
        guard m.isFinite else { return none(from: 0) }  // NaN, +inf, or nothing above -inf
        exponentials(s.values, k, shift: m, scale: invT, s.kWeights)
        let keep = keptOfSorted(s.kWeights, k, topP: plan.topP, minP: plan.minP)
        s.w.update(repeating: 0, count: n)
        for i in 0..<keep { s.w[s.positions[i]] = s.kWeights[i] }
    } else {
        let (lo, hi) = rowMinMax(z, n)
        m = hi
        // Exponents lie in [(lo - m) / T, 0]: the cheaper exp when they stay normal.
        let total = (lo - m) * invT >= -T.expNormalLimit
            ? WeightTable<T>.exponentialChunks(z, s.w, n, shift: m, scale: invT, sums: s.sums, NormalExp.self)
            : WeightTable<T>.exponentialChunks(z, s.w, n, shift: m, scale: invT, sums: s.sums, AnyExp.self)
        guard total.isFinite, total > 0 else { return none(from: 0) }  // NaN, +inf, all -inf
        if plan.topP < 1 {
            keepNucleus(s.w, n, mass: nucleusMass(plan.topP, total, T.self), list: s.list, histogram: s.histogram)
        }
        if plan.minP > 0 { zeroBelow(s.w, n, minPThreshold(plan.minP, largest: 1)) }  // the largest is exp(0)
        summed = plan.topP == 1 && plan.minP == 0
    }
    let table = WeightTable(s.w, n, sums: s.sums, running: s.running, summed: summed)
    let streamRow = plan.rowOffset &+ row
    for d in 0..<draws {
        let total = table.total
        guard total > 0 else { return none(from: d) }
        let u = Philox.uniform(seed: plan.seed, row: streamRow, draw: UInt64(d))
        let j = table.find(u * total)
        guard j >= 0 else { return none(from: d) }
        indices[d * stride] = j
        if let logProbs {
            // Where the drawn weight is subnormal (a far tail, reached by
            // drawing without replacement) its log comes from the weight the
            // table holds, which the total was summed from: the exponent alone
            // disagreed with that total by the subnormal's coarse precision
            // and gave log-probabilities above 0. A probability is at most 1.
            let wj = s.w[j]
            let lw = wj < T.leastNormalMagnitude ? Double.libmLog(Double(wj)) : Double((x[j] - m) * invT)
            logProbs[d * stride] = T(min(0, lw - Double.libmLog(total)))
        }
        if !plan.replacement { table.remove(j) }
    }
}

/// `x` where the mask byte is nonzero, `-inf` elsewhere, into `z`.
@inlinable
func maskedLogits<T: KernelScalar>(_ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, _ n: Int, _ z: UnsafeMutablePointer<T>) {
    let w = T.width, off = T.Vector(repeating: -.infinity)
    var i = 0
    while i + w <= n {
        vstore(T.vselect(mload(mask + i, T.self), vload(x + i), off), z + i)
        i += w
    }
    while i < n { z[i] = mask[i] != 0 ? x[i] : -.infinity; i += 1 }
}
