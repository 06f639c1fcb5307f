/// The carried state of a model run one step at a time: each recurrent
/// layer's h (and c) per stacked layer for `batch` rows, zero at creation
/// and after ``reset()``. A state belongs to the model that made it and to
/// its batch size; one thread uses it at a time (the model itself stays
/// shareable).
///
/// T calls of ``Model/step(_:state:features:into:)`` give the values of one
/// forward over the T steps within float32 rounding (the same arithmetic;
/// the input projection runs on `batch` rows instead of `batch * steps`).
public final class ModelState: @unchecked Sendable {
    let owner: ObjectIdentifier
    public let batch: Int
    /// Per layer of the model: its carried floats, or nil.
    let carries: [UnsafeMutablePointer<Float>?]
    let counts: [Int]

    init(model: Model, net: SequenceNet?, batch: Int) throws(SoftmaxKitError) {
        owner = model.stateOwner
        self.batch = batch
        var carries: [UnsafeMutablePointer<Float>?] = [], counts: [Int] = []
        for op in net?.ops ?? [] {
            guard case .recurrent(let r) = op else { carries.append(nil); counts.append(0); continue }
            let n = r.stateCount(batch: batch)
            guard let p = rawAllocate(Float.self, max(n, 1)) else {
                for c in carries { if let c { rawFree(c) } }
                throw SoftmaxKitError(.outOfMemory, "cannot allocate a state of \(n) floats")
            }
            p.initialize(repeating: 0, count: n)
            carries.append(p); counts.append(n)
        }
        self.carries = carries; self.counts = counts
    }

    deinit { for c in carries { if let c { rawFree(c) } } }

    /// Back to the zero initial state.
    public func reset() {
        for (c, n) in zip(carries, counts) { c?.initialize(repeating: 0, count: n) }
    }
}

extension Model {
    /// A zero state for running `batch` rows one step at a time.
    /// - Throws: `.invalidArgument` (negative batch); `.unsupported` for a
    ///   model that cannot stream (a bidirectional layer, which needs the
    ///   whole sequence, or a selected step); `.sizeOverflow`; `.outOfMemory`.
    public func makeState(batch: Int) throws(SoftmaxKitError) -> ModelState {
        guard batch >= 0 else { throw .invalid("batch must be non-negative, got \(batch)") }
        if let net = sequence {
            for (k, op) in net.ops.enumerated() {
                switch op {
                case .recurrent(let r) where r.directions > 1:
                    throw SoftmaxKitError(.unsupported, "layer \"\(displayName(net.names[k]))\" is bidirectional: its backward direction needs the whole sequence, so the model cannot run step by step")
                case .dense(_, _, _?):
                    throw SoftmaxKitError(.unsupported, "layer \"\(displayName(net.names[k]))\" reads one selected step of a sequence: the model cannot run step by step")
                case .recurrent(let r):
                    guard elementCount(2 * r.stack.count, batch, r.hidden) != nil else {
                        throw .overflow("a state of batch \(batch) overflows 64 bits")
                    }
                default: break
                }
            }
        }
        return try ModelState(model: self, net: sequence, batch: batch)
    }

    private func checkState(_ state: ModelState, batch: Int) throws(SoftmaxKitError) {
        guard state.owner == stateOwner else { throw .shape("the state belongs to another model") }
        guard state.batch == batch else { throw .shape("the state is for batch \(state.batch), the input has batch \(batch)") }
    }

    /// Runs one step `x_t` (`[batch, features]`) from `state` and advances
    /// it; head `h` goes to `outputs[h]` (`[batch, size]`). Everything is
    /// checked before anything (outputs or state) is written.
    /// - Throws: `.shapeMismatch` (a state of another model or batch size,
    ///   features, buffer sizes), the errors of ``forward(_:batch:steps:features:into:)``.
    public func step(_ x: UnsafeBufferPointer<Float>, state: ModelState, features f: Int,
                     into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try checkState(state, batch: state.batch)
        guard let net = sequence else {
            return try forward(x, batch: state.batch, steps: 1, features: f, into: outputs)
        }
        if let v = net.vocabulary { throw .invalid("the model's input is token ids (vocabulary \(v)), not float features") }
        let r = try rows(batch: state.batch, steps: 1, features: f)
        try checkCount("x", x.count, r * features)
        try forwardSequence(net, .floats(x.baseAddress ?? UnsafePointer(bitPattern: 16)!),
                            inputSpan: (UnsafeRawPointer(x.baseAddress), r * features * 4),
                            batch: state.batch, steps: 1, lengths: nil, state: state, into: outputs)
    }

    /// ``step(_:state:features:into:)`` on arrays: `x` holds
    /// `state.batch * features` values; returns each head's `[batch, size]`.
    public func step(_ x: [Float], state: ModelState) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs: [[Float]] = []
        for h in heads { outs.append([Float](repeating: 0, count: try Model.outputCount(h, batch: state.batch, steps: 1))) }
        guard state.batch == 0 || x.count % state.batch == 0 else {
            throw .shape("x holds \(x.count) values, not a whole number of rows for batch \(state.batch)")
        }
        let f = state.batch == 0 ? features : x.count / state.batch
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in
                try step(xb, state: state, features: f, into: ptrs)
            }
        }
        var result: [String: [Float]] = [:]
        for (h, o) in zip(heads, outs) { result[h.name] = o }
        return result
    }
}
