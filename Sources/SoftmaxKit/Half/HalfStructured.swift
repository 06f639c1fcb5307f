/// hardmax, partitioned activations, segment softmax, hierarchical softmax
/// and masked softmax / log-softmax with per-fibre lengths on float16 and
/// bfloat16 tensors, through ``HalfBlocks``: read as float32, the float32
/// kernel on each widened block, each half output rounded once to nearest
/// even. Same arguments, edge cases and errors as the float32 functions,
/// plus `.outOfMemory` for the block scratch. Log-softmax outputs (a
/// partition's `log_softmax` segments, the masked log-softmax) come from
/// ``halfLogFibres``, whose sum near a log-probability of 0 is taken again
/// in double, so that they too are within an ulp of the half result.

// MARK: Hardmax

/// One-hot of each fibre's first maximum of a half tensor into `y` (`y`
/// may be `x`): exactly 0 and 1 in the input's type. Errors as
/// ``hardmax(_:into:extents:)``.
public func hardmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>, extents e: Extents
) throws(SoftmaxKitError) {
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    try checkAliasing(x, y, count: e.count)
    guard e.count > 0 else { return }
    let per = e.n * e.inner
    // The argmax of each widened block, then the one-hot written straight
    // into y (0 and 1 are exact: nothing to round).
    let yp = halfBits(y)!, one: UInt16 = H.halfFormat == .binary16 ? 0x3c00 : 0x3f80, n = e.n, inner = e.inner
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
        let c = r.count
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: c * inner) { (index) throws(SoftmaxKitError) in
            try argmax(UnsafeBufferPointer(start: ins[0], count: c * per), into: index, extents: Extents(checked: c, n, inner))
            let out = yp + r.lowerBound * per
            out.update(repeating: 0, count: c * per)
            for o in 0..<c {
                for i in 0..<inner { out[(o * n + index[o * inner + i]) * inner + i] = one }
            }
        }
    }
}

/// Hardmax of a half array viewed as `shape` over `axis`.
public func hardmax<H: HalfFloat>(_ x: [H], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in try hardmax(xb, into: yb, extents: e) }
}

// MARK: Partitioned

/// `layout` applied to every fibre of a half tensor over the `n` extent,
/// into `y` (`y` may be `x`). Errors as ``partitioned(_:layout:into:extents:)``.
public func partitioned<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, layout: [PartitionSegment], into y: UnsafeMutableBufferPointer<H>, extents: Extents
) throws(SoftmaxKitError) {
    try layout.withUnsafeBufferPointer { (l) throws(SoftmaxKitError) in try partitioned(x, layout: l, into: y, extents: extents) }
}

/// As the half ``partitioned(_:layout:into:extents:)`` with the layout in a buffer.
public func partitioned<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, layout: UnsafeBufferPointer<PartitionSegment>, into y: UnsafeMutableBufferPointer<H>,
    extents e: Extents
) throws(SoftmaxKitError) {
    try checkLayout(layout, n: e.n)
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    try checkAliasing(x, y, count: e.count)
    try checkDisjoint(UnsafeRawPointer(layout.baseAddress), layout.count * MemoryLayout<PartitionSegment>.stride,
                      UnsafeRawPointer(y.baseAddress), e.count * MemoryLayout<H>.stride, names: ("layout", "y"))
    guard e.count > 0 else { return }
    // The float32 kernel takes every segment but the log-softmax ones (an
    // identity copy in their place), which halfLogFibres then writes.
    let logSegments = layout.contains { $0.activation == .logSoftmax && $0.width > 0 }
    let plain = layout.map { $0.activation == .logSoftmax ? PartitionSegment(width: $0.width, activation: .identity) : $0 }
    let per = e.n * e.inner, inner = e.inner
    try plain.withUnsafeBufferPointer { (pl) throws(SoftmaxKitError) in
        try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                           outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
            let c = r.count
            try partitioned(UnsafeBufferPointer(start: ins[0], count: c * per), layout: pl,
                            into: UnsafeMutableBufferPointer(start: outs[0], count: c * per),
                            extents: Extents(checked: c, e.n, inner))
            guard logSegments else { return }
            var start = 0
            for s in layout {
                defer { start += s.width }
                guard s.activation == .logSoftmax, s.width > 0 else { continue }
                // A segment of a slice is a contiguous (width, inner) block.
                for o in 0..<c {
                    let at = o * per + start * inner
                    halfLogFibres(ins[0] + at, outs[0] + at, nil, slices: 1, s.width, inner, invT: 1)
                }
            }
        }
    }
}

/// Partitioned activations of a half array viewed as `shape` over `axis`.
public func partitioned<H: HalfFloat>(
    _ x: [H], layout: [PartitionSegment], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try partitioned(xb, layout: layout, into: yb, extents: e)
    }
}

// MARK: Segment softmax

/// Segment softmax (CSR `offsets`) of every fibre of a half tensor into `y`
/// (`y` may be `x`). Errors as ``segmentSoftmax(_:offsets:into:extents:)``.
public func segmentSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, offsets: [Int], into y: UnsafeMutableBufferPointer<H>, extents e: Extents
) throws(SoftmaxKitError) {
    try checkOffsets(offsets, n: e.n)
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    try checkAliasing(x, y, count: e.count)
    guard e.count > 0 else { return }
    let per = e.n * e.inner
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count
        try segmentSoftmax(UnsafeBufferPointer(start: ins[0], count: c * per), offsets: offsets,
                           into: UnsafeMutableBufferPointer(start: outs[0], count: c * per),
                           extents: Extents(checked: c, e.n, e.inner))
    }
}

/// Segment softmax of a half array viewed as `shape` over `axis`.
public func segmentSoftmax<H: HalfFloat>(
    _ x: [H], offsets: [Int], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try segmentSoftmax(xb, offsets: offsets, into: yb, extents: e)
    }
}

// MARK: Hierarchical softmax

/// Hierarchical softmax of `batch` half rows into `y` (`batch * sum(sizes)`
/// elements, the input's type); `y` may be `fine` but must not overlap
/// `coarse`. Errors as ``hierarchicalSoftmax(coarse:fine:sizes:into:batch:conditional:)``.
public func hierarchicalSoftmax<H: HalfFloat>(
    coarse: UnsafeBufferPointer<H>, fine: UnsafeBufferPointer<H>, sizes: [Int],
    into y: UnsafeMutableBufferPointer<H>, batch: Int, conditional: Bool = false
) throws(SoftmaxKitError) {
    let width = try checkHierarchical(coarse: coarse, fine: fine, sizes: sizes, y: y, batch: batch)
    guard width > 0, batch > 0 else { return }
    let groups = sizes.count
    try HalfBlocks.run(H.halfFormat, slices: batch, inputs: [(halfBits(coarse)!, groups), (halfBits(fine)!, width)],
                       outputs: [(halfBits(y)!, width)]) { (r, ins, outs) throws(SoftmaxKitError) in
        hierarchicalRows(ins[0], ins[1], outs[0], sizes: sizes, width: width, batch: r.count, conditional: conditional)
    }
}

/// Hierarchical softmax of half arrays: `coarse` `[B, K]`, `fine` `[B, sum(sizes)]`.
public func hierarchicalSoftmax<H: HalfFloat>(
    coarse: [H], fine: [H], sizes: [Int], conditional: Bool = false
) throws(SoftmaxKitError) -> [H] {
    guard !sizes.isEmpty, coarse.count % sizes.count == 0 else {
        throw .shape("coarse holds \(coarse.count) elements, not a multiple of the \(sizes.count) groups in sizes")
    }
    let batch = coarse.count / sizes.count
    let width = sizes.reduce(0, &+)
    guard fine.count == batch &* width else {
        throw .shape("fine holds \(fine.count) elements but \(batch) rows of sum(sizes) = \(width) need \(batch &* width)")
    }
    return try halfMapArray(fine, nil, -1) { (fb, yb, _) throws(SoftmaxKitError) in
        try coarse.withUnsafeBufferPointer { (cb) throws(SoftmaxKitError) in
            try hierarchicalSoftmax(coarse: cb, fine: fb, sizes: sizes, into: yb, batch: batch, conditional: conditional)
        }
    }
}

// MARK: Masked with lengths

/// Masked softmax of a half tensor over the `n` extent where each fibre
/// takes part up to its length (`y` may be `x`). Errors as
/// ``maskedSoftmax(_:lengths:into:extents:renormalize:)``.
public func maskedSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, lengths: UnsafeBufferPointer<Int64>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents, renormalize: Bool = true
) throws(SoftmaxKitError) {
    try halfLengths(renormalize ? .softmax : .softmaxThenMask, x, lengths, y, extents)
}

/// Masked log-softmax of a half tensor with per-fibre lengths; padding
/// positions and zero-length fibres are `-inf`.
public func maskedLogSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, lengths: UnsafeBufferPointer<Int64>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents
) throws(SoftmaxKitError) {
    try halfLengths(.logSoftmax, x, lengths, y, extents)
}

/// Masked softmax of a half array viewed as `shape` over `axis`, each fibre
/// taking part up to its length (one per fibre, C order).
public func maskedSoftmax<H: HalfFloat>(
    _ x: [H], lengths: [Int], shape: [Int]? = nil, axis: Int = -1, renormalize: Bool = true
) throws(SoftmaxKitError) -> [H] {
    let l = lengths.map { Int64($0) }
    return try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try l.withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try maskedSoftmax(xb, lengths: lb, into: yb, extents: e, renormalize: renormalize)
        }
    }
}

/// Masked log-softmax of a half array with per-fibre lengths.
public func maskedLogSoftmax<H: HalfFloat>(
    _ x: [H], lengths: [Int], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [H] {
    let l = lengths.map { Int64($0) }
    return try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try l.withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e)
        }
    }
}

/// The float32 lengths kernel on each block of slices, with the block's
/// lengths. The log-softmax instead takes the half log-softmax of each
/// row's prefix (``halfLogFibres``) and fills the padding with `-inf`;
/// down a middle axis it sets the padding inputs of the block's scratch to
/// `-inf`, takes the half log-softmax of its fibres and sets the padding
/// outputs to `-inf` (either way a zero-length fibre is all `-inf`, and a
/// NaN spreads over its own fibre's taking-part positions only, as in float32).
func halfLengths<H: HalfFloat>(_ kind: MaskedKind, _ x: UnsafeBufferPointer<H>, _ lengths: UnsafeBufferPointer<Int64>,
                               _ y: UnsafeMutableBufferPointer<H>, _ e: Extents) throws(SoftmaxKitError) {
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    let fibres = e.outer * e.inner
    guard lengths.count == fibres else {
        throw .shape("lengths holds \(lengths.count) values but there are \(fibres) fibres (outer \(e.outer) x inner \(e.inner)): one length per fibre")
    }
    try checkAliasing(x, y, count: e.count)
    try checkDisjoint(UnsafeRawPointer(lengths.baseAddress), fibres * 8,
                      UnsafeRawPointer(y.baseAddress), e.count * MemoryLayout<H>.stride, names: ("lengths", "y"))
    for (f, l) in lengths.enumerated() where l < 0 || l > Int64(e.n) {
        throw .invalid("lengths[\(f)] is \(l) but must be in [0, \(e.n)] (the axis length)")
    }
    guard e.count > 0 else { return }
    let n = e.n, inner = e.inner, per = n * inner, lp = lengths.baseAddress!
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count
        let lb = UnsafeBufferPointer(start: lp + r.lowerBound * inner, count: c * inner)
        guard kind == .logSoftmax else {
            try LengthsKernel<Float>.run(kind, UnsafeBufferPointer(start: ins[0], count: c * per), lb,
                                         UnsafeMutableBufferPointer(start: outs[0], count: c * per),
                                         Extents(checked: c, n, inner))
            return
        }
        if inner == 1 {
            // Rows: each row's prefix alone (no -inf in the exp-sum).
            for o in 0..<c {
                let len = Int(lb[o]), xs = ins[0] + o * n, ys = outs[0] + o * n
                if len > 0 { halfLogFibres(xs, ys, nil, slices: 1, len, 1, invT: 1) }
                (ys + len).update(repeating: -.infinity, count: n - len)
            }
            return
        }
        func padding(_ fill: UnsafeMutablePointer<Float>) {
            for o in 0..<c {
                for i in 0..<inner {
                    let base = o * per + i
                    for j in Int(lb[o * inner + i])..<n { fill[base + j * inner] = -.infinity }
                }
            }
        }
        padding(ins[0])
        halfLogFibres(ins[0], outs[0], nil, slices: c, n, inner, invT: 1)
        padding(outs[0])
    }
}
