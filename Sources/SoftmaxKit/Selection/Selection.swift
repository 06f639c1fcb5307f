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
///            Over a middle axis, `Selection+Columns.swift` (two passes down the columns).
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
/// floor-and-candidates row kernel up to here and lose to it from 48 on
/// (BENCHMARKS.md, softmax top-k).
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
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in try hardmax(xb, into: yb, extents: e) }
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

