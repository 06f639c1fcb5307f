/// Sampling from logits over the `n` extent: temperature, top-k, top-p
/// (nucleus), min-p and a mask, one or several draws per fibre, with or
/// without replacement, from a counter-based random stream (``Philox``).
///
/// Per fibre, in this order (as llama.cpp and Hugging Face apply them):
///   1. positions whose mask byte is 0 are out (their logits, NaN and inf
///      included, are never read for the draw);
///   2. `temperature == 0` is greedy: the first maximum (argmax), every draw;
///      without replacement the `numSamples` first in selection order;
///   3. w_j = exp((x_j - m) / T), m the fibre's maximum;
///   4. top-k keeps the `topK` largest (ties to the lower index);
///   5. top-p keeps the smallest set of the largest w whose mass reaches
///      `topP` of the mass (at least one; ties to the lower index; "reaches"
///      allows 16 units of rounding of the type, so that probabilities
///      meant to sum exactly to `topP` do);
///   6. min-p drops w_j < minP * max w (less 4 units of rounding);
///   7. a draw with uniform u (``Philox``) is the first kept position in
///      index order whose running sum of w exceeds u * (sum of kept w).
///      Without replacement each draw removes its position and the next one
///      renormalizes over the rest (sequential sampling, the distribution of
///      Gumbel-top-k).
/// A fibre with nothing to draw from (n == 0, all masked or `-inf`, a NaN
/// among its unmasked logits, or `+inf` when not greedy) gives index -1 and
/// log-probability NaN; so do draws without replacement past the positions
/// of positive weight. Such fibres never fail the call.
///
/// The log-probability of a draw is that of its index under the distribution
/// it was drawn from: (x_j - m) / T - log(sum of the kept w still in play);
/// 0 for greedy draws.
///
/// Draws depend only on the seed, the stream row (`rowOffset + o * inner + i`)
/// and the draw index: not on the thread count, nor on whether a fibre is
/// sampled alone or in a batch.

/// Options of ``sample(_:mask:indices:logProbs:extents:options:seed:)``.
public struct SamplingOptions: Sendable, Equatable {
    /// > 0, or 0 for greedy (argmax). Default 1.
    public var temperature: Double
    /// Keep the `topK` most probable positions; 0 (default) is off. Values
    /// at or above `n` keep everything.
    public var topK: Int
    /// Nucleus mass in (0, 1]; 1 (default) is off.
    public var topP: Double
    /// In [0, 1]; 0 (default) is off.
    public var minP: Double
    /// Draws per fibre, >= 1. Default 1.
    public var numSamples: Int
    /// With replacement (default), or distinct draws.
    public var replacement: Bool
    /// The stream row of fibre 0 of this call: a fibre sampled alone with
    /// `rowOffset = r` draws what it draws as fibre `r` of a batch.
    public var rowOffset: UInt64

    public init(temperature: Double = 1, topK: Int = 0, topP: Double = 1, minP: Double = 0,
                numSamples: Int = 1, replacement: Bool = true, rowOffset: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.minP = minP
        self.numSamples = numSamples; self.replacement = replacement; self.rowOffset = rowOffset
    }
}

/// Draws `options.numSamples` indices per fibre of `logits` into `indices`,
/// laid out `(outer, numSamples, inner)`, and, when `logProbs` is given, the
/// log-probability of each (same layout). See the top of this file for the
/// semantics and ``Philox`` for the random stream.
/// - Parameter mask: nil, `extents.count` bytes (full) or `extents.n` bytes
///   (one pattern for every fibre); nonzero takes part.
/// - Throws: `.invalidArgument` for an option out of its domain (temperature
///   negative or not finite, topK < 0, topP outside (0, 1], minP outside
///   [0, 1], numSamples < 1, more distinct draws than positions that top-k
///   and the axis can keep) or overlapping buffers; `.shapeMismatch` for short
///   buffers or a mask of another length; `.sizeOverflow`; `.outOfMemory`.
///   Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func sample<T: KernelScalar>(
    _ logits: UnsafeBufferPointer<T>, mask: UnsafeBufferPointer<UInt8>? = nil,
    indices: UnsafeMutableBufferPointer<Int>, logProbs: UnsafeMutableBufferPointer<T>? = nil,
    extents e: Extents, options: SamplingOptions = SamplingOptions(), seed: UInt64
) throws(SoftmaxKitError) {
    let (plan, outCount, layout) = try checkSampleBuffers(logits, mask: mask, indices: indices, logProbs: logProbs,
                                                          extents: e, options: options, seed: seed)
    guard outCount > 0 else { return }
    let ip = indices.baseAddress!, lp = logProbs?.baseAddress
    let fibres = e.reducedCount, n = e.n, S = plan.draws
    if n == 0 {
        for r in 0..<outCount { ip[r] = -1; lp?[r] = .nan }
        return
    }
    let xp = logits.baseAddress!, mp = mask?.baseAddress, pattern = layout == .pattern
    if e.inner == 1 && fibres == 1 {
        try withSamplingScratch(plan, n: n, count: 1) { block, _ in
            sampleFibre(xp, mask: mp, n: n, plan: plan, scratch: SamplingScratch(plan, n: n, block: block), row: 0,
                        indices: ip, logProbs: lp, stride: 1)
        }
        return
    }
    if e.inner == 1 {
        let threads = plannedThreads(fibres, work: e.count)
        try withSamplingScratch(plan, n: n, count: threads) { block, bytes in
            parallelPieces(threads, threads: threads) { k in
                let s = SamplingScratch(plan, n: n, block: block + k * bytes)
                for r in (fibres * k / threads)..<(fibres * (k + 1) / threads) {
                    let m = mp.map { pattern ? $0 : $0 + r * n }
                    sampleFibre(xp + r * n, mask: m, n: n, plan: plan, scratch: s, row: UInt64(truncatingIfNeeded: r),
                                indices: ip + r * S, logProbs: lp.map { $0 + r * S }, stride: 1)
                }
            }
        }
        return
    }
    let f = try Fibres<T>(e, slots: 1, maskSlot: mp != nil && !pattern)
    defer { f.free() }
    try withSamplingScratch(plan, n: n, count: 1) { block, _ in
        let s = SamplingScratch(plan, n: n, block: block)
        for r in 0..<fibres {
            let xr = f.read(xp, r, slot: 0)
            let m = mp.map { pattern ? $0 : f.readMask($0, r) }
            let o = r / e.inner, i = r % e.inner, at = o * S * e.inner + i
            sampleFibre(xr, mask: m, n: n, plan: plan, scratch: s, row: UInt64(truncatingIfNeeded: r),
                        indices: ip + at, logProbs: lp.map { $0 + at }, stride: e.inner)
        }
    }
}

/// One short fibre without a mask, as a C caller's batch of one row: what
/// ``sample(_:mask:indices:logProbs:extents:options:seed:)`` does for
/// extents `(1, n, 1)`, `1 <= n <= drawChunk`, and buffers of exactly one
/// fibre and one draw, without its batch machinery (extents, layouts,
/// threads). Throws what that call throws, in the same order. Returns false,
/// having written nothing, when the options ask for more than one plain draw
/// (greedy, a truncation, several draws): the caller then takes the general
/// call.
@_spi(CABI)
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func sampleShortRow<T: KernelScalar>(
    _ x: UnsafePointer<T>, n: Int, index: UnsafeMutablePointer<Int>, logProb: UnsafeMutablePointer<T>?,
    options: SamplingOptions, seed: UInt64
) throws(SoftmaxKitError) -> Bool {
    let plan = try SamplingPlan<T>(options, n: n, seed: seed)
    guard !plan.greedy, plan.topK == 0, plan.topP == 1, plan.minP == 0, plan.draws == 1 else { return false }
    let xBytes = n * MemoryLayout<T>.stride
    try checkDisjoint(UnsafeRawPointer(x), xBytes, UnsafeRawPointer(index), 8, names: ("logits", "indices"))
    if let logProb {
        try checkDisjoint(UnsafeRawPointer(x), xBytes, UnsafeRawPointer(logProb), MemoryLayout<T>.stride,
                          names: ("logits", "log_probs"))
        try checkDisjoint(UnsafeRawPointer(index), 8, UnsafeRawPointer(logProb), MemoryLayout<T>.stride,
                          names: ("indices", "log_probs"))
    }
    if n <= drawChunk {
        sampleOneChunk(x, n: n, invT: plan.invT, seed: seed, row: plan.rowOffset, index: index, logProb: logProb)
        return true
    }
    try withSamplingScratch(plan, n: n, count: 1) { block, _ in
        sampleFibre(x, mask: nil, n: n, plan: plan, scratch: SamplingScratch(plan, n: n, block: block), row: 0,
                    indices: index, logProbs: logProb, stride: 1)
    }
    return true
}

/// ``sampleFibre`` for one plain draw (no mask, greedy or truncation) of a
/// fibre of one chunk (`1 <= n <= drawChunk`) at stream row `row`: the same
/// steps on a stack buffer, so the same draw and log-probability, bit for bit.
@inlinable @inline(__always)
func sampleOneChunk<T: KernelScalar>(_ x: UnsafePointer<T>, n: Int, invT: T, seed: UInt64, row: UInt64,
                                     index: UnsafeMutablePointer<Int>, logProb: UnsafeMutablePointer<T>?) {
    // Chunk sums and running sums (two each, as the scratch has), then the weights.
    withUnsafeTemporaryAllocation(byteCount: 32 + (n + T.width) * MemoryLayout<T>.stride, alignment: 16) { block in
        let sums = block.baseAddress!.bindMemory(to: Double.self, capacity: 4)
        let w = (block.baseAddress! + 32).bindMemory(to: T.self, capacity: n + T.width)
        let (lo, m) = rowMinMax(x, n)
        let total = (lo - m) * invT >= -T.expNormalLimit
            ? WeightTable<T>.exponentialChunks(x, w, n, shift: m, scale: invT, sums: sums, NormalExp.self)
            : WeightTable<T>.exponentialChunks(x, w, n, shift: m, scale: invT, sums: sums, AnyExp.self)
        guard total.isFinite, total > 0 else {  // NaN, +inf, all -inf
            index.pointee = -1
            logProb?.pointee = .nan
            return
        }
        let table = WeightTable(w, n, sums: sums, running: sums + 2, summed: true)
        let kept = table.total
        let j = kept > 0 ? table.find(Philox.uniform(seed: seed, row: row, draw: 0) * kept) : -1
        guard j >= 0 else {
            index.pointee = -1
            logProb?.pointee = .nan
            return
        }
        index.pointee = j
        logProb?.pointee = T(Double((x[j] - m) * invT) - Double.libmLog(kept))
    }
}

/// Samples an array viewed as `shape` (default: 1-D) over `axis`:
/// `(indices, logProbs)`, each `outer * numSamples * inner` long (the axis
/// replaced by `numSamples` draws). `mask`: nil, `x.count` entries, or the
/// axis length (one pattern); `true` takes part. Semantics and errors as
/// ``sample(_:mask:indices:logProbs:extents:options:seed:)``.
public func sample<T: KernelScalar>(
    _ logits: [T], shape: [Int]? = nil, axis: Int = -1, temperature: Double = 1, topK: Int? = nil,
    topP: Double? = nil, minP: Double? = nil, mask: [Bool]? = nil, numSamples: Int = 1,
    replacement: Bool = true, seed: UInt64, rowOffset: UInt64 = 0
) throws(SoftmaxKitError) -> (indices: [Int], logProbs: [T]) {
    let options = SamplingOptions(temperature: temperature, topK: topK ?? 0, topP: topP ?? 1, minP: minP ?? 0,
                                  numSamples: numSamples, replacement: replacement, rowOffset: rowOffset)
    return try sampleArrays(logits, shape: shape, axis: axis, mask: mask, options: options) { (xb, mb, ib, lb, e) throws(SoftmaxKitError) in
        try sample(xb, mask: mb, indices: ib, logProbs: lb, extents: e, options: options, seed: seed)
    }
}

/// The checks every buffer form of sampling makes before it writes: the
/// options (as a plan), the result count, the buffers' lengths, the mask's
/// layout and every pair of buffers for overlap. `L`: the log-probability
/// type (the logits' own, float32 for half logits).
func checkSampleBuffers<X, L: KernelScalar>(
    _ logits: UnsafeBufferPointer<X>, mask: UnsafeBufferPointer<UInt8>?, indices: UnsafeMutableBufferPointer<Int>,
    logProbs: UnsafeMutableBufferPointer<L>?, extents e: Extents, options: SamplingOptions, seed: UInt64
) throws(SoftmaxKitError) -> (plan: SamplingPlan<L>, outCount: Int, layout: MaskLayout?) {
    let plan = try SamplingPlan<L>(options, n: e.n, seed: seed)
    guard let outCount = elementCount(e.outer, plan.draws, e.inner) else {
        throw .overflow("outer * num_samples * inner overflows 64 bits for extents \(e) and num_samples \(plan.draws)")
    }
    try checkCount("logits", logits.count, e.count)
    let layout: MaskLayout? = try mask.map { (m) throws(SoftmaxKitError) in try maskLayout(m.count, e) }
    try checkCount("indices", indices.count, outCount)
    if let logProbs { try checkCount("log_probs", logProbs.count, outCount) }
    let xBytes = e.count * MemoryLayout<X>.stride, iBytes = outCount * 8, lBytes = outCount * MemoryLayout<L>.stride
    let ib = UnsafeRawPointer(indices.baseAddress), lb = UnsafeRawPointer(logProbs?.baseAddress)
    try checkDisjoint(UnsafeRawPointer(logits.baseAddress), xBytes, ib, iBytes, names: ("logits", "indices"))
    if logProbs != nil {
        try checkDisjoint(UnsafeRawPointer(logits.baseAddress), xBytes, lb, lBytes, names: ("logits", "log_probs"))
        try checkDisjoint(ib, iBytes, lb, lBytes, names: ("indices", "log_probs"))
    }
    if let mask {
        try checkDisjoint(UnsafeRawPointer(mask.baseAddress), mask.count, ib, iBytes, names: ("mask", "indices"))
        if logProbs != nil {
            try checkDisjoint(UnsafeRawPointer(mask.baseAddress), mask.count, lb, lBytes, names: ("mask", "log_probs"))
        }
    }
    return (plan, outCount, layout)
}

/// The array forms' common part: the shape, options and result size
/// checked, the results allocated and the buffers (the mask as bytes)
/// handed to `kernel`, the buffer form for the logits' type.
func sampleArrays<X, L: KernelScalar>(
    _ logits: [X], shape: [Int]?, axis: Int, mask: [Bool]?, options: SamplingOptions,
    _ kernel: (UnsafeBufferPointer<X>, UnsafeBufferPointer<UInt8>?, UnsafeMutableBufferPointer<Int>,
               UnsafeMutableBufferPointer<L>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> (indices: [Int], logProbs: [L]) {
    let e = try Extents(shape: shape ?? [logits.count], axis: axis)
    try checkCount("logits", logits.count, e.count)
    _ = try SamplingPlan<L>(options, n: e.n, seed: 0)  // option errors before any allocation
    guard let count = elementCount(e.outer, options.numSamples, e.inner) else {
        throw .overflow("the result of \(e.outer) x \(options.numSamples) x \(e.inner) draws overflows")
    }
    try probeArray(Int.self, count, for: "indices")
    var indices = [Int](repeating: 0, count: count)
    var logProbs = [L](repeating: 0, count: count)
    let bytes = mask?.map { $0 ? UInt8(1) : 0 }
    try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try indices.withUnsafeMutableBufferPointer { (ib) throws(SoftmaxKitError) in
            try logProbs.withUnsafeMutableBufferPointer { (lb) throws(SoftmaxKitError) in
                guard let bytes else { return try kernel(xb, nil, ib, lb, e) }
                try bytes.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in try kernel(xb, mb, ib, lb, e) }
            }
        }
    }
    return (indices, logProbs)
}

// MARK: Plan

/// Checked options in the kernels' terms.
@usableFromInline
struct SamplingPlan<T: KernelScalar> {
    @usableFromInline let greedy: Bool
    @usableFromInline let invT: T
    /// 0: off (also when `topK >= n`).
    @usableFromInline let topK: Int
    /// 1: off.
    @usableFromInline let topP: Double
    /// 0: off.
    @usableFromInline let minP: T
    @usableFromInline let draws: Int
    @usableFromInline let replacement: Bool
    @usableFromInline let seed: UInt64
    @usableFromInline let rowOffset: UInt64

    @usableFromInline
    init(_ o: SamplingOptions, n: Int, seed: UInt64) throws(SoftmaxKitError) {
        guard o.temperature.isFinite, o.temperature >= 0 else {
            throw .invalid("temperature must be finite and >= 0 (0 = greedy), got \(o.temperature)")
        }
        greedy = o.temperature == 0
        if greedy {
            invT = 1
        } else {
            let t = T(o.temperature)
            try checkTemperature(t)
            invT = 1 / t
        }
        guard o.topK >= 0 else { throw .invalid("top_k must be >= 0 (0 = off), got \(o.topK)") }
        guard o.topP > 0, o.topP <= 1 else { throw .invalid("top_p must be in (0, 1] (1 = off), got \(o.topP)") }
        guard o.minP >= 0, o.minP <= 1 else { throw .invalid("min_p must be in [0, 1] (0 = off), got \(o.minP)") }
        guard o.numSamples >= 1 else { throw .invalid("num_samples must be >= 1, got \(o.numSamples)") }
        let kept = o.topK > 0 ? min(o.topK, n) : n
        if !o.replacement && o.numSamples > kept {
            throw .invalid("num_samples \(o.numSamples) without replacement exceeds the \(kept) categories that can be kept"
                           + (o.topK > 0 ? " (top_k \(o.topK), axis length \(n))" : " (the axis length)"))
        }
        topK = o.topK < n ? o.topK : 0
        topP = o.topP
        minP = T(o.minP)
        draws = o.numSamples
        replacement = o.replacement
        self.seed = seed
        rowOffset = o.rowOffset
    }
}
