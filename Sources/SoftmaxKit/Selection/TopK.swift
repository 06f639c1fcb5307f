import SoftmaxKitSIMD

/// Inserts `(v, j)` into the sorted candidates `vals/idx[0..<count]` (capacity
/// `k`) if it ranks among the first `k`; returns the new count. Rows are
/// scanned left to right, so `j` exceeds every index already held: a tie
/// never ranks above, and the rank test is `v > a`, or `v` NaN over a number.
@inlinable @inline(__always)
func insertCandidate<T: KernelScalar>(_ v: T, _ j: Int, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                      _ count: Int, _ k: Int) -> Int {
    @inline(__always) func above(_ a: T) -> Bool { v > a || (v.isNaN && !a.isNaN) }
    if count == k && !above(vals[k - 1]) { return count }
    var p = count == k ? k - 1 : count
    while p > 0 && above(vals[p - 1]) {
        vals[p] = vals[p - 1]; idx[p] = idx[p - 1]
        p -= 1
    }
    vals[p] = v; idx[p] = j
    return count == k ? k : count + 1
}

/// The first `k` of the row in rank order. Small `k`: one pass keeping a
/// sorted candidate list whose k-th entry is the admission threshold; a
/// vector is scanned lane by lane only when some lane ranks above it.
/// Large `k`: a full sort of the indices.
@inlinable
func rowTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ k: Int,
                              _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>) {
    guard k > 0 else { return }
    if k <= 64 {
        let w = T.width
        // A floor from the first block: after it the k-th candidate is the gate.
        let head = min(n, accumulationBlock)
        let floor = k <= 2 * w ? laneFloor(rowLaneBounds(x, head), k).floor : -.infinity
        var c = admitRange(x, 0, head, k, vals, idx, 0, floor: floor), i = head
        while i + w <= n {
            c = admitBits(x, i, c < k ? UInt.max : T.vranksAboveBits(vload(x + i), vals[k - 1]), k, vals, idx, c)
            i += w
        }
        while i < n { c = insertCandidate(x[i], i, vals, idx, c, k); i += 1 }
        return
    }
    var order = Array(0..<n)
    order.sort { ranksBefore(x[$0], $0, x[$1], $1) }
    for j in 0..<k { vals[j] = x[order[j]]; idx[j] = order[j] }
}

