/// Top-k, top-p and min-p over a fibre's weights.

/// Buckets of one level of the top-p radix select (11 bits of the weights'
/// bit patterns a level).
@usableFromInline let nucleusBuckets = 2048

/// Top-p over a whole fibre: keeps the smallest set of the largest weights
/// of `w` (>= 0) whose mass reaches `mass`, ties to the lower index, and
/// zeroes the rest. No sort: positive floats order as their bit patterns,
/// so a radix select over the patterns, 11 bits a level from the top, finds
/// the bucket where the running mass (largest first) crosses `mass`, then
/// the bucket within it, down to one value t; everything above t is kept,
/// and of the positions holding t the first ones (by index) that reach the
/// mass. Each level passes over the candidates of the bucket before.
@inlinable
func keepNucleus<T: KernelScalar>(_ w: UnsafeMutablePointer<T>, _ n: Int, mass: Double,
                                  list: UnsafeMutablePointer<Int>, histogram hist: UnsafeMutablePointer<Double>) {
    // Non-negative floats order as their bit patterns (the sign bit is 0).
    @inline(__always) func key(_ v: T) -> UInt64 {
        MemoryLayout<T>.size == 4 ? UInt64(unsafeBitCast(v, to: UInt32.self)) : unsafeBitCast(v, to: UInt64.self)
    }
    var shift = T.exponentBitCount + T.significandBitCount - 11
    var above = 0.0
    hist.update(repeating: 0, count: nucleusBuckets)
    for j in 0..<n {
        let v = w[j]
        if v > 0 { hist[Int(truncatingIfNeeded: key(v) >> UInt64(shift))] += Double(v) }
    }
    guard var digit = crossing(hist, nucleusBuckets, &above, mass) else { return }
    var count = 0
    for j in 0..<n {
        let v = w[j]
        if v > 0 && Int(truncatingIfNeeded: key(v) >> UInt64(shift)) == digit { list[count] = j; count += 1 }
    }
    while shift > 0 {
        let next = max(shift - 11, 0), buckets = 1 << (shift - next), bits = UInt64(buckets - 1)
        hist.update(repeating: 0, count: buckets)
        for c in 0..<count {
            let v = w[list[c]]
            hist[Int(truncatingIfNeeded: (key(v) >> UInt64(next)) & bits)] += Double(v)
        }
        guard let d = crossing(hist, buckets, &above, mass) else { return }
        digit = d
        var kept = 0
        for c in 0..<count {
            let j = list[c]
            if Int(truncatingIfNeeded: (key(w[j]) >> UInt64(next)) & bits) == digit { list[kept] = j; kept += 1 }
        }
        count = kept
        shift = next
    }
    guard count > 0 else { return }
    let t = w[list[0]]
    var ties = count, acc = above
    for c in 0..<count {
        acc += Double(t)
        if acc >= mass { ties = c + 1; break }
    }
    zeroBelow(w, n, t)
    for c in ties..<count { w[list[c]] = 0 }
}

/// The bucket, largest first, where `above` plus the bucket's mass reaches
/// `mass` (`above` then holds the mass of the buckets above it). Where
/// rounding leaves the walk short of `mass`, the last non-empty bucket; nil
/// when all are empty.
@inlinable
func crossing(_ hist: UnsafeMutablePointer<Double>, _ buckets: Int, _ above: inout Double, _ mass: Double) -> Int? {
    var a = above, last = -1, aboveLast = 0.0
    var d = buckets - 1
    while d >= 0 {
        let h = hist[d]
        if h > 0 {
            if a + h >= mass { above = a; return d }
            last = d; aboveLast = a; a += h
        }
        d -= 1
    }
    if last >= 0 { above = aboveLast; return last }
    return nil
}

/// Zeroes the weights (>= 0) below `t` (> 0): a vector compare each, then
/// the dropped lanes only where a vector holds both kinds.
@inlinable
func zeroBelow<T: KernelScalar>(_ w: UnsafeMutablePointer<T>, _ n: Int, _ t: T) {
    let width = T.width, gate = t.nextDown, all = UInt.max >> (UInt.bitWidth - width), zero = T.Vector(repeating: 0)
    var i = 0
    while i + width <= n {
        let kept = T.vranksAboveBits(vload(w + i), gate)  // lanes >= t
        if kept == 0 {
            vstore(zero, w + i)
        } else if kept != all {
            var drop = ~kept & all  // the dropped lanes, without a branch per lane
            while drop != 0 {
                w[i + drop.trailingZeroBitCount] = 0
                drop &= drop &- 1
            }
        }
        i += width
    }
    while i < n {
        if w[i] < t { w[i] = 0 }
        i += 1
    }
}

/// How many of `k` weights sorted descending (`kw`) top-p and min-p keep.
@inlinable
func keptOfSorted<T: KernelScalar>(_ kw: UnsafePointer<T>, _ k: Int, topP: Double, minP: T) -> Int {
    var keep = k
    if topP < 1 {
        var total = 0.0
        for i in 0..<k { total += Double(kw[i]) }
        let mass = nucleusMass(topP, total, T.self)
        var acc = 0.0
        for i in 0..<k {
            acc += Double(kw[i])
            if acc >= mass { keep = i + 1; break }
        }
    }
    if minP > 0 {
        let threshold = minPThreshold(minP, largest: kw[0])
        while keep > 1 && kw[keep - 1] < threshold { keep -= 1 }
    }
    return keep
}

/// The weight min-p keeps from: `minP` times the largest weight, less 4
/// units of rounding of `T`, so that a weight meant to equal it (and the
/// largest itself, at `minP == 1`) is kept despite the rounding of the
/// exponentials.
@inlinable @inline(__always)
func minPThreshold<T: KernelScalar>(_ minP: T, largest: T) -> T {
    minP * largest * (1 - 4 * T.ulpOfOne)
}

/// The mass top-p must reach: `topP` of `total`, less 16 units of rounding
/// of `T`, so that probabilities meant to sum exactly to `topP` reach it
/// despite the rounding of their exponentials.
@inlinable @inline(__always)
func nucleusMass<T: KernelScalar>(_ topP: Double, _ total: Double, _: T.Type) -> Double {
    topP * total * (1 - 16 * Double(T.ulpOfOne))
}

/// `exp((v - m) * invT)` of `k` values into `out`, a vector at a time.
@inlinable
func exponentials<T: KernelScalar>(_ v: UnsafePointer<T>, _ k: Int, shift m: T, scale invT: T, _ out: UnsafeMutablePointer<T>) {
    let w = T.width, vm = T.Vector(repeating: m), vs = T.Vector(repeating: invT)
    var i = 0
    while i < k {
        let r = min(w, k - i)
        let x = r == w ? vload(v + i) : vloadPartial(v + i, r, fill: m)
        let e = T.vexp((x - vm) * vs)
        if r == w { vstore(e, out + i) } else { vstorePartial(e, out + i, r) }
        i += w
    }
}
