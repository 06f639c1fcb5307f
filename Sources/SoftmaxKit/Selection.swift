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
///            A row with a NaN has NaN probabilities (its indices are k
///            distinct positions, not necessarily topk's); an all `-inf` row
///            has NaN probabilities.

// MARK: Public API

/// Index of the first maximum of each fibre into `index` (`outer * inner` entries).
/// - Throws: `.invalidArgument` when `n == 0` for a non-empty result; buffer errors.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func argmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into index: UnsafeMutableBufferPointer<Int>, extents: Extents
) throws(SoftmaxKitError) {
    let out = extents.reduced.count
    try checkCount("x", x.count, extents.count)
    try checkCount("index", index.count, out)
    guard out > 0 else { return }
    guard extents.n > 0 else { throw .invalid("argmax of an empty axis (n == 0) is undefined") }
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
    try selectK(x, k: k, values: values, indices: indices, extents: extents, valuesName: "values") { xr, n, v, i in
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
    try selectK(x, k: k, values: probs, indices: indices, extents: extents, valuesName: "probs") { xr, n, v, i in
        rowSoftmaxTopK(xr, n, k, invT, v, i)
    }
}

/// Argmax of an array viewed as `shape` over `axis`.
public func argmax<T: KernelScalar>(_ x: [T], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [Int] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var out = [Int](repeating: 0, count: e.reduced.count)
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
/// k-long outputs, scattered to `(outer, k, inner)`.
@usableFromInline
func selectK<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, k: Int, values: UnsafeMutableBufferPointer<T>,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents, valuesName: String,
    _ row: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<Int>) -> Void
) throws(SoftmaxKitError) {
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n) (the axis length), got \(k)") }
    let count = e.outer * k * e.inner  // <= e.count: no overflow
    try checkCount("x", x.count, e.count)
    try checkCount(valuesName, values.count, count)
    try checkCount("indices", indices.count, count)
    try checkDisjoint(UnsafeRawPointer(x.baseAddress), e.count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(values.baseAddress), count * MemoryLayout<T>.stride, names: ("x", valuesName))
    guard count > 0 else { return }
    let f = try Fibres<T>(e, slots: 2)
    defer { f.free() }
    guard let sv = rawAllocate(T.self, k), let si = rawAllocate(Int.self, k) else {
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
@inlinable
func rowArgmax<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> Int {
    let m = rowMinMax(x, n).max
    if rowHasNonFinite(x, n) {
        for j in 0..<n where x[j].isNaN { return j }
    }
    for j in 0..<n where x[j] == m { return j }
    return 0  // every element is -inf or NaN-free -inf: the first one
}

/// Whether any element is NaN or infinite: `x * 0` sums to NaN exactly then.
@inlinable
func rowHasNonFinite<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> Bool {
    var acc = T.Vector(repeating: 0)
    let zero = T.Vector(repeating: 0)
    let w = T.width
    var i = 0
    while i + w <= n { acc += vload(x + i) * zero; i += w }
    if i < n { acc += vloadPartial(x + i, n - i, fill: 0) * zero }
    return acc.sum().isNaN
}

/// Inserts `(v, j)` into the sorted candidates `vals/idx[0..<count]` (capacity
/// `k`) if it ranks among the first `k`; returns the new count.
@inlinable @inline(__always)
func insertCandidate<T: KernelScalar>(_ v: T, _ j: Int, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
                                      _ count: Int, _ k: Int) -> Int {
    if count == k && !ranksBefore(v, j, vals[k - 1], idx[k - 1]) { return count }
    var p = count == k ? k - 1 : count
    while p > 0 && ranksBefore(v, j, vals[p - 1], idx[p - 1]) {
        vals[p] = vals[p - 1]; idx[p] = idx[p - 1]
        p -= 1
    }
    vals[p] = v; idx[p] = j
    return count == k ? k : count + 1
}

/// The first `k` of the row in rank order. Small `k`: one pass keeping a
/// sorted candidate list (the k-th value is the admission threshold); large
/// `k`: a full sort of the indices.
@inlinable
func rowTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ k: Int,
                              _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>) {
    guard k > 0 else { return }
    if k <= 64 {
        var c = 0
        for j in 0..<n { c = insertCandidate(x[j], j, vals, idx, c, k) }
        return
    }
    var order = Array(0..<n)
    order.sort { ranksBefore(x[$0], $0, x[$1], $1) }
    for j in 0..<k { vals[j] = x[order[j]]; idx[j] = order[j] }
}

/// Fused softmax + top-k of one row: per-lane running maxima and rescaled
/// sums (online normalizer), folded into a double every block; candidates
/// are admitted a block of vectors at a time when the block's max beats the
/// current k-th logit. Writes probabilities, not logits, to `vals`.
@inlinable
func rowSoftmaxTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ k: Int, _ invT: T,
                                     _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>) {
    guard k > 0 else { return }
    let w = T.width
    let vInvT = T.Vector(repeating: invT)
    // A finite floor instead of -inf keeps (old max - new max) from being inf - inf.
    var mv = T.Vector(repeating: -T.greatestFiniteMagnitude)
    var sv = T.Vector(repeating: 0)
    var bigM = -T.infinity, total = 0.0
    var c = 0
    var sinceFold = 0

    func fold() {
        let lm = T.vreduceMax(mv)
        let newM = lm > bigM ? lm : bigM
        if total != 0 && newM != bigM { total *= Double(T.libmExp((bigM - newM) * invT)) }
        for l in 0..<w where sv[l] != 0 {
            total += Double(sv[l]) * Double(T.libmExp((mv[l] - newM) * invT))
        }
        bigM = newM
        sv = T.Vector(repeating: 0)
        sinceFold = 0
    }

    @inline(__always) func admit(_ start: Int, _ end: Int) {
        for j in start..<end { c = insertCandidate(x[j], j, vals, idx, c, k) }
    }

    var i = 0
    while i + 4 * w <= n {
        let x0 = vload(x + i), x1 = vload(x + i + w), x2 = vload(x + i + 2 * w), x3 = vload(x + i + 3 * w)
        let cm = T.vmax(T.vmax(x0, x1), T.vmax(x2, x3))
        let nm = T.vmax(mv, cm)
        sv = sv * T.vexp((mv - nm) * vInvT)
            + (T.vexp((x0 - nm) * vInvT) + T.vexp((x1 - nm) * vInvT))
            + (T.vexp((x2 - nm) * vInvT) + T.vexp((x3 - nm) * vInvT))
        mv = nm
        if c < k || T.vreduceMax(cm) > vals[k - 1] { admit(i, i + 4 * w) }
        i += 4 * w
        sinceFold += 4 * w
        if sinceFold >= accumulationBlock { fold() }
    }
    while i < n {
        let r = min(w, n - i)
        let xv = r == w ? vload(x + i) : vloadPartial(x + i, r, fill: -.infinity)
        let nm = T.vmax(mv, xv)
        sv = sv * T.vexp((mv - nm) * vInvT) + T.vexp((xv - nm) * vInvT)
        mv = nm
        admit(i, i + r)
        i += r
    }
    fold()
    for j in 0..<k {
        vals[j] = T(Double(T.libmExp((vals[j] - bigM) * invT)) / total)
    }
}
