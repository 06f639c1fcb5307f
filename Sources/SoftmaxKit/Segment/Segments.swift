/// Segment softmax: ragged groups along the `n` extent given by CSR offsets
/// `[0, o_1, ..., n]` (as torch_geometric's `softmax(src, ptr=...)`): group
/// `g` is positions `offsets[g] ..< offsets[g + 1]`, normalised on its own.
/// Empty groups are allowed and write nothing; every position belongs to
/// exactly one group.

/// Segment softmax of every fibre of `x` into `y` (`y` may be `x`).
/// - Throws: `.indexOutOfRange` when `offsets` is empty, does not start at 0,
///   does not end at `extents.n` or decreases; the buffer errors of
///   ``softmax(_:into:extents:temperature:)``. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func segmentSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, offsets: [Int], into y: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    try checkOffsets(offsets, n: extents.n)
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, extents.count)
    try checkAliasing(x, y, count: extents.count)
    guard extents.count > 0 else { return }
    if extents.inner == 1, let short = ShortRows<T>(extents.n), short.vectors <= ShortPlan.maxVectors {
        // Each group is a softmax segment of a partition (empty groups write nothing).
        let layout = (0..<(offsets.count - 1)).map {
            PartitionSegment(width: offsets[$0 + 1] - offsets[$0], activation: .softmax)
        }
        layout.withUnsafeBufferPointer { shortPartitioned(x.baseAddress!, y.baseAddress!, $0, rows: extents.outer, short) }
        return
    }
    if extents.inner > 1 {
        // Each group of each outer block is a column softmax of its own:
        // the vectorized column kernels, no transpose and no scratch.
        let xp = x.baseAddress!, yp = y.baseAddress!, n = extents.n, inner = extents.inner
        parallelFor(extents.outer, work: extents.count) { blocks in
            for o in blocks {
                for g in 0..<(offsets.count - 1) where offsets[g + 1] > offsets[g] {
                    let at = (o * n + offsets[g]) * inner
                    Columns<T>.run(.softmax, xp + at, yp + at, Extents(block: offsets[g + 1] - offsets[g], inner: inner),
                                   0..<1, invT: 1)
                }
            }
        }
        return
    }
    try forEachFibre(x.baseAddress!, y.baseAddress!, extents) { xr, yr in
        for g in 0..<(offsets.count - 1) {
            let a = offsets[g]
            applyActivation(.softmax, xr + a, yr + a, offsets[g + 1] - a)
        }
    }
}

/// Segment softmax of an array viewed as `shape` over `axis`.
public func segmentSoftmax<T: KernelScalar>(
    _ x: [T], offsets: [Int], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try segmentSoftmax(xb, offsets: offsets, into: yb, extents: e)
    }
}

/// Offsets must be a partition of `0 ..< n`: `[0, ..., n]`, never decreasing.
@usableFromInline
func checkOffsets(_ offsets: [Int], n: Int) throws(SoftmaxKitError) {
    guard let first = offsets.first, let last = offsets.last else {
        throw SoftmaxKitError(.indexOutOfRange, "offsets must hold at least one entry ([0] for n == 0), got none")
    }
    guard first == 0 else {
        throw SoftmaxKitError(.indexOutOfRange, "offsets must start at 0, got \(first)")
    }
    guard last == n else {
        throw SoftmaxKitError(.indexOutOfRange, "offsets must end at the axis length \(n), got \(last)")
    }
    for g in 1..<offsets.count where offsets[g] < offsets[g - 1] {
        throw SoftmaxKitError(.indexOutOfRange,
                              "offsets must never decrease, got offsets[\(g - 1)] = \(offsets[g - 1]) > offsets[\(g)] = \(offsets[g])")
    }
}
