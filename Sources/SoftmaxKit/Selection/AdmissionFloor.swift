import SoftmaxKitSIMD

/// Min and max (NaN ignored) of a block with lane bounds `b`, and a floor for
/// its `k`-th element in rank order (`k <= 2 * width`): the k-th largest of
/// the per-lane maxima of the even and the odd vectors. Those are 2w elements
/// at distinct positions (lanes that saw none hold -inf), so at least k
/// elements of the range rank at or above the floor, and admission may skip
/// everything below it. On a random row of 128 with k = 8 the floor admits
/// about 9 to 10 elements; taking the first k and replacing them made ~30
/// insertions after a scalar look at each of the first 64.
/// (No lane is NaN: `vmax` ignores NaN in the data.)
@inlinable
func laneFloor<T: KernelScalar>(_ b: LaneBounds<T>, _ k: Int) -> (lo: T, hi: T, floor: T) {
    let w = T.width
    let (m0, m1) = (b.max0, b.max1)
    let (lo, hi) = b.bounds
    // The k-th largest lane value, from the branch-free ranks of the C
    // module (an insertion sort of the lanes mispredicted on random rows and
    // cost more than the rest of a 128-long row's selection; float rank
    // lanes read back one by one were a quarter of a 256x128 softmax_topk).
    // For k <= w/2 the w lanes of max(m0, m1) give nearly as tight a floor
    // (simulated on random rows: about k + 2 elements admitted against
    // k + 1) at a quarter of the compares.
    let m = 2 * k <= w ? T.vmax(m0, m1) : m0
    let floor = T.lanesKth(m, m1, vectors: 2 * k <= w ? 1 : 2, k: k)
    return (lo, hi, floor)
}

/// Offers `x[from ..< to]` to the candidates (`count` held so far), skipping
/// elements below `floor` (a value at or below the range's k-th, or -inf),
/// and once k are held, elements that do not rank above the k-th. One
/// vector compare decides whether a vector is looked at lane by lane.
@inlinable
func admitRange<T: KernelScalar>(_ x: UnsafePointer<T>, _ from: Int, _ to: Int, _ k: Int,
                                 _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                 _ count: Int, floor: T) -> Int {
    let w = T.width
    // v > floor.nextDown is v >= floor, except for a -inf floor, where every
    // lane must be offered while fewer than k are held (-inf elements count).
    let gate = floor.nextDown, open = floor == -.infinity
    var c = count, i = from
    while i + w <= to {
        let v = vload(x + i)
        let bits = c < k ? (open ? UInt.max : T.vranksAboveBits(v, gate)) : T.vranksAboveBits(v, vals[k - 1])
        c = admitBits(x, i, bits, k, vals, idx, c)
        i += w
    }
    while i < to {
        if c == k || !(x[i] < floor) { c = insertCandidate(x[i], i, vals, idx, c, k) }
        i += 1
    }
    return c
}

/// Min and max (NaN ignored) of `x[start ..< start + len]`, admitting into the
/// candidates the lanes that rank above the current k-th. The test runs on
/// the max of 4 vectors (NaN kept), then per vector, so that the common
/// case costs one compare per 4 vectors.
@inlinable
func blockMinMaxAdmit<T: KernelScalar>(_ x: UnsafePointer<T>, _ start: Int, _ len: Int, _ k: Int,
                                       _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                       _ count: inout Int) -> (T, T) {
    let w = T.width, end = start + len
    var c = count  // a local, not the inout's memory, inside the loop
    defer { count = c }
    var hv = T.Vector(repeating: -.infinity), lv = T.Vector(repeating: .infinity)
    var i = start
    while i + 4 * w <= end {
        let v0 = vload(x + i), v1 = vload(x + i + w), v2 = vload(x + i + 2 * w), v3 = vload(x + i + 3 * w)
        hv = T.vmax(hv, T.vmax(T.vmax(v0, v1), T.vmax(v2, v3)))
        lv = T.vmin(lv, T.vmin(T.vmin(v0, v1), T.vmin(v2, v3)))
        // vmax(a, b) keeps a NaN of `a`: NaN lanes of v0...v3 reach the test.
        let probe = T.vmax(T.vmax(v0, v1), T.vmax(v2, v3)) + (v0 - v0) + (v1 - v1) + (v2 - v2) + (v3 - v3)
        if c < k {  // (k > 2w here: smaller k start from admitRange's floor)
            for v in 0..<4 { c = admitBits(x, i + v * w, UInt.max, k, vals, idx, c) }
        } else if T.vanyRanksAbove(probe, vals[k - 1]) {
            // Then only the vectors that can still rank above the k-th.
            c = admitBits(x, i, T.vranksAboveBits(v0, vals[k - 1]), k, vals, idx, c)
            c = admitBits(x, i + w, T.vranksAboveBits(v1, vals[k - 1]), k, vals, idx, c)
            c = admitBits(x, i + 2 * w, T.vranksAboveBits(v2, vals[k - 1]), k, vals, idx, c)
            c = admitBits(x, i + 3 * w, T.vranksAboveBits(v3, vals[k - 1]), k, vals, idx, c)
        }
        i += 4 * w
    }
    var hi = T.hmax(hv), lo = T.hmin(lv)
    while i < end {
        if x[i] > hi { hi = x[i] }
        if x[i] < lo { lo = x[i] }
        c = insertCandidate(x[i], i, vals, idx, c, k)
        i += 1
    }
    return (lo, hi)
}

/// Offers the lanes of the vector at `x + at` whose bits are set (lanes past
/// the range must be clear) to the candidates; `insertCandidate` drops those
/// that no longer rank above the k-th.
@inlinable @inline(__always)
func admitBits<T: KernelScalar>(_ x: UnsafePointer<T>, _ at: Int, _ bits: UInt, _ k: Int,
                                _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>, _ count: Int) -> Int {
    var c = count, b = bits & (UInt.max >> (UInt.bitWidth - T.width))
    while b != 0 {
        let j = at + b.trailingZeroBitCount
        b &= b - 1
        c = insertCandidate(x[j], j, vals, idx, c, k)
    }
    return c
}

