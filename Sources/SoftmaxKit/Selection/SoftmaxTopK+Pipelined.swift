import SoftmaxKitSIMD

/// `rowSoftmaxTopK` over rows of one accumulation block (`4w < n <= 1024`,
/// `k <= 2w`), software-pipelined: row r's sweep (its lane floor from the
/// bounds the row before took, the exp-sum collecting candidates and taking
/// the next row's bounds) runs before row r - 1's selection (rank, scatter,
/// probabilities). The selection is a chain of dependent steps (the
/// candidates' count, their gather, the rank, the k slots, the exps), each
/// reading what the step before just stored; a row run whole waited on its
/// own chain. Same bits as `rowSoftmaxTopK`, row by row (`M`: how the sweep
/// collects, as there).
@inlinable
func pipelinedSoftmaxTopK<T: KernelScalar, M: CollectMode>(
    _ xp: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T, _ vp: UnsafeMutablePointer<T>,
    _ ip: UnsafeMutablePointer<Int>, _ rows: Range<Int>, _: M.Type
) {
    withTopKScratch(T.self) { s0 in withTopKScratch(T.self) { s1 in
        let scratch = (TopKCandidates<T>(s0), TopKCandidates<T>(s1))
        var pending = SweptTopKRow<T>()
        var lanes = rowLaneBounds(xp + rows.lowerBound * n, n)
        for r in rows {
            let x = xp + r * n, next = r + 1 < rows.upperBound ? x + n : nil
            let c = r & 1 == 0 ? scratch.0 : scratch.1
            let f = laneFloor(lanes, k)
            guard f.hi != -.infinity else {
                // No number above -inf (all -inf, or NaN among them): the row kernel.
                pending.select(xp, n, k, invT, vp, ip)
                _ = rowSoftmaxTopK(x, n, k, invT, vp + r * k, ip + r * k, lanes: &lanes, carried: true, next: next,
                                   scratch: UnsafeMutableRawPointer(c.values))
                continue
            }
            var sink = FloorCandidates<T, M>(floor: f.floor, positions: c.positions, capacity: TopKCandidates<T>.capacity)
            let e = rowExpSum(x, nil, n, shift: f.hi, scale: invT, lowest: f.lo, readable: 0, lanesOf: next,
                              candidates: &sink)
            for j in 0 ..< min(sink.count, TopKCandidates<T>.capacity) { c.values[j] = x[Int(c.positions[j])] }
            lanes = e.next
            pending.select(xp, n, k, invT, vp, ip)
            // (mergeBlockSum from (-inf, 0) gives (hi, sum) exactly.)
            pending = SweptTopKRow(row: r, candidates: c, count: sink.count, floor: f.floor, hi: f.hi, sum: e.sum)
        }
        pending.select(xp, n, k, invT, vp, ip)
    } }
}

/// `rowSoftmaxTopK`'s candidate buffers in a `withTopKScratch` block: `4w`
/// values, then as many `Int32` positions (each with a vector of slack).
@usableFromInline
struct TopKCandidates<T: KernelScalar> {
    @usableFromInline let values: UnsafeMutablePointer<T>
    @usableFromInline let positions: UnsafeMutablePointer<Int32>
    @inlinable static var capacity: Int { 4 * T.width }

    @inlinable @inline(__always)
    init(_ scratch: UnsafeMutableRawPointer) {
        let room = Self.capacity + T.width
        values = scratch.bindMemory(to: T.self, capacity: room)
        positions = (scratch + room * MemoryLayout<T>.stride).bindMemory(to: Int32.self, capacity: room)
    }
}

/// A row of `pipelinedSoftmaxTopK` swept and not yet selected.
@usableFromInline
struct SweptTopKRow<T: KernelScalar> {
    /// -1: none.
    @usableFromInline var row = -1
    @usableFromInline var candidates: TopKCandidates<T>? = nil
    @usableFromInline var count = 0
    @usableFromInline var floor: T = 0
    @usableFromInline var hi: T = 0
    @usableFromInline var sum = 0.0

    @inlinable @inline(__always) init() {}

    @inlinable @inline(__always)
    init(row: Int, candidates: TopKCandidates<T>, count: Int, floor: T, hi: T, sum: Double) {
        self.row = row; self.candidates = candidates; self.count = count; self.floor = floor; self.hi = hi; self.sum = sum
    }

    /// The row's k first from its candidates (or one element at a time when
    /// they do not settle it), then their probabilities; then none is pending.
    @inlinable @inline(__always)
    mutating func select(_ xp: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T,
                         _ vp: UnsafeMutablePointer<T>, _ ip: UnsafeMutablePointer<Int>) {
        guard row >= 0, let c = candidates else { return }
        let vals = vp + row * k, idx = ip + row * k
        if !rankCandidates(c.values, c.positions, count, held: 0, k: k, vals, idx,
                           room: TopKCandidates<T>.capacity, open: floor == -.infinity) {
            _ = admitRange(xp + row * n, 0, n, k, vals, idx, 0, floor: floor)
        }
        topKProbabilities(vals, k, bigM: hi, total: sum, invT)
        row = -1
    }
}

