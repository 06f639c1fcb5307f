/// sigmoid, log-sigmoid, masked softmax / log-softmax, argmax and top-k on
/// float16 and bfloat16 tensors, through ``HalfBlocks``: read as float32,
/// the float32 kernel on each widened block, each half output rounded once
/// to nearest even. Same arguments, edge cases and errors as the float32
/// functions. argmax and top-k rank the widened values, which keep the
/// half inputs' order exactly; top-k's values are the inputs themselves.

// MARK: Sigmoid

/// Sigmoid of `count` half elements from `x` into `y` (`y` may be `x`).
/// Errors as ``sigmoid(_:into:count:)``, plus `.outOfMemory` for scratch.
public func sigmoid<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>, count: Int
) throws(SoftmaxKitError) {
    try halfElementwise(x, y, count) { sigmoidKernel($0, $1, $2) }
}

/// Log-sigmoid of `count` half elements from `x` into `y` (`y` may be `x`).
public func logSigmoid<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>, count: Int
) throws(SoftmaxKitError) {
    try halfElementwise(x, y, count) { logSigmoidKernel($0, $1, $2) }
}

/// Sigmoid of every element of a half array.
public func sigmoid<H: HalfFloat>(_ x: [H]) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, nil, -1) { (xb, yb, _) throws(SoftmaxKitError) in try sigmoid(xb, into: yb, count: x.count) }
}

/// Log-sigmoid of every element of a half array.
public func logSigmoid<H: HalfFloat>(_ x: [H]) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, nil, -1) { (xb, yb, _) throws(SoftmaxKitError) in try logSigmoid(xb, into: yb, count: x.count) }
}

/// An element-wise float32 kernel over half blocks (one element per slice;
/// a block is a multiple of the sigmoid's exp-path blocks, so the result
/// does not depend on the thread count).
func halfElementwise<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, _ y: UnsafeMutableBufferPointer<H>, _ count: Int,
    _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
) throws(SoftmaxKitError) {
    try checkElementwise(x, y, count)
    guard count > 0 else { return }
    try HalfBlocks.run(H.halfFormat, slices: count, inputs: [(halfBits(x)!, 1)],
                       outputs: [(halfBits(y)!, 1)]) { (r, ins, outs) throws(SoftmaxKitError) in
        kernel(ins[0], outs[0], r.count)
    }
}

// MARK: Masked

/// Masked softmax of a half tensor over the `n` extent into `y` (`y` may be
/// `x`); `mask` as ``maskedSoftmax(_:mask:into:extents:renormalize:)``
/// (full-shape or one `n`-long pattern), same errors.
public func maskedSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, mask: UnsafeBufferPointer<UInt8>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents, renormalize: Bool = true
) throws(SoftmaxKitError) {
    try halfMasked(renormalize ? .softmax : .softmaxThenMask, x, mask, y, extents)
}

/// Masked log-softmax of a half tensor over the `n` extent into `y` (`y` may
/// be `x`); unselected and fully masked positions are `-inf`.
public func maskedLogSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, mask: UnsafeBufferPointer<UInt8>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents
) throws(SoftmaxKitError) {
    try halfMasked(.logSoftmax, x, mask, y, extents)
}

/// Masked softmax of a half array viewed as `shape` over `axis`; `mask` holds
/// `x.count` entries or the length of `axis` (a pattern).
public func maskedSoftmax<H: HalfFloat>(
    _ x: [H], mask: [Bool], shape: [Int]? = nil, axis: Int = -1, renormalize: Bool = true
) throws(SoftmaxKitError) -> [H] {
    let bytes = mask.map { $0 ? UInt8(1) : 0 }
    return try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try bytes.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in
            try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: renormalize)
        }
    }
}

/// Masked log-softmax of a half array; arguments as the half array ``maskedSoftmax(_:mask:shape:axis:renormalize:)``.
public func maskedLogSoftmax<H: HalfFloat>(
    _ x: [H], mask: [Bool], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [H] {
    let bytes = mask.map { $0 ? UInt8(1) : 0 }
    return try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try bytes.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in
            try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
        }
    }
}

/// The float32 masked kernel on each block of slices, with the block's part
/// of a full-shape mask (a pattern mask is the same for every block). The
/// log-softmax instead sets the unselected inputs of the block's scratch to
/// `-inf`, takes the half log-softmax of its fibres (``halfLogFibres``: the
/// sum near a log-probability of 0 again in double) and sets the unselected
/// outputs to `-inf`, which is the masked log-softmax with every edge case
/// of the float32 kernel (a fully masked fibre: all `-inf`; NaN only where
/// selected).
func halfMasked<H: HalfFloat>(_ kind: MaskedKind, _ x: UnsafeBufferPointer<H>, _ mask: UnsafeBufferPointer<UInt8>,
                              _ y: UnsafeMutableBufferPointer<H>, _ e: Extents) throws(SoftmaxKitError) {
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    let layout = try maskLayout(mask.count, e)
    try checkAliasing(x, y, count: e.count)
    try checkDisjoint(UnsafeRawPointer(mask.baseAddress), mask.count,
                      UnsafeRawPointer(y.baseAddress), e.count * MemoryLayout<H>.stride, names: ("mask", "y"))
    guard e.count > 0 else { return }
    let per = e.n * e.inner, mp = mask.baseAddress!
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count
        let m = layout == .full ? UnsafeBufferPointer(start: mp + r.lowerBound * per, count: c * per) : mask
        if kind == .logSoftmax {
            let xs = ins[0], ys = outs[0], n = e.n, inner = e.inner
            func unselected(_ fill: UnsafeMutablePointer<Float>) {
                for at in 0..<(c * per) where m[layout == .full ? at : (at / inner) % n] == 0 {
                    fill[at] = -.infinity
                }
            }
            unselected(xs)
            halfLogFibres(xs, ys, nil, slices: c, n, inner, invT: 1)
            unselected(ys)
            return
        }
        try MaskedKernel<Float>.run(kind, UnsafeBufferPointer(start: ins[0], count: c * per), m,
                                    UnsafeMutableBufferPointer(start: outs[0], count: c * per),
                                    Extents(checked: c, e.n, e.inner))
    }
}

// MARK: Selection

/// Index of the first maximum of each fibre of a half tensor into `index`
/// (`outer * inner` entries). Errors as ``argmax(_:into:extents:)``.
public func argmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into index: UnsafeMutableBufferPointer<Int>, extents e: Extents
) throws(SoftmaxKitError) {
    let out = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("index", index.count, out)
    try checkSeparate(index, "index", from: x, "x")
    guard out > 0 else { return }
    guard e.n > 0 else { throw .invalid("argmax of an empty axis (n == 0) is undefined") }
    let ip = index.baseAddress!, per = e.n * e.inner
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
        let c = r.count
        try argmax(UnsafeBufferPointer(start: ins[0], count: c * per),
                   into: UnsafeMutableBufferPointer(start: ip + r.lowerBound * e.inner, count: c * e.inner),
                   extents: Extents(checked: c, e.n, e.inner))
    }
}

/// The `k` largest elements of each fibre of a half tensor, sorted, into
/// `values` (the input's type) and `indices`, both `(outer, k, inner)`.
/// Errors as ``topK(_:k:values:indices:extents:)``.
public func topK<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, k: Int, values: UnsafeMutableBufferPointer<H>,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents
) throws(SoftmaxKitError) {
    try halfSelect(x, k: k, values: values, valuesName: "values", indices: indices, extents: e) {
        (xb, k, vb, ib, e) throws(SoftmaxKitError) in
        try topK(xb, k: k, values: vb, indices: ib, extents: e)
    }
}

/// Argmax of a half array viewed as `shape` over `axis`.
public func argmax<H: HalfFloat>(_ x: [H], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [Int] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var out = [Int](repeating: 0, count: e.reducedCount)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try out.withUnsafeMutableBufferPointer { (ob) throws(SoftmaxKitError) in try argmax(xb, into: ob, extents: e) }
    }
    return out
}

/// Top-k of a half array viewed as `shape` over `axis`: `(values, indices)`, the axis replaced by `k`.
public func topK<H: HalfFloat>(_ x: [H], k: Int, shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> (values: [H], indices: [Int]) {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n) (the axis length), got \(k)") }
    let count = e.outer * k * e.inner
    var v = [H](repeating: H.init(halfBits: 0), count: count), ix = [Int](repeating: 0, count: count)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try v.withUnsafeMutableBufferPointer { (vb) throws(SoftmaxKitError) in
            try ix.withUnsafeMutableBufferPointer { (ib) throws(SoftmaxKitError) in
                try topK(xb, k: k, values: vb, indices: ib, extents: e)
            }
        }
    }
    return (v, ix)
}

extension HalfFloat {
    /// The value with these 16 bits.
    init(halfBits bits: UInt16) { self = unsafeBitCast(bits, to: Self.self) }
}

/// top-k and softmax + top-k on half input: checks `k` and the buffers, then
/// runs the float32 selection `op` on each widened block, its values rounded
/// into `values` and its indices written straight into `indices`.
func halfSelect<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, k: Int, values: UnsafeMutableBufferPointer<H>, valuesName: String,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents,
    _ op: (UnsafeBufferPointer<Float>, Int, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Int>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) {
    guard try checkHalfSelect(x, k: k, values: values, valuesName: valuesName, indices: indices, extents: e) > 0 else { return }
    let ip = indices.baseAddress!, per = k * e.inner
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, e.n * e.inner)],
                       outputs: [(halfBits(values)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count
        try op(UnsafeBufferPointer(start: ins[0], count: c * e.n * e.inner), k,
               UnsafeMutableBufferPointer(start: outs[0], count: c * per),
               UnsafeMutableBufferPointer(start: ip + r.lowerBound * per, count: c * per),
               Extents(checked: c, e.n, e.inner))
    }
}
