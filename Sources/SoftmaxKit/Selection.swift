/// Selection over the `n` extent: argmax, hardmax, top-k and the fused
/// softmax + top-k.
///
/// Order: larger first; NaN ranks above every number (numpy's argmax,
/// torch.topk); ties go to the lower index, so the first maximum wins.
///   argmax   index of the first maximum; an empty axis is an error
///   hardmax  one-hot of argmax (ONNX Hardmax)
///   topk     the k first elements in that order, values and indices
///   softmax_topk  softmax probabilities and indices of the k largest logits,
///            in one pass over the row (the online normalizer of Milakov &
///            Gimelshein, "Online normalizer calculation for softmax", 2018,
///            fused with the selection): the full softmax is never written.
///            Over a middle axis, `ColumnTopK.swift` (two passes down the columns).
///            A row with a NaN has NaN probabilities (its indices in topk's
///            order, NaN first); an all `-inf` row has NaN probabilities.

// MARK: Public API

/// Index of the first maximum of each fibre into `index` (`outer * inner` entries).
/// - Throws: `.invalidArgument` when `n == 0` for a non-empty result; buffer errors.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func argmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into index: UnsafeMutableBufferPointer<Int>, extents: Extents
) throws(SoftmaxKitError) {
    let out = extents.reducedCount
    try checkCount("x", x.count, extents.count)
    try checkCount("index", index.count, out)
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), extents.count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(index.baseAddress), out * MemoryLayout<Int>.stride, names: ("x", "index"))
    guard out > 0 else { return }
    guard extents.n > 0 else { throw .invalid("argmax of an empty axis (n == 0) is undefined") }
    if extents.inner == 1 {
        let xp = x.baseAddress!, ip = index.baseAddress!, n = extents.n
        parallelFor(out, work: extents.count) { rows in
            for r in rows { ip[r] = rowArgmax(xp + r * n, n) }
        }
        return
    }
    let f = try Fibres<T>(extents, slots: 1)
    defer { f.free() }
    let xp = x.baseAddress!, ip = index.baseAddress!
    for r in 0..<out { ip[r] = rowArgmax(f.read(xp, r, slot: 0), extents.n) }
}

/// One-hot of each fibre's argmax into `y` (`y` may be `x`).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func hardmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, extents.count)
    try checkAliasing(x, y, count: extents.count)
    guard extents.count > 0 else { return }
    try forEachFibre(x.baseAddress!, y.baseAddress!, extents) { xr, yr in
        let a = rowArgmax(xr, extents.n)
        yr.update(repeating: 0, count: extents.n)
        yr[a] = 1
    }
}

/// The `k` largest elements of each fibre, sorted, into `values` and `indices`,
/// both `(outer, k, inner)`.
/// - Throws: `.invalidArgument` for `k < 0` or `k > n`; buffer errors.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func topK<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, k: Int, values: UnsafeMutableBufferPointer<T>,
    indices: UnsafeMutableBufferPointer<Int>, extents: Extents
) throws(SoftmaxKitError) {
    // Short rows rank in registers, as softmaxTopK's (same limit).
    let short = extents.inner == 1 && k > 0 && extents.n <= shortSelectionLimit ? ShortRows<T>(extents.n) : nil
    try selectK(x, k: k, values: values, indices: indices, extents: extents, valuesName: "values", rows: { xp, vp, ip, rows in
        guard let short else { return false }
        _ = short.run(ShortTopK(xp, k: k, vp, ip), rows)
        return true
    }, columns: { xp, vp, ip in
        guard columnTopKApplies(T.self, k: k, n: extents.n, inner: extents.inner) else { return false }
        columnTopK(xp, extents, k, vp, ip, softmax: nil)
        return true
    }) { xr, n, v, i in
        rowTopK(xr, n, k, v, i)
    }
}

/// Softmax probabilities (temperature `T`) of the `k` most probable positions of
/// each fibre, sorted descending, into `probs` and `indices`, both `(outer, k, inner)`.
/// - Throws: `.invalidArgument` for `k < 0`, `k > n` or a bad temperature; buffer errors.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmaxTopK<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, k: Int, probs: UnsafeMutableBufferPointer<T>,
    indices: UnsafeMutableBufferPointer<Int>, extents: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    let invT = 1 / temperature
    let short = extents.inner == 1 && k > 0 && extents.n <= shortSelectionLimit ? ShortRows<T>(extents.n) : nil
    // Rows of one accumulation block, longer than softmax's four-vector
    // limit, carry each row's lane bounds from the exp-sum of the row before
    // (see rowSoftmaxTopK).
    let n = extents.n, carry = n > 4 * T.width && n <= accumulationBlock && k <= 2 * T.width
    try selectK(x, k: k, values: probs, indices: indices, extents: extents, valuesName: "probs", rows: { xp, vp, ip, rows in
        if let short {
            withUnsafeTemporaryAllocation(of: T.self, capacity: ShortRows<T>.maxLength) { scratch in
                _ = short.run(ShortSoftmaxTopK(xp, k: k, invT: invT, vp, ip, scratch: scratch.baseAddress!), rows)
            }
            return true
        }
        guard carry else { return false }
        if n >= sparseCollectVectors * T.width {
            pipelinedSoftmaxTopK(xp, n, k, invT, vp, ip, rows, SparseCollect.self)
        } else {
            pipelinedSoftmaxTopK(xp, n, k, invT, vp, ip, rows, DenseCollect.self)
        }
        return true
    }, columns: { xp, vp, ip in
        guard columnTopKApplies(T.self, k: k, n: extents.n, inner: extents.inner) else { return false }
        columnTopK(xp, extents, k, vp, ip, softmax: invT)
        return true
    }) { xr, n, v, i in
        rowSoftmaxTopK(xr, n, k, invT, v, i)  // (per fibre: its own scratch)
    }
}

/// Rows up to this long are ranked whole in registers (`ShortTopK`,
/// `ShortSoftmaxTopK`): the rank costs n compares per vector, which beat the
/// floor-and-candidates row kernel up to here. Softmax top-k, 256 rows, k = 8,
/// uniform logits, Zen 5 (session 7): n = 32 f32 13.9 against 17.9–19.8 µs,
/// f64 22.6–23.2 against 26.1–26.9 µs; n = 48 f32 20.6–20.9 against
/// 18.6–18.7 µs; n = 64 f32 31 against 19.5 µs.
@usableFromInline let shortSelectionLimit = 32

/// Argmax of an array viewed as `shape` over `axis`.
public func argmax<T: KernelScalar>(_ x: [T], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [Int] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var out = [Int](repeating: 0, count: e.reducedCount)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try out.withUnsafeMutableBufferPointer { (ob) throws(SoftmaxKitError) in try argmax(xb, into: ob, extents: e) }
    }
    return out
}

/// Hardmax of an array viewed as `shape` over `axis`.
public func hardmax<T: KernelScalar>(_ x: [T], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    return try mapArray(x) { (xb, yb) throws(SoftmaxKitError) in try hardmax(xb, into: yb, extents: e) }
}

/// Top-k of an array viewed as `shape` over `axis`: `(values, indices)`, the axis replaced by `k`.
public func topK<T: KernelScalar>(_ x: [T], k: Int, shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> (values: [T], indices: [Int]) {
    try selectArray(x, k: k, shape: shape, axis: axis) { (xb, vb, ib, e) throws(SoftmaxKitError) in
        try topK(xb, k: k, values: vb, indices: ib, extents: e)
    }
}

/// Fused softmax + top-k of an array viewed as `shape` over `axis`: `(probs, indices)`.
public func softmaxTopK<T: KernelScalar>(_ x: [T], k: Int, shape: [Int]? = nil, axis: Int = -1, temperature: T = 1) throws(SoftmaxKitError) -> (probs: [T], indices: [Int]) {
    let r = try selectArray(x, k: k, shape: shape, axis: axis) { (xb, vb, ib, e) throws(SoftmaxKitError) in
        try softmaxTopK(xb, k: k, probs: vb, indices: ib, extents: e, temperature: temperature)
    }
    return (r.values, r.indices)
}

// MARK: Shared plumbing

private func selectArray<T: KernelScalar>(
    _ x: [T], k: Int, shape: [Int]?, axis: Int,
    _ op: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, UnsafeMutableBufferPointer<Int>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> (values: [T], indices: [Int]) {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n) (the axis length), got \(k)") }
    let count = e.outer * k * e.inner
    var v = [T](repeating: 0, count: count), ix = [Int](repeating: 0, count: count)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try v.withUnsafeMutableBufferPointer { (vb) throws(SoftmaxKitError) in
            try ix.withUnsafeMutableBufferPointer { (ib) throws(SoftmaxKitError) in try op(xb, vb, ib, e) }
        }
    }
    return (v, ix)
}

/// Checks `k` and the buffers, then runs `row` on each fibre with contiguous
/// k-long outputs, scattered to `(outer, k, inner)`. Contiguous rows go to
/// `rows` first (a range of them at a time), which returns false to leave
/// them to `row`; strided fibres go to `columns` (the whole call), likewise.
/// (The closures are non-escaping, so their contexts live on
/// the stack: an optional closure escaped, and its context's malloc and
/// retains cost a fifth of a 1x10 call.)
@usableFromInline
func selectK<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, k: Int, values: UnsafeMutableBufferPointer<T>,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents, valuesName: String,
    rows: (UnsafePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<Int>, Range<Int>) -> Bool,
    columns: (UnsafePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<Int>) -> Bool,
    _ row: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<Int>) -> Void
) throws(SoftmaxKitError) {
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n) (the axis length), got \(k)") }
    let count = e.outer * k * e.inner  // <= e.count: no overflow
    try checkCount("x", x.count, e.count)
    try checkCount(valuesName, values.count, count)
    try checkCount("indices", indices.count, count)
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), e.count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(values.baseAddress), count * MemoryLayout<T>.stride, names: ("x", valuesName))
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), e.count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(indices.baseAddress), count * MemoryLayout<Int>.stride, names: ("x", "indices"))
    try checkDisjoint(UnsafeRawPointer(values.baseAddress), count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(indices.baseAddress), count * MemoryLayout<Int>.stride, names: (valuesName, "indices"))
    guard count > 0 else { return }
    if e.inner == 1 {  // rows of x and of the outputs are contiguous: no scratch
        let xp = x.baseAddress!, vp = values.baseAddress!, ip = indices.baseAddress!, n = e.n
        parallelFor(e.outer, work: e.count) { range in
            if rows(xp, vp, ip, range) { return }
            for r in range { row(xp + r * n, n, vp + r * k, ip + r * k) }
        }
        return
    }
    // Down the columns when the column kernels take it (`columns` returns
    // false to leave the fibres to `row`).
    if columns(x.baseAddress!, values.baseAddress!, indices.baseAddress!) { return }
    let f = try Fibres<T>(e, slots: 2)
    defer { f.free() }
    guard let sv = rawAllocate(T.self, k) else {
        throw SoftmaxKitError(.outOfMemory, "could not allocate top-k scratch for k = \(k)")
    }
    guard let si = rawAllocate(Int.self, k) else {
        rawFree(sv)  // the first block must not outlive a failed call
        throw SoftmaxKitError(.outOfMemory, "could not allocate top-k scratch for k = \(k)")
    }
    defer { rawFree(sv); rawFree(si) }
    let xp = x.baseAddress!, vp = values.baseAddress!, ip = indices.baseAddress!
    for r in 0..<f.count {
        row(f.read(xp, r, slot: 0), e.n, sv, si)
        let o = r / e.inner, i = r % e.inner
        for j in 0..<k {
            vp[(o * k + j) * e.inner + i] = sv[j]
            ip[(o * k + j) * e.inner + i] = si[j]
        }
    }
}

// MARK: Row kernels

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

