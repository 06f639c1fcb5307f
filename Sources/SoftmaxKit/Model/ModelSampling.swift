/// Sampling model heads in the forward call: a sampled head gives indices
/// (and optionally their log-probabilities) instead of its output values.
///
/// What is sampled. A model head is sampled from its pre-transform layer
/// values z (its logits) with ``sample(_:mask:indices:logProbs:extents:options:seed:)``
/// over the head's width, one fibre per output row (per step for a per-step
/// head: row `b * steps + t`; per sequence otherwise: row `b`):
/// - softmax and log_softmax heads: temperature `options.temperature *
///   head temperature` (the head's distribution, then the sampling
///   temperature on top of it; 0 stays greedy);
/// - masked_softmax heads: the head's mask as the sampling mask (with or
///   without renormalization: the draw is conditional on the kept
///   positions either way);
/// - identity, sigmoid, partitioned and hierarchical heads are not
///   distributions over one axis: sampling them is `.unsupported`.
/// An ensemble head is sampled from the combined distribution: the log of
/// the ensemble's averaged output (a log_softmax head's output as is), with
/// `options.temperature`; masked positions (probability 0) are never drawn.
///
/// The stream. Head `h` (its index in the model's head order, not in the
/// request) draws from stream rows `h * 2^48 + options.rowOffset + r`
/// (wrapping at 2^64), `r` its output row, with the call's seed: a user
/// reproduces head `h` with the plain sample call on its logits, the seed,
/// and `rowOffset` set so. Heads never share stream rows while their rows
/// stay below 2^48.
///
/// Padding steps (per-row lengths) of a per-step head get index -1 and
/// log-probability NaN, as a row with nothing to draw from.
extension Model {
    /// The stream rows between two heads' first rows: head `h` starts at `h * sampleHeadStride`.
    public static let sampleHeadStride: UInt64 = 1 << 48

    /// The sampling options and mask that draw head `k` from its raw layer
    /// values (`raw`) or from the log of its output (`raw == false`).
    static func headSampling(_ h: CompiledHead, index k: Int, _ o: SamplingOptions,
                             raw: Bool) throws(SoftmaxKitError) -> (SamplingOptions, [UInt8]?) {
        var opts = o
        opts.rowOffset = o.rowOffset &+ UInt64(k) &* sampleHeadStride
        switch h.transform {
        case .softmax, .logSoftmax:
            if raw {
                let t = o.temperature * (h.spec.temperature ?? 1)
                guard t.isFinite else {
                    throw .invalid("head \"\(displayName(h.name))\": temperature \(o.temperature) times the head's temperature \(h.spec.temperature ?? 1) is not finite")
                }
                opts.temperature = t
            }
            return (opts, nil)
        case .masked(let mask, _):
            return (opts, raw ? mask : nil)
        case .identity, .sigmoid, .partitioned, .hierarchical:
            throw SoftmaxKitError(.unsupported, "head \"\(displayName(h.name))\" has output \"\(h.spec.output.rawValue)\": only softmax, log_softmax and masked_softmax heads can be sampled")
        }
    }

    /// A checked sampling request: per head its options and mask (nil: not sampled).
    struct SampleRequest {
        var options: [SamplingOptions?]
        var masks: [[UInt8]?]
    }

    /// Checks `sampling` (one entry per head) and the index and
    /// log-probability buffers for `batch` sequences of `steps` steps.
    static func sampleRequest(_ heads: [CompiledHead], _ sampling: [SamplingOptions?], batch: Int, steps: Int, raw: Bool,
                              outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>], logProbs: [UnsafeMutableBufferPointer<Float>?])
        throws(SoftmaxKitError) -> SampleRequest {
        guard sampling.count == heads.count else {
            throw .shape("\(sampling.count) sampling entries given but the model has \(heads.count) heads")
        }
        guard indices.count == heads.count, logProbs.count == heads.count else {
            throw .shape("\(indices.count) index and \(logProbs.count) log-probability buffers given but the model has \(heads.count) heads")
        }
        var req = SampleRequest(options: [], masks: [])
        for (k, h) in heads.enumerated() {
            guard let o = sampling[k] else { req.options.append(nil); req.masks.append(nil); continue }
            let (opts, mask) = try headSampling(h, index: k, o, raw: raw)
            do {
                _ = try SamplingPlan<Float>(opts, n: h.size, seed: 0)
            } catch {
                throw SoftmaxKitError(error.kind, "head \"\(displayName(h.name))\": \(error.message)")
            }
            let rows = h.perStep ? elementCount(batch, steps) : batch
            guard let rows, let count = elementCount(rows, opts.numSamples) else {
                throw .overflow("the draws of head \"\(displayName(h.name))\" overflow 64 bits")
            }
            try checkCount("indices of head \"\(displayName(h.name))\"", indices[k].count, count)
            if outputs[k].count > 0 {
                try checkCount("output of head \"\(displayName(h.name))\"", outputs[k].count, try outputCount(h, batch: batch, steps: steps))
            }
            if let lp = logProbs[k] { try checkCount("log_probs of head \"\(displayName(h.name))\"", lp.count, count) }
            req.options.append(opts); req.masks.append(mask)
        }
        return req
    }

    /// No two of the caller's buffers may overlap: the input, the outputs of
    /// heads not sampled, the index and log-probability buffers of sampled ones.
    static func checkSampleDisjoint(_ heads: [CompiledHead], _ req: SampleRequest, input: (UnsafeRawPointer?, Int),
                                    outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                                    logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        var spans: [(lo: UInt, hi: UInt, who: String)] = []
        func add(_ p: UnsafeRawPointer?, _ bytes: Int, _ who: @autoclosure () -> String) {
            guard let p, bytes > 0 else { return }
            spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(bytes), who()))
        }
        add(input.0, input.1, "the input")
        for (k, h) in heads.enumerated() {
            let name = displayName(h.name)
            add(UnsafeRawPointer(outputs[k].baseAddress), outputs[k].count * 4, "output of head \"\(name)\"")
            if req.options[k] != nil {
                add(UnsafeRawPointer(indices[k].baseAddress), indices[k].count * 8, "indices of head \"\(name)\"")
                if let lp = logProbs[k] { add(UnsafeRawPointer(lp.baseAddress), lp.count * 4, "log_probs of head \"\(name)\"") }
            }
        }
        if spans.count < 2 { return }
        spans.sort { $0.lo < $1.lo }
        for k in spans.indices.dropFirst() where spans[k].lo < spans[k - 1].hi {
            throw .invalid("\(spans[k - 1].who) and \(spans[k].who) overlap: outputs must not overlap the input or each other")
        }
    }

    /// Runs `run` with the outputs of sampled heads replaced by scratch
    /// (`[rows, size]` each), then samples the scratch into `indices` /
    /// `logProbs`. `run` receives the heads with sampled ones made identity
    /// when `raw` (their layer values) and the outputs to fill. Everything
    /// is checked before anything is written; only running out of memory
    /// while drawing can fail after the outputs of heads not sampled are written.
    static func withSampledHeads(
        _ heads: [CompiledHead], _ sampling: [SamplingOptions?], seed: UInt64, batch: Int, steps: Int, lengths: [Int]?,
        raw: Bool, input: (UnsafeRawPointer?, Int), outputs: [UnsafeMutableBufferPointer<Float>],
        indices: [UnsafeMutableBufferPointer<Int>], logProbs: [UnsafeMutableBufferPointer<Float>?],
        run: ([CompiledHead], [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) -> Void
    ) throws(SoftmaxKitError) {
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the model has \(heads.count) heads")
        }
        let req = try sampleRequest(heads, sampling, batch: batch, steps: steps, raw: raw, outputs: outputs, indices: indices,
                                    logProbs: logProbs)
        try checkSampleDisjoint(heads, req, input: input, outputs: outputs, indices: indices, logProbs: logProbs)
        // One scratch block for every sampled head's values.
        var total = 0
        var offsets: [Int] = []
        for (k, h) in heads.enumerated() {
            offsets.append(total)
            guard req.options[k] != nil else { continue }
            let c = try outputCount(h, batch: batch, steps: steps)
            let (t, o) = total.addingReportingOverflow(c)
            guard !o, t <= maxElementCount else { throw .overflow("the sampled heads' values overflow 64 bits") }
            total = t
        }
        let scratch = try allocate(Float.self, max(total, 1), for: "the sampled heads' values")
        defer { rawFree(scratch) }
        var runHeads = heads, outs = outputs
        for (k, h) in heads.enumerated() where req.options[k] != nil {
            let c = try outputCount(h, batch: batch, steps: steps)
            outs[k] = UnsafeMutableBufferPointer(start: scratch + offsets[k], count: c)
            if raw {
                runHeads[k] = CompiledHead(name: h.name, size: h.size, spec: h.spec, layer: h.layer, perStep: h.perStep,
                                           transform: .identity)
            }
        }
        try run(runHeads, outs)
        for (k, h) in heads.enumerated() {
            guard let opts = req.options[k] else { continue }
            let rows = h.perStep ? batch * steps : batch
            let values = UnsafeMutableBufferPointer(start: scratch + offsets[k], count: rows * h.size)
            if let y = outputs[k].baseAddress, outputs[k].count > 0 {
                // The head's output values too: its transform of the layer
                // values (padding steps as forward sets them), or the
                // ensemble's averaged output as computed.
                if raw {
                    let v = UnsafePointer(values.baseAddress!)
                    h.transform.apply(rows: rows, layer: h.layer, widths: [], input: { _ in v }, y, size: h.size)
                    if h.perStep, let lengths {
                        let pad: Float = h.isLogSpace ? -.infinity : 0
                        for b in 0..<batch where lengths[b] < steps {
                            (y + (b * steps + lengths[b]) * h.size).update(repeating: pad, count: (steps - lengths[b]) * h.size)
                        }
                    }
                } else {
                    y.update(from: values.baseAddress!, count: values.count)
                }
            }
            if !raw && !h.isLogSpace {
                for i in values.indices { values[i] = Float(Double.libmLog(Double(values[i]))) }
            }
            let e = try Extents(outer: rows, n: h.size)
            if let m = req.masks[k] {
                try m.withUnsafeBufferPointer { (mb) throws(SoftmaxKitError) in
                    try sample(UnsafeBufferPointer(values), mask: mb, indices: indices[k], logProbs: logProbs[k], extents: e,
                               options: opts, seed: seed)
                }
            } else {
                try sample(UnsafeBufferPointer(values), indices: indices[k], logProbs: logProbs[k], extents: e, options: opts, seed: seed)
            }
            guard h.perStep, let lengths else { continue }
            let s = opts.numSamples
            for b in 0..<batch where lengths[b] < steps {
                let lo = (b * steps + lengths[b]) * s, hi = (b + 1) * steps * s
                for i in lo..<hi { indices[k][i] = -1; logProbs[k]?[i] = .nan }
            }
        }
    }

    /// Forward with sampled heads: head `h` with `sampling[h]` non-nil draws
    /// into `indices[h]` (`[rows, numSamples]` flat, rows as its output's:
    /// `batch * steps` for a per-step head, `batch` otherwise) and, when
    /// given, `logProbs[h]` (same layout); `outputs[h]`, when not empty,
    /// also receives the head's output values (as forward writes them). Heads not sampled are written to `outputs` as
    /// ``forward(_:batch:steps:features:lengths:into:)`` writes them. The
    /// draws and their stream are described at the top of this file.
    /// - Throws: the errors of forward and of sampling (naming the head),
    ///   `.unsupported` for a head that is not softmax-like, `.invalidArgument`
    ///   for overlapping buffers.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                        lengths: UnsafeBufferPointer<Int>? = nil, sampling: [SamplingOptions?], seed: UInt64,
                        into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                        logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        let r = try rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * features)
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: batch, steps: steps, lengths: lens, raw: true,
                                   input: (UnsafeRawPointer(x.baseAddress), r * features * 4), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (hs, outs) throws(SoftmaxKitError) in
            try Model(self, heads: hs).forward(x, batch: batch, steps: steps, features: f, lengths: lengths, into: outs)
        }
    }

    /// ``forward(ids:batch:steps:lengths:into:)`` with sampled heads, as
    /// ``forward(_:batch:steps:features:lengths:sampling:seed:into:indices:logProbs:)``.
    public func forward<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, batch: Int, steps: Int,
                                          lengths: UnsafeBufferPointer<Int>? = nil, sampling: [SamplingOptions?], seed: UInt64,
                                          into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                                          logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: batch, steps: steps, lengths: lens, raw: true,
                                   input: (UnsafeRawPointer(ids.baseAddress), ids.count * MemoryLayout<I>.stride), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (hs, outs) throws(SoftmaxKitError) in
            try Model(self, heads: hs).forward(ids: ids, batch: batch, steps: steps, lengths: lengths, into: outs)
        }
    }

    /// ``step(_:state:features:into:)`` with sampled heads: one row per
    /// state row (`[batch, numSamples]` indices). Every step draws from the
    /// same stream rows unless the caller moves `rowOffset` (or the seed)
    /// from step to step, e.g. `rowOffset = t * batch`.
    public func step(_ x: UnsafeBufferPointer<Float>, state: ModelState, features f: Int, sampling: [SamplingOptions?], seed: UInt64,
                     into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                     logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: state.batch, steps: 1, lengths: nil, raw: true,
                                   input: (UnsafeRawPointer(x.baseAddress), x.count * 4), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (hs, outs) throws(SoftmaxKitError) in
            try Model(self, heads: hs).step(x, state: state, features: f, into: outs)
        }
    }

    /// Forward on an array (`[batch, features]` or `[batch, steps,
    /// features]`) sampling the heads named in `sample`: returns the other
    /// heads' outputs and, per sampled head, its indices
    /// (`[batch, (steps,) numSamples]` flat) and log-probabilities.
    /// - Throws: `.invalidArgument` for a name that is not a head, and the
    ///   errors of the buffer form.
    public func callAsFunction(_ x: [Float], shape: [Int], lengths: [Int]? = nil, sample: [String: SamplingOptions],
                               seed: UInt64) throws(SoftmaxKitError)
        -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        let (batch, steps, f) = try Model.splitShape(shape)
        let r = try rows(batch: batch, steps: steps, features: f)
        guard x.count >= r * features else { throw .shape("x holds \(x.count) values but shape \(shape) needs \(r * features)") }
        let sampling = try Model.samplingList(heads, sample)
        return try Model.arrays(heads, sampling, batch: batch, steps: steps) { (outs, idx, lps) throws(SoftmaxKitError) in
            try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
                let xs = UnsafeBufferPointer(rebasing: xb[0..<(r * features)])
                try (lengths ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
                    try forward(xs, batch: batch, steps: steps, features: f, lengths: lengths == nil ? nil : lb,
                                sampling: sampling, seed: seed, into: outs, indices: idx, logProbs: lps)
                }
            }
        }
    }

    /// Forward on token ids (`[batch]` or `[batch, steps]`) sampling the
    /// heads named in `sample`, as ``callAsFunction(_:shape:lengths:sample:seed:)``.
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

    /// `sample` by head name as one entry per head, refusing unknown names.
    static func samplingList(_ heads: [CompiledHead], _ sample: [String: SamplingOptions]) throws(SoftmaxKitError) -> [SamplingOptions?] {
        var list = [SamplingOptions?](repeating: nil, count: heads.count)
        for (name, o) in sample {
            guard let k = heads.firstIndex(where: { NameKey($0.name) == NameKey(name) }) else {
                throw .invalid("no head named \"\(displayName(name))\" to sample; the heads are \(heads.map { "\"\(displayName($0.name))\"" }.joined(separator: ", "))")
            }
            list[k] = o
        }
        return list
    }

    /// Allocates arrays for a sampled forward, runs `body` on them and
    /// returns them by head name.
    static func arrays(_ heads: [CompiledHead], _ sampling: [SamplingOptions?], batch: Int, steps: Int,
                       _ body: ([UnsafeMutableBufferPointer<Float>], [UnsafeMutableBufferPointer<Int>],
                                [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError)
        -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        var outs: [[Float]] = [], idx: [[Int]] = [], lps: [[Float]] = []
        for (h, o) in zip(heads, sampling) {
            if let o {
                let rows = h.perStep ? batch * steps : batch
                guard let c = elementCount(rows, o.numSamples) else { throw .overflow("the draws of head \"\(displayName(h.name))\" overflow 64 bits") }
                outs.append([]); idx.append([Int](repeating: 0, count: c)); lps.append([Float](repeating: 0, count: c))
            } else {
                outs.append([Float](repeating: 0, count: try outputCount(h, batch: batch, steps: steps))); idx.append([]); lps.append([])
            }
        }
        try withMutableBuffers(&outs) { (ob) throws(SoftmaxKitError) in
            try withMutableBuffers(&idx) { (ib) throws(SoftmaxKitError) in
                try withMutableBuffers(&lps) { (lb) throws(SoftmaxKitError) in
                    try body(ob, ib, zip(lb, sampling).map { $1 == nil ? nil : $0 })
                }
            }
        }
        var o: [String: [Float]] = [:], i: [String: [Int]] = [:], l: [String: [Float]] = [:]
        for (k, h) in heads.enumerated() {
            if sampling[k] == nil { o[h.name] = outs[k] } else { i[h.name] = idx[k]; l[h.name] = lps[k] }
        }
        return (o, i, l)
    }
}

extension CompiledHead {
    /// A log_softmax head: its output is already log-probabilities.
    var isLogSpace: Bool {
        if case .logSoftmax = transform { return true }
        return false
    }
}

extension Ensemble {
    /// Forward with sampled heads, drawn from the combined distribution (the
    /// log of the averaged output; see the top of ModelSampling.swift), as
    /// ``Model/forward(_:batch:steps:features:lengths:sampling:seed:into:indices:logProbs:)``.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                        sampling: [SamplingOptions?], seed: UInt64,
                        into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
                        logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError) {
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * features)
        try Model.withSampledHeads(heads, sampling, seed: seed, batch: batch, steps: steps, lengths: nil, raw: false,
                                   input: (UnsafeRawPointer(x.baseAddress), r * features * 4), outputs: outputs,
                                   indices: indices, logProbs: logProbs) { (_, outs) throws(SoftmaxKitError) in
            try forward(x, batch: batch, steps: steps, features: f, into: outs)
        }
    }

    /// The array form, as ``Model/callAsFunction(_:shape:lengths:sample:seed:)``.
    public func callAsFunction(_ x: [Float], shape: [Int], sample: [String: SamplingOptions], seed: UInt64) throws(SoftmaxKitError)
        -> (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]) {
        let (batch, steps, f) = try Model.splitShape(shape)
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        guard x.count >= r * features else { throw .shape("x holds \(x.count) values but shape \(shape) needs \(r * features)") }
        let sampling = try Model.samplingList(heads, sample)
        return try Model.arrays(heads, sampling, batch: batch, steps: steps) { (outs, idx, lps) throws(SoftmaxKitError) in
            try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
                try forward(UnsafeBufferPointer(rebasing: xb[0..<(r * features)]), batch: batch, steps: steps, features: f,
                            sampling: sampling, seed: seed, into: outs, indices: idx, logProbs: lps)
            }
        }
    }
}
