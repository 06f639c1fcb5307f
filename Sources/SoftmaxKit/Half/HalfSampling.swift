/// Sampling from float16 and bfloat16 logits: each block of fibres is
/// widened (exactly) into float32 scratch and sampled by the float32 kernel
/// with the block's stream rows, so the draws are those of the float32 call
/// on the widened logits with the same seed and options, bit for bit.
/// Log-probabilities are float32.

/// Draws `options.numSamples` indices per fibre of half `logits`, as
/// ``sample(_:mask:indices:logProbs:extents:options:seed:)`` on the logits
/// widened to float32 (same draws); `logProbs` (when given) is float32.
/// Same arguments and errors, plus `.outOfMemory` for scratch.
public func sample<H: HalfFloat>(
    _ logits: UnsafeBufferPointer<H>, mask: UnsafeBufferPointer<UInt8>? = nil,
    indices: UnsafeMutableBufferPointer<Int>, logProbs: UnsafeMutableBufferPointer<Float>? = nil,
    extents e: Extents, options: SamplingOptions = SamplingOptions(), seed: UInt64
) throws(SoftmaxKitError) {
    let (plan, outCount, layout) = try checkSampleBuffers(logits, mask: mask, indices: indices, logProbs: logProbs,
                                                          extents: e, options: options, seed: seed)
    guard outCount > 0 else { return }
    guard e.count > 0 else {
        // n == 0: every draw is -1 (log-probability NaN), as float32.
        try sample(UnsafeBufferPointer<Float>(start: nil, count: 0), mask: mask, indices: indices, logProbs: logProbs,
                   extents: e, options: options, seed: seed)
        return
    }
    let per = e.n * e.inner, drawsPer = plan.draws * e.inner
    let ip = indices.baseAddress!, lp = logProbs?.baseAddress, full = layout == .full
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(logits)!, per)],
                       outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
        let c = r.count, lo = r.lowerBound
        var o = options
        o.rowOffset = options.rowOffset &+ UInt64(truncatingIfNeeded: lo * e.inner)
        let m = mask.map { full ? UnsafeBufferPointer(rebasing: $0[(lo * per)..<((lo + c) * per)]) : $0 }
        try sample(UnsafeBufferPointer(start: ins[0], count: c * per), mask: m,
                   indices: UnsafeMutableBufferPointer(start: ip + lo * drawsPer, count: c * drawsPer),
                   logProbs: lp.map { UnsafeMutableBufferPointer(start: $0 + lo * drawsPer, count: c * drawsPer) },
                   extents: Extents(checked: c, e.n, e.inner), options: o, seed: seed)
    }
}

/// Samples a half array viewed as `shape` (default: 1-D) over `axis`:
/// `(indices, logProbs)` as the float32 array form, the log-probabilities
/// in float32; the same draws as the float32 call on the widened logits.
public func sample<H: HalfFloat>(
    _ logits: [H], shape: [Int]? = nil, axis: Int = -1, temperature: Double = 1, topK: Int? = nil,
    topP: Double? = nil, minP: Double? = nil, mask: [Bool]? = nil, numSamples: Int = 1,
    replacement: Bool = true, seed: UInt64, rowOffset: UInt64 = 0
) throws(SoftmaxKitError) -> (indices: [Int], logProbs: [Float]) {
    let options = SamplingOptions(temperature: temperature, topK: topK ?? 0, topP: topP ?? 1, minP: minP ?? 0,
                                  numSamples: numSamples, replacement: replacement, rowOffset: rowOffset)
    return try sampleArrays(logits, shape: shape, axis: axis, mask: mask, options: options) { (xb, mb, ib, lb: UnsafeMutableBufferPointer<Float>, e) throws(SoftmaxKitError) in
        try sample(xb, mask: mb, indices: ib, logProbs: lb, extents: e, options: options, seed: seed)
    }
}
