/// Sampling ensemble heads in forwards with lengths, on token ids and in
/// streaming steps. As ``Ensemble/forward(_:batch:steps:features:sampling:seed:into:indices:logProbs:)``:
/// head `h` is drawn from the combined distribution (the log of the
/// ensemble's output for that call, a log_softmax head's output as is) with
/// `options.temperature`, from stream rows `h * 2^48 + options.rowOffset + r`
/// (see ModelSampling.swift). Padding steps (lengths) of per-step heads give
/// index -1 and log-probability NaN; so does a head that is not ready at a
/// streaming tick (its combined output is NaN: nothing to draw from).
extension Ensemble {
    /// ``forward(_:batch:steps:features:lengths:into:)`` with sampled heads,
    /// as ``Model/forward(_:batch:steps:features:lengths:sampling:seed:into:indices:logProbs:)``
    /// (the arguments and buffers) and the ensemble draws described above.
    /// `lengths` nil: every row runs all steps.
    /// - Throws: the errors of the forward and of sampling (naming the
    ///   head), `.unsupported` for a head that is not softmax-like,
    ///   `.invalidArgument` for overlapping buffers.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int,
                        lengths: UnsafeBufferPointer<Int>?, sampling: [SamplingOptions?], seed: UInt64,
                        into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                        logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * features)
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: batch, steps: steps, lengths: lens, raw: false,
                                   input: (UnsafeRawPointer(x.baseAddress), r * features * 4), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (_, outs) throws(SoftmaxKitError) in
            if lengths == nil {
                try forward(x, batch: batch, steps: steps, features: f, into: outs)
            } else {
                try forward(x, batch: batch, steps: steps, features: f, lengths: lengths, into: outs)
            }
        }
    }

    /// ``forward(ids:batch:steps:lengths:into:)`` with sampled heads, as
    /// ``forward(_:batch:steps:features:lengths:sampling:seed:into:indices:logProbs:)``.
    public func forward<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, batch: Int, steps: Int,
                                          lengths: UnsafeBufferPointer<Int>? = nil, sampling: [SamplingOptions?], seed: UInt64,
                                          into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                                          logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        _ = try idVocabulary()
        guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: batch, steps: steps, lengths: lens, raw: false,
                                   input: (UnsafeRawPointer(ids.baseAddress), ids.count * MemoryLayout<I>.stride), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (_, outs) throws(SoftmaxKitError) in
            try forward(ids: ids, batch: batch, steps: steps, lengths: lengths, into: outs)
        }
    }

    /// ``step(_:state:features:into:)`` with sampled heads: one draw row per
    /// state row (`[batch, numSamples]` indices). Every step draws from the
    /// same stream rows unless the caller moves `rowOffset` (or the seed)
    /// from step to step, e.g. `rowOffset = t * batch`. A head not ready at
    /// this tick gives index -1 and log-probability NaN.
    public func step(_ x: UnsafeBufferPointer<Float>, state: EnsembleState, features f: Int, sampling: [SamplingOptions?],
                     seed: UInt64, into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                     logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: state.batch, steps: 1, lengths: nil, raw: false,
                                   input: (UnsafeRawPointer(x.baseAddress), x.count * 4), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (_, outs) throws(SoftmaxKitError) in
            try step(x, state: state, features: f, into: outs)
        }
    }

    /// The array form with lengths, as ``Model/callAsFunction(_:shape:lengths:sample:seed:)``.
    public func callAsFunction(_ x: [Float], shape: [Int], lengths: [Int]?, sample: [String: SamplingOptions], seed: UInt64)
        throws(SoftmaxKitError) -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        let (batch, steps, f) = try Model.splitShape(shape)
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        guard x.count >= r * features else { throw .shape("x holds \(x.count) values but shape \(shape) needs \(r * features)") }
        let sampling = try Model.samplingList(heads, sample)
        return try Model.arrays(heads, sampling, batch: batch, steps: steps) { (outs, idx, lps) throws(SoftmaxKitError) in
            try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
                try (lengths ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
                    try forward(UnsafeBufferPointer(rebasing: xb[0..<(r * features)]), batch: batch, steps: steps, features: f,
                                lengths: lengths == nil ? nil : lb, sampling: sampling, seed: seed, into: outs, indices: idx,
                                logProbs: lps)
                }
            }
        }
    }

    /// Token ids (`[batch]` or `[batch, steps]`) with sampled heads, as
    /// ``Model/callAsFunction(ids:shape:lengths:sample:seed:)``.
    public func callAsFunction<I: BinaryInteger>(ids: [I], shape: [Int], lengths: [Int]? = nil, sample: [String: SamplingOptions],
                                                 seed: UInt64) throws(SoftmaxKitError)
        -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        let (batch, steps, bt) = try Model.idsShape(shape, count: ids.count)
        let sampling = try Model.samplingList(heads, sample)
        return try Model.arrays(heads, sampling, batch: batch, steps: steps) { (outs, idx, lps) throws(SoftmaxKitError) in
            try ids.withUnsafeBufferPointer { (ib) throws(SoftmaxKitError) in
                try (lengths ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
                    try forward(ids: UnsafeBufferPointer(rebasing: ib[0..<bt]), batch: batch, steps: steps,
                                lengths: lengths == nil ? nil : lb, sampling: sampling, seed: seed,
                                into: outs, indices: idx, logProbs: lps)
                }
            }
        }
    }

    /// ``step(_:state:features:sampling:seed:into:indices:logProbs:)`` on an
    /// array of `state.batch` rows, sampling the heads named in `sample`:
    /// returns the other heads' `[batch, size]` outputs (a head not ready at
    /// this tick is absent) and each sampled head's indices and
    /// log-probabilities (`[batch, numSamples]` flat).
    public func step(_ x: [Float], state: EnsembleState, sample: [String: SamplingOptions], seed: UInt64) throws(SoftmaxKitError)
        -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        guard state.batch == 0 || x.count % state.batch == 0 else {
            throw .shape("x holds \(x.count) values, not a whole number of rows for batch \(state.batch)")
        }
        let f = state.batch == 0 ? features : x.count / state.batch
        let sampling = try Model.samplingList(heads, sample)
        var result = try Model.arrays(heads, sampling, batch: state.batch, steps: 1) { (outs, idx, lps) throws(SoftmaxKitError) in
            try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
                try step(xb, state: state, features: f, sampling: sampling, seed: seed, into: outs, indices: idx, logProbs: lps)
            }
        }
        for (k, h) in heads.enumerated() where sampling[k] == nil && !state.ready[k] { result.outputs[h.name] = nil }
        return result
    }
}
