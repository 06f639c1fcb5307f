/// The carried state of a model run one step at a time: each recurrent
/// layer's h (and c) per stacked layer for `batch` rows, zero at creation
/// and after ``reset()``. A state belongs to the model that made it and to
/// its batch size; one thread uses it at a time (the model itself stays
/// shareable).
///
/// T calls of ``Model/step(_:state:features:into:)`` give the values of one
/// forward over the T steps within float32 rounding (the same arithmetic;
/// the input projection runs on `batch` rows instead of `batch * steps`).
///
/// Heads on a selected step (a dense layer with `"step": i`) have a value at
/// one tick only: a step-`i` head (i >= 0) at the tick that consumes step i
/// (the `i + 1`-th call after a reset), equal to the forward's value for
/// that head on any sequence of at least `i + 1` steps; a step `-1` head
/// (the newest step) at every tick, equal to the forward over the steps so
/// far. At the other ticks the head is not ready: ``ready`` says so and its
/// output holds NaN.
public final class ModelState: @unchecked Sendable {
    let owner: ObjectIdentifier
    public let batch: Int
    /// Steps consumed since creation or the last ``reset()``.
    public internal(set) var steps = 0
    /// Per head: whether the last step gave it a value (false before the
    /// first step and for a selected-step head at other ticks).
    public internal(set) var ready: [Bool]
    /// Per layer of the model: its carried floats, or nil.
    let carries: [UnsafeMutablePointer<Float>?]
    let counts: [Int]

    init(model: Model, net: SequenceNet?, batch: Int) throws(SoftmaxKitError) {
        owner = model.stateOwner
        self.batch = batch
        ready = Array(repeating: false, count: model.heads.count)
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
        steps = 0
        ready = Array(repeating: false, count: ready.count)
    }
}

extension Model {
    /// A zero state for running `batch` rows one step at a time (float
    /// rows with ``step(_:state:features:into:)``, token ids with
    /// ``step(ids:state:into:)``).
    /// - Throws: `.invalidArgument` (negative batch); `.unsupported` for a
    ///   model that cannot stream, naming the layer: a bidirectional layer
    ///   (its backward direction starts from the end of the sequence, which a
    ///   stream has not seen) or a selected step counted from the end other
    ///   than -1 (it needs steps that have not arrived); `.sizeOverflow`;
    ///   `.outOfMemory`.
    public func makeState(batch: Int) throws(SoftmaxKitError) -> ModelState {
        guard batch >= 0 else { throw .invalid("batch must be non-negative, got \(batch)") }
        if let net = sequence {
            for (k, op) in net.ops.enumerated() {
                switch op {
                case .recurrent(let r) where r.directions > 1:
                    throw SoftmaxKitError(.unsupported, "layer \"\(displayName(net.names[k]))\" is bidirectional: its backward direction starts from the end of the sequence, which a stream has not seen, so the model cannot run step by step")
                case .dense(_, _, let s?) where s < -1:
                    throw SoftmaxKitError(.unsupported, "layer \"\(displayName(net.names[k]))\" reads step \(s), counted from the end of the sequence: step by step only a step from the start or -1 (the newest step) can be followed")
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

    func checkState(_ state: ModelState, batch: Int) throws(SoftmaxKitError) {
        guard state.owner == stateOwner else { throw .shape("the state belongs to another model") }
        guard state.batch == batch else { throw .shape("the state is for batch \(state.batch), the input has batch \(batch)") }
    }

    /// Runs one step `x_t` (`[batch, features]`) from `state` and advances
    /// it; head `h` goes to `outputs[h]` (`[batch, size]`): NaN for a head
    /// that is not ready at this tick (see ``ModelState``). Everything is
    /// checked before anything (outputs or state) is written.
    /// - Throws: `.shapeMismatch` (a state of another model or batch size,
    ///   features, buffer sizes), `.invalidArgument` (a model of token ids),
    ///   the errors of ``forward(_:batch:steps:features:into:)``.
    public func step(_ x: UnsafeBufferPointer<Float>, state: ModelState, features f: Int,
                     into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try checkState(state, batch: state.batch)
        guard let net = sequence else {
            try forward(x, batch: state.batch, steps: 1, features: f, into: outputs)
            state.steps += 1
            state.ready = Array(repeating: true, count: heads.count)
            return
        }
        if let v = net.vocabulary { throw .invalid("the model's input is token ids (vocabulary \(v)), not float features") }
        let r = try rows(batch: state.batch, steps: 1, features: f)
        try checkCount("x", x.count, r * features)
        try forwardSequence(net, .floats(x.baseAddress ?? UnsafePointer(bitPattern: 16)!),
                            inputSpan: (UnsafeRawPointer(x.baseAddress), r * features * 4),
                            batch: state.batch, steps: 1, lengths: nil, state: state, into: outputs)
    }

    /// Runs one step of token ids (`[batch]`, each in `[0, vocabulary)`)
    /// from `state`, as ``step(_:state:features:into:)``.
    /// - Throws: `.invalidArgument` (a model of float features, an id outside
    ///   the vocabulary naming its row), `.shapeMismatch` (the state, the
    ///   count of ids, buffer sizes), `.sizeOverflow`, `.outOfMemory`.
    public func step<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, state: ModelState,
                                       into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try checkState(state, batch: state.batch)
        guard let net = sequence, let v = net.vocabulary else {
            throw .invalid("the model takes \(features) float features, not token ids")
        }
        try checkCount("ids", ids.count, state.batch)
        let checked = try Model.checkedIds(ids, batch: state.batch, steps: 1, lengths: nil, vocabulary: v, oneStep: true)
        try checked.withUnsafeBufferPointer { (c) throws(SoftmaxKitError) in
            try forwardSequence(net, .ids(c.baseAddress ?? UnsafePointer(bitPattern: 16)!),
                                inputSpan: (UnsafeRawPointer(ids.baseAddress), state.batch * MemoryLayout<I>.stride),
                                batch: state.batch, steps: 1, lengths: nil, state: state, into: outputs)
        }
    }

    /// ``step(_:state:features:into:)`` on arrays: `x` holds
    /// `state.batch * features` values; returns each ready head's
    /// `[batch, size]` (a head that is not ready at this tick is absent).
    public func step(_ x: [Float], state: ModelState) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs = try stepOutputs(batch: state.batch)
        guard state.batch == 0 || x.count % state.batch == 0 else {
            throw .shape("x holds \(x.count) values, not a whole number of rows for batch \(state.batch)")
        }
        let f = state.batch == 0 ? features : x.count / state.batch
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in
                try step(xb, state: state, features: f, into: ptrs)
            }
        }
        return readyOutputs(outs, state.ready)
    }

    /// ``step(ids:state:into:)`` on an array of `state.batch` ids; returns
    /// each ready head's `[batch, size]`.
    public func step<I: BinaryInteger>(ids: [I], state: ModelState) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs = try stepOutputs(batch: state.batch)
        try ids.withUnsafeBufferPointer { (ib) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in
                try step(ids: ib, state: state, into: ptrs)
            }
        }
        return readyOutputs(outs, state.ready)
    }

    func stepOutputs(batch: Int) throws(SoftmaxKitError) -> [[Float]] {
        var outs: [[Float]] = []
        for h in heads { outs.append([Float](repeating: 0, count: try Model.outputCount(h, batch: batch, steps: 1))) }
        return outs
    }

    func readyOutputs(_ outs: [[Float]], _ ready: [Bool]) -> [String: [Float]] {
        var result: [String: [Float]] = [:]
        for (k, (h, o)) in zip(heads, outs).enumerated() where ready[k] { result[h.name] = o }
        return result
    }
}
