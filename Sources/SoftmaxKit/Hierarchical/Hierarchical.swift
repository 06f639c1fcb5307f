/// Two-level (hierarchical) softmax: a hierarchical output layer.
///
/// Coarse logits `[B, K]` choose a group, fine logits `[B, F]` with
/// `F = sum(sizes)` choose within it; group `k` owns fine positions
/// `offset_k ..< offset_k + sizes[k]`, `offset_k = sizes[0] + ... + sizes[k-1]`:
///
///   joint        y[b, offset_k + j] = softmax(coarse[b])_k * softmax(fine[b, group k])_j
///   conditional  y[b, offset_k + j] = softmax(fine[b, group k])_j
/// Each joint row sums to 1; each conditional group sums to 1. NaN and `-inf`
/// follow the softmax rules within each factor.

/// Hierarchical softmax of `batch` rows into `y` (`batch * sum(sizes)` elements).
/// `y` may be `fine` (in place) but must not overlap `coarse`.
/// - Throws: `.invalidArgument` for `batch < 0`, a size < 1, or overlapping
///   buffers; `.shapeMismatch` when `coarse`, `fine` or `y` are shorter than
///   `batch * sizes.count` / `batch * sum(sizes)`. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func hierarchicalSoftmax<T: KernelScalar>(
    coarse: UnsafeBufferPointer<T>, fine: UnsafeBufferPointer<T>, sizes: [Int],
    into y: UnsafeMutableBufferPointer<T>, batch: Int, conditional: Bool = false
) throws(SoftmaxKitError) {
    let width = try checkHierarchical(coarse: coarse, fine: fine, sizes: sizes, y: y, batch: batch)
    guard width > 0, batch > 0 else { return }
    hierarchicalRows(coarse.baseAddress!, fine.baseAddress!, y.baseAddress!, sizes: sizes, width: width,
                     batch: batch, conditional: conditional)
}

/// Hierarchical softmax's checks for any element type `T`: batch and
/// sizes, the buffers' lengths, `y` either `fine` or apart from it and apart
/// from `coarse`. Returns the fine width, `sum(sizes)`.
func checkHierarchical<T>(coarse: UnsafeBufferPointer<T>, fine: UnsafeBufferPointer<T>, sizes: [Int],
                          y: UnsafeMutableBufferPointer<T>, batch: Int) throws(SoftmaxKitError) -> Int {
    guard batch >= 0 else { throw .invalid("batch must be non-negative, got \(batch)") }
    var width = 0
    for (k, s) in sizes.enumerated() {
        guard s >= 1 else { throw .invalid("sizes[\(k)] must be >= 1, got \(s)") }
        let (t, o) = width.addingReportingOverflow(s)
        guard !o else { throw .overflow("sizes overflow 64 bits") }
        width = t
    }
    let ce = try Extents(outer: batch, n: sizes.count), fe = try Extents(outer: batch, n: width)
    try checkCount("coarse", coarse.count, ce.count)
    try checkCount("fine", fine.count, fe.count)
    try checkCount("y", y.count, fe.count)
    try checkAliasing(fine, y, count: fe.count, names: ("fine", "y"))
    try checkDisjoint(UnsafeRawPointer(coarse.baseAddress), ce.count * MemoryLayout<T>.stride,
                      UnsafeRawPointer(y.baseAddress), fe.count * MemoryLayout<T>.stride, names: ("coarse", "y"))
    return width
}

/// The kernel behind ``hierarchicalSoftmax(coarse:fine:sizes:into:batch:conditional:)``
/// on checked arguments (`sizes` all >= 1 summing to `width`; the model
/// heads call this directly). `y` may be `fine`.
@inlinable
func hierarchicalRows<T: KernelScalar>(
    _ cp: UnsafePointer<T>, _ fp: UnsafePointer<T>, _ yp: UnsafeMutablePointer<T>, sizes: [Int], width: Int,
    batch: Int, conditional: Bool
) {
    let groups = sizes.count
    if let cshort = ShortRows<T>(groups), let fshort = ShortRows<T>(width), fshort.vectors <= ShortPlan.maxVectors {
        hierarchicalShort(cp, fp, yp, sizes: sizes, batch: batch, conditional: conditional, cshort, fshort)
        return
    }
    parallelFor(batch, work: batch * (groups + width)) { rows in
        for b in rows {
            // P(k) = exp(c_k - cm) / cs, from the coarse row's max and exp-sum.
            let c = cp + b * groups
            let (clo, cm) = rowMinMax(c, groups)
            let cs = conditional ? 1 : rowExpSum(c, nil, groups, shift: cm, scale: 1, lowest: clo)
            var start = b * width
            for k in 0..<groups {
                let n = sizes[k]
                let (lo, m) = rowMinMax(fp + start, n)
                let s = rowExpSum(fp + start, yp + start, n, shift: m, scale: 1, lowest: lo)
                let weight = conditional ? 1 : Double(T.libmExp(c[k] - cm)) / cs
                rowScale(yp + start, yp + start, n, T(weight / s))
                start += n
            }
        }
    }
}

/// Short coarse and fine rows: blocks of rows get their coarse softmax into
/// scratch (the joint's group probabilities), then the fine row runs as a
/// partition of softmax segments, each scaled by its group's probability.
@inlinable
func hierarchicalShort<T: KernelScalar>(
    _ cp: UnsafePointer<T>, _ fp: UnsafePointer<T>, _ yp: UnsafeMutablePointer<T>, sizes: [Int], batch: Int,
    conditional: Bool, _ cshort: ShortRows<T>, _ fshort: ShortRows<T>
) {
    let groups = cshort.n, width = fshort.n, block = 32
    let segments = sizes.map { PartitionSegment(width: $0, activation: .softmax) }
    segments.withUnsafeBufferPointer { layout in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ShortPlan.bytes(segments: groups, T.self)) { plan in
            ShortPlan.build(layout, segments: ShortPlan.normalizedSegments(layout), into: plan.baseAddress!, T.self)
            parallelFor(batch, work: batch * (groups + width)) { rows in
                withUnsafeTemporaryAllocation(of: T.self, capacity: block * groups) { p in
                    var b = rows.lowerBound
                    while b < rows.upperBound {
                        let len = min(block, rows.upperBound - b)
                        if !conditional {
                            cshort.run(ShortNormalize(.softmax, cp + b * groups, p.baseAddress!, invT: 1), 0..<len)
                        }
                        let fine = ShortPartition(fp + b * width, yp + b * width, plan: plan.baseAddress!, segments: groups,
                                                  layout: layout, weights: conditional ? nil : UnsafePointer(p.baseAddress!))
                        fshort.run(fine, 0..<len)
                        b += len
                    }
                }
            }
        }
    }
}

/// Hierarchical softmax of arrays: `coarse` `[B, K]`, `fine` `[B, sum(sizes)]`.
/// `B` is `coarse.count / sizes.count`.
public func hierarchicalSoftmax<T: KernelScalar>(
    coarse: [T], fine: [T], sizes: [Int], conditional: Bool = false
) throws(SoftmaxKitError) -> [T] {
    guard !sizes.isEmpty, coarse.count % sizes.count == 0 else {
        throw .shape("coarse holds \(coarse.count) elements, not a multiple of the \(sizes.count) groups in sizes")
    }
    let batch = coarse.count / sizes.count
    let width = sizes.reduce(0, &+)
    guard fine.count == batch &* width else {
        throw .shape("fine holds \(fine.count) elements but \(batch) rows of sum(sizes) = \(width) need \(batch &* width)")
    }
    return try mapArray(fine) { (fb, yb) throws(SoftmaxKitError) in
        try coarse.withUnsafeBufferPointer { (cb) throws(SoftmaxKitError) in
            try hierarchicalSoftmax(coarse: cb, fine: fb, sizes: sizes, into: yb, batch: batch, conditional: conditional)
        }
    }
}
