import SoftmaxKitSIMD

// MARK: Argmax and the rank order

/// `a` (at index `ia`) comes before `b` (at `ib`): larger, NaN above all, ties to the lower index.
@inlinable @inline(__always)
func ranksBefore<T: KernelScalar>(_ a: T, _ ia: Int, _ b: T, _ ib: Int) -> Bool {
    if a.isNaN { return !b.isNaN || ia < ib }
    if b.isNaN { return false }
    return a > b || (a == b && ia < ib)
}

/// Index of the first maximum (a NaN, if any, wins at its first position).
/// Pass 1: vector max plus a probe `sum(x * 0)` that is NaN exactly when the
/// row holds a NaN or an infinity (then a scalar scan settles it). Pass 2
/// finds the first block of vectors whose max is the row max, then the lane.
@inlinable
func rowArgmax<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> Int {
    let w = T.width
    let zero = T.Vector(repeating: 0)
    var m0 = T.Vector(repeating: -.infinity), m1 = m0, probe = zero
    var i = 0
    while i + 2 * w <= n {
        let a = vload(x + i), b = vload(x + i + w)
        m0 = T.vmax(m0, a); m1 = T.vmax(m1, b)
        probe += a * zero + b * zero
        i += 2 * w
    }
    var m = T.hmax(T.vmax(m0, m1))
    while i < n {
        if x[i] > m { m = x[i] }
        probe[0] += x[i] * 0
        i += 1
    }
    if T.hsum(probe).isNaN {
        for j in 0..<n where x[j].isNaN { return j }
        for j in 0..<n where x[j] == m { return j }
        return 0  // every element is -inf
    }
    i = 0
    while i + 4 * w <= n {
        let c = T.vmax(T.vmax(vload(x + i), vload(x + i + w)), T.vmax(vload(x + i + 2 * w), vload(x + i + 3 * w)))
        if T.hmax(c) == m { break }
        i += 4 * w
    }
    for j in i..<n where x[j] == m { return j }
    return 0  // unreachable for a finite row: its max is one of its elements
}

