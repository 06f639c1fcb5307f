import SoftmaxKitSIMD

/// Fused softmax + top-k of one row, one sweep over memory. The row is
/// taken in L1-sized blocks: a first look at a block finds its min and max
/// and admits candidates (as `rowTopK`, by logit); a second look, from L1,
/// sums `exp((x - block max) / T)` with the same exp kernel as `softmax`.
/// Block sums merge into the row's by the online-normalizer rule
/// `d = d * e^{(m_old - m_new)/T} + s * e^{(m_block - m_new)/T}` (Milakov &
/// Gimelshein 2018), so the row is read from memory once and the full
/// softmax is never written. Writes probabilities, not logits, to `vals`.
///
/// A row of one block may come with its lane bounds already taken (`lanes`
/// when `carried`, by the row before it) and take those of `next` (the
/// following row, same length) in its exp-sum loop, as softmax's rows do: the
/// first look then needs no pass over memory. Returns whether it left
/// `next`'s lane bounds in `lanes`. (`inout`, not an optional result: an
/// optional of four vectors was copied through memmove.)
@inlinable
func rowSoftmaxTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T,
                                     _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>) {
    withTopKScratch(T.self) { scratch in
        var lanes = LaneBounds<T>()
        _ = rowSoftmaxTopK(x, n, k, invT, vals, idx, lanes: &lanes, carried: false, next: nil, scratch: scratch)
    }
}

/// Stack scratch for `rowSoftmaxTopK`'s candidates: `5w` scalars, then `5w`
/// `Int32` positions (under the 1 KB up to which temporary allocations stay
/// on the stack).
@inlinable @inline(__always)
func withTopKScratch<T: KernelScalar>(_: T.Type, _ body: (UnsafeMutableRawPointer) -> Void) {
    withUnsafeTemporaryAllocation(byteCount: 5 * T.width * (MemoryLayout<T>.stride + 4),
                                  alignment: MemoryLayout<T>.alignment) { body($0.baseAddress!) }
}

@inlinable
func rowSoftmaxTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T,
                                     _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                     lanes: inout LaneBounds<T>, carried: Bool, next: UnsafePointer<T>?,
                                     scratch: UnsafeMutableRawPointer) -> Bool {
    guard k > 0 else { return false }
    let w = T.width
    var bigM = -T.infinity, total = 0.0, tookNext = false
    if k <= 2 * w && n <= Int(Int32.max) {
        let capacity = TopKCandidates<T>.capacity, candidates = TopKCandidates<T>(scratch)
        let cv = candidates.values, cp = candidates.positions
        var i = 0, bounds = LaneBounds<T>()
        // While blocks admit candidates, their exp-sum loops collect them
        // branch-free; once one admits none, later blocks only check their
        // max against the k-th (random rows soon stop admitting: collecting
        // then cost more than it saved on rows of 32000 in cache).
        var collect = true
        while i < n {
            let len = min(accumulationBlock, n - i), end = i + len, whole = len == n
            // The block after, when as long, has its lane bounds taken in
            // this block's exp-sum loop (its loads overlap the exponentials;
            // a min/max pass over each block from memory, then the exp-sum
            // from L1, was most of a 4096-long row); after a row of one
            // block, the next row's.
            let ahead: UnsafePointer<T>? = whole ? next : (end + len <= n ? x + end : nil)
            let first = i == 0
            if first { bounds = whole && carried ? lanes : rowLaneBounds(x, len) }
            let lo: T, hi: T, floor: T
            if first {
                // The elements at or above the lane floor: about k + 2 on random rows.
                let f = laneFloor(bounds, k)
                (lo, hi, floor) = (f.lo, f.hi, f.floor)
            } else {
                (lo, hi) = bounds.bounds
                floor = vals[k - 1].nextUp  // above the k-th: a later tie never ranks above it
            }
            let held = first ? 0 : k
            var ranked = false
            if hi != -.infinity {  // (an all -inf block adds exp(-inf) = 0)
                let r: (sum: Double, next: LaneBounds<T>)
                if collect {
                    let start = i  // a constant for the function below (a captured var is boxed)
                    func collecting<M: CollectMode>(_: M.Type) -> (sum: Double, next: LaneBounds<T>, count: Int) {
                        var sink = FloorCandidates<T, M>(floor: floor, positions: cp + held,
                                                         capacity: capacity - held, offset: start)
                        let r = rowExpSum(x + start, nil, len, shift: hi, scale: invT, lowest: lo, readable: 0,
                                          lanesOf: ahead, candidates: &sink)
                        for j in held ..< held + min(sink.count, capacity - held) { cv[j] = x[Int(cp[j])] }
                        return (r.sum, r.next, sink.count)
                    }
                    let sparse = !first || len >= sparseCollectVectors * w
                    let c = sparse ? collecting(SparseCollect.self) : collecting(DenseCollect.self)
                    r = (c.sum, c.next)
                    ranked = rankCandidates(cv, cp, c.count, held: held, k: k, vals, idx,
                                            room: capacity, open: floor == -.infinity)
                    if !first && c.count == 0 { collect = false }
                } else {
                    r = rowExpSum(x + i, nil, len, shift: hi, scale: invT, lowest: lo, readable: 0, lanesOf: ahead)
                    // Nothing enters unless the max beats the k-th or a NaN
                    // (which makes the sum NaN) is there.
                    ranked = !(hi > vals[k - 1]) && !r.sum.isNaN
                    collect = !ranked
                }
                mergeBlockSum(&bigM, &total, r.sum, hi, invT)
                if ahead != nil {
                    if whole { lanes = r.next; tookNext = true } else { bounds = r.next }
                }
            } else if let ahead {
                if whole { lanes = rowLaneBounds(ahead, len); tookNext = true } else { bounds = rowLaneBounds(ahead, len) }
            }
            if !ranked {
                // One element at a time (a mispredicted branch and an
                // insertion each): NaN, ties at the floor past the buffer,
                // all -inf blocks (which may hide a NaN).
                _ = admitRange(x, i, end, k, vals, idx, held, floor: first ? floor : -.infinity)
            }
            if end < n && ahead == nil { bounds = rowLaneBounds(x + end, n - end) }
            i = end
        }
    } else {
        let r = admittingSoftmaxTopK(x, n, k, invT, vals, idx, lanes: lanes, carried: carried, next: next)
        (bigM, total, tookNext) = (r.bigM, r.total, r.tookNext)
        if tookNext { lanes = r.next }
    }
    topKProbabilities(vals, k, bigM: bigM, total: total, invT)
    return tookNext
}

/// The k selected logits in `vals` (rank order) into their probabilities,
/// given the row's max and `sum exp((x - max) / T)`; all NaN when the row
/// holds a NaN (it ranks first, so it is among the selected) or the sum is NaN.
@inlinable @inline(__always)
func topKProbabilities<T: KernelScalar>(_ vals: UnsafeMutablePointer<T>, _ k: Int, bigM: T, total: Double, _ invT: T) {
    if vals[0].isNaN || total.isNaN {
        vals.update(repeating: .nan, count: k)
        return
    }
    // softmax's own formula, a vector at a time: exp((x - max) / T) * (1 / sum).
    // (A scalar libm exp per candidate cost more than the whole sweep on short rows.)
    let w = T.width
    let vm = T.Vector(repeating: bigM), vs = T.Vector(repeating: invT), f = T.Vector(repeating: T(1 / total))
    var j = 0
    while j < k {
        let r = min(w, k - j)
        let v = r == w ? vload(vals + j) : vloadPartial(vals + j, r, fill: bigM)
        let p = T.vexp((v - vm) * vs) * f
        if r == w { vstore(p, vals + j) } else { vstorePartial(p, vals + j, r) }
        j += w
    }
}

/// The block sums' merge (the online-normalizer rule above): the running
/// `(max, sum)` with a block's sum `s` taken at shift `hi`.
@inlinable @inline(__always)
func mergeBlockSum<T: KernelScalar>(_ m: inout T, _ total: inout Double, _ s: Double, _ hi: T, _ invT: T) {
    if hi > m {
        total = (total == 0 ? 0 : total * Double(T.libmExp((m - hi) * invT))) + s
        m = hi
    } else {
        total += s * Double(T.libmExp((hi - m) * invT))
    }
}

/// Ranks `count` collected candidates (`cv`/`cp` from offset `held`), with
/// the `held` already in `vals`/`idx` (lower indices: copied in first), into
/// the first k, by the C module's rank primitive. False, having written
/// nothing, when they did not fit `room` (ties at the floor), an open floor
/// gathered everything, fewer than k were found, or one is NaN: the caller
/// then admits the block one element at a time.
@inlinable @inline(__always)
func rankCandidates<T: KernelScalar>(_ cv: UnsafeMutablePointer<T>, _ cp: UnsafeMutablePointer<Int32>, _ count: Int,
                                     held: Int, k: Int, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                     room: Int, open: Bool) -> Bool {
    if held > 0 && count == 0 { return true }
    let m = held + count
    guard !open, m >= k, m <= room else { return false }
    for j in 0..<held { cv[j] = vals[j]; cp[j] = Int32(truncatingIfNeeded: idx[j]) }
    return !T.rankScatter(cv, cv, n: m, vectors: (m + T.width - 1) / T.width, k: k, vals, idx, positions: cp)
}

/// `rowSoftmaxTopK` for `k > 2w`: each block's min and max in a first look
/// that also admits candidates one by one, then its exp-sum from L1.
@inlinable
func admittingSoftmaxTopK<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
    lanes: LaneBounds<T>, carried: Bool, next: UnsafePointer<T>?
) -> (bigM: T, total: Double, next: LaneBounds<T>, tookNext: Bool) {
    var bigM = -T.infinity, total = 0.0
    var c = 0, i = 0
    var nextLanes = LaneBounds<T>(), tookNext = false
    while i < n {
        let len = min(accumulationBlock, n - i)
        let whole = len == n  // one block: the next row's lanes ride along
        let (lo, hi) = blockMinMaxAdmit(x, i, len, k, vals, idx, &c)
        if hi != -.infinity {  // an all -inf block adds exp(-inf) = 0
            let r = rowExpSum(x + i, nil, len, shift: hi, scale: invT, lowest: lo, readable: 0,
                              lanesOf: whole ? next : nil)
            if whole && next != nil { nextLanes = r.next; tookNext = true }
            mergeBlockSum(&bigM, &total, r.sum, hi, invT)
        }
        i += len
    }
    return (bigM, total, nextLanes, tookNext)
}

