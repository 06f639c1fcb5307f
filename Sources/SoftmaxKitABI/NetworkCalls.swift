@_spi(CABI) import SoftmaxKit

// The forward, streaming, sampled and typed entry points of models and
// ensembles: one body each, over `Network`, what those bodies need of a
// model or an ensemble. The @_cdecl functions unwrap their handle and call
// these, so a model and an ensemble check their C arguments alike.

/// A model or an ensemble as the C entry points drive it.
protocol Network {
    associatedtype State
    /// "model" or "ensemble", for messages.
    static var noun: String { get }
    /// The network behind a C handle.
    static func unwrap(_ p: OpaquePointer?) throws(SoftmaxKitError) -> Self
    /// The state behind a C state handle, refused if it is another kind's.
    static func state(_ p: OpaquePointer?) throws(SoftmaxKitError) -> State
    static func batch(of state: State) -> Int

    var heads: [CompiledHead] { get }
    var features: Int { get }
    /// The id vocabulary, refused for a network that takes float features.
    func idVocabulary() throws(SoftmaxKitError) -> Int
    /// Input rows of `x` (`batch * steps`, or `batch` for a dense network),
    /// after the core's shape checks.
    func inputRows(batch: Int, steps: Int, features: Int) throws(SoftmaxKitError) -> Int

    // Met by the models' and ensembles' own methods of these names.
    func step(_ x: UnsafeBufferPointer<Float>, state: State, features f: Int,
              into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError)
    func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int, lengths: UnsafeBufferPointer<Int>?,
                 sampling: [SamplingOptions?], seed: UInt64, into outputs: [UnsafeMutableBufferPointer<Float>],
                 indices: [UnsafeMutableBufferPointer<Int>], logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError)
    func step(_ x: UnsafeBufferPointer<Float>, state: State, features f: Int, sampling: [SamplingOptions?], seed: UInt64,
              into outputs: [UnsafeMutableBufferPointer<Float>], indices: [UnsafeMutableBufferPointer<Int>],
              logProbs: [UnsafeMutableBufferPointer<Float>?]) throws(SoftmaxKitError)
    func forward(_ io: TypedForward, batch: Int, steps: Int, features f: Int, lengths: UnsafeBufferPointer<Int>?) throws(SoftmaxKitError)
    func step(_ io: TypedForward, state: State, features f: Int) throws(SoftmaxKitError)

    // Spelled for the C calls: a forward whose lengths may be nil, and the
    // id forms (generic over the id type in the core).
    func run(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError)
    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError)
    func tick(ids: UnsafeBufferPointer<Int64>, state: State, into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError)
    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             _ s: SampledArguments, seed: UInt64) throws(SoftmaxKitError)
}

extension Model: Network {
    static var noun: String { "model" }
    static func unwrap(_ p: OpaquePointer?) throws(SoftmaxKitError) -> Model { try handle(p, "model", as: ModelHandle.self).model }
    static func state(_ p: OpaquePointer?) throws(SoftmaxKitError) -> ModelState {
        try handle(p, "state", as: StateHandle.self).modelState()
    }
    static func batch(of state: ModelState) -> Int { state.batch }
    func inputRows(batch: Int, steps: Int, features f: Int) throws(SoftmaxKitError) -> Int {
        try rows(batch: batch, steps: steps, features: f)
    }

    func run(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try forward(x, batch: batch, steps: steps, features: f, lengths: lengths, into: outputs)
    }
    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try forward(ids: ids, batch: batch, steps: steps, lengths: lengths, into: outputs)
    }
    func tick(ids: UnsafeBufferPointer<Int64>, state: ModelState, into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try step(ids: ids, state: state, into: outputs)
    }

    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             _ s: SampledArguments, seed: UInt64) throws(SoftmaxKitError) {
        try forward(ids: ids, batch: batch, steps: steps, lengths: lengths, sampling: s.sampling, seed: seed,
                    into: s.outputs, indices: s.indices, logProbs: s.logProbs)
    }

}

extension Ensemble: Network {
    static var noun: String { "ensemble" }
    static func unwrap(_ p: OpaquePointer?) throws(SoftmaxKitError) -> Ensemble {
        try handle(p, "ensemble", as: EnsembleHandle.self).ensemble
    }
    static func state(_ p: OpaquePointer?) throws(SoftmaxKitError) -> EnsembleState {
        try handle(p, "state", as: StateHandle.self).ensembleState()
    }
    static func batch(of state: EnsembleState) -> Int { state.batch }
    /// The members share one input, so the first one checks it.
    func inputRows(batch: Int, steps: Int, features f: Int) throws(SoftmaxKitError) -> Int {
        try models[0].rows(batch: batch, steps: steps, features: f)
    }

    func run(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        if let lengths {
            try forward(x, batch: batch, steps: steps, features: f, lengths: lengths, into: outputs)
        } else {
            try forward(x, batch: batch, steps: steps, features: f, into: outputs)
        }
    }
    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try forward(ids: ids, batch: batch, steps: steps, lengths: lengths, into: outputs)
    }
    func tick(ids: UnsafeBufferPointer<Int64>, state: EnsembleState,
              into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try step(ids: ids, state: state, into: outputs)
    }

    func run(ids: UnsafeBufferPointer<Int64>, batch: Int, steps: Int, lengths: UnsafeBufferPointer<Int>?,
             _ s: SampledArguments, seed: UInt64) throws(SoftmaxKitError) {
        try forward(ids: ids, batch: batch, steps: steps, lengths: lengths, sampling: s.sampling, seed: seed,
                    into: s.outputs, indices: s.indices, logProbs: s.logProbs)
    }

}

// MARK: Arguments

/// `lengths` (NULL: every row has all steps) as Int.
func cLengths(_ lengths: UnsafePointer<Int64>?, _ b: Int) -> [Int]? {
    guard let lengths else { return nil }
    return (0..<b).map { Int(truncatingIfNeeded: lengths[$0]) }
}

/// Calls `body` with `lengths` as a buffer (nil when NULL).
private func withLengths(_ lengths: UnsafePointer<Int64>?, batch b: Int,
                         _ body: (UnsafeBufferPointer<Int>?) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
    guard let lens = cLengths(lengths, b) else { return try body(nil) }
    try lens.withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in try body(lb) }
}

/// The output buffers of `heads` for `batch` rows of `steps` steps, after
/// `output_count` is checked against the head count.
private func headOutputs(_ heads: [CompiledHead], batch b: Int, steps s: Int, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?,
                         _ outputCount: Int64) throws(SoftmaxKitError) -> [UnsafeMutableBufferPointer<Float>] {
    try checkOutputCount(heads, outputCount)
    guard let outputs else { throw SoftmaxKitError(.nullPointer, "outputs is NULL but output_count is \(outputCount)") }
    var bufs: [UnsafeMutableBufferPointer<Float>] = []
    bufs.reserveCapacity(heads.count)
    for (k, h) in heads.enumerated() {
        bufs.append(try output(outputs[k], Model.outputCount(h, batch: b, steps: s), "outputs[\(k)] (head \"\(h.name)\")"))
    }
    return bufs
}

private func checkOutputCount(_ heads: [CompiledHead], _ outputCount: Int64) throws(SoftmaxKitError) {
    guard outputCount == Int64(heads.count) else {
        throw SoftmaxKitError(.shapeMismatch, "output_count is \(outputCount) but the model has \(heads.count) heads")
    }
}

/// Batch, steps and features as counts, and the element count of `x`
/// (the network's input rows times features) after the core's shape checks.
private func inputShape<N: Network>(_ n: N, _ batch: Int64, _ steps: Int64, _ features: Int64) throws(SoftmaxKitError)
    -> (b: Int, s: Int, f: Int, count: Int) {
    let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
    return (b, s, f, try n.inputRows(batch: b, steps: s, features: f) * f)
}

/// The `[batch, steps]` ids of a sequence call.
private func sequenceIds(_ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64) throws(SoftmaxKitError)
    -> (ids: UnsafeBufferPointer<Int64>, b: Int, s: Int) {
    let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
    guard let bt = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
    return (try input(ids, bt, "ids"), b, s)
}

/// A step's batch against its state's.
private func checkStepBatch(_ b: Int, _ stateBatch: Int) throws(SoftmaxKitError) {
    guard b == stateBatch else {
        throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(stateBatch), the call gives batch \(b)")
    }
}

// MARK: Forward and streaming

/// smk_model_forward(_lengths) and smk_ensemble_forward(_lengths).
func networkForward<N: Network>(_ n: N, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                                _ lengths: UnsafePointer<Int64>?, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?,
                                _ outputCount: Int64) throws(SoftmaxKitError) {
    let a = try inputShape(n, batch, steps, features)
    try checkOutputCount(n.heads, outputCount)
    let xs = try input(x, a.count, "x")
    let outs = try headOutputs(n.heads, batch: a.b, steps: a.s, outputs, outputCount)
    try withLengths(lengths, batch: a.b) { (lb) throws(SoftmaxKitError) in
        try n.run(xs, batch: a.b, steps: a.s, features: a.f, lengths: lb, into: outs)
    }
}

/// smk_model_forward_ids and smk_ensemble_forward_ids.
func networkForwardIds<N: Network>(_ n: N, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
                                   _ lengths: UnsafePointer<Int64>?, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?,
                                   _ outputCount: Int64) throws(SoftmaxKitError) {
    _ = try n.idVocabulary()  // the network's kind before its buffers
    let a = try sequenceIds(ids, batch, steps)
    let outs = try headOutputs(n.heads, batch: a.b, steps: a.s, outputs, outputCount)
    try withLengths(lengths, batch: a.b) { (lb) throws(SoftmaxKitError) in
        try n.run(ids: a.ids, batch: a.b, steps: a.s, lengths: lb, into: outs)
    }
}

/// smk_model_step and smk_ensemble_step.
func networkStep<N: Network>(_ n: N, _ st: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
                             _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) throws(SoftmaxKitError) {
    let state = try N.state(st)
    try checkStepBatch(try elementCount(batch, "batch"), N.batch(of: state))
    let a = try inputShape(n, batch, 1, features)
    try checkOutputCount(n.heads, outputCount)
    let xs = try input(x, a.count, "x")
    let outs = try headOutputs(n.heads, batch: a.b, steps: 1, outputs, outputCount)
    try n.step(xs, state: state, features: a.f, into: outs)
}

/// smk_model_step_ids and smk_ensemble_step_ids.
func networkStepIds<N: Network>(_ n: N, _ st: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64,
                                _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) throws(SoftmaxKitError) {
    let state = try N.state(st)
    _ = try n.idVocabulary()  // the network's kind before its buffers
    let b = try elementCount(batch, "batch")
    try checkStepBatch(b, N.batch(of: state))
    let idBuf = try input(ids, b, "ids")
    let outs = try headOutputs(n.heads, batch: b, steps: 1, outputs, outputCount)
    try n.tick(ids: idBuf, state: state, into: outs)
}

// MARK: Sampled forwards

/// The buffers of a sampled forward for `batch` sequences of `steps` steps.
struct SampledArguments {
    var sampling: [SamplingOptions?] = []
    var outputs: [UnsafeMutableBufferPointer<Float>] = []
    var indices: [UnsafeMutableBufferPointer<Int>] = []
    var logProbs: [UnsafeMutableBufferPointer<Float>?] = []
}

/// Per-head smk_sample_options (NULL entries: the head is not sampled) and
/// the output, index and log-probability tables, each checked.
private func sampledArguments(
    _ heads: [CompiledHead], batch b: Int, steps s: Int, _ options: UnsafePointer<UnsafeRawPointer?>?,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) throws(SoftmaxKitError) -> SampledArguments {
    try checkOutputCount(heads, outputCount)
    guard let outputs else { throw SoftmaxKitError(.nullPointer, "outputs is NULL but output_count is \(outputCount)") }
    var a = SampledArguments()
    for (k, h) in heads.enumerated() {
        let what = "head \(k) (\"\(h.name)\")"
        let full = try Model.outputCount(h, batch: b, steps: s)
        guard let op = options?[k] else {
            a.sampling.append(nil)
            a.outputs.append(try output(outputs[k], full, "outputs[\(k)] (\(what))"))
            a.indices.append(UnsafeMutableBufferPointer(start: nil, count: 0))
            a.logProbs.append(nil)
            continue
        }
        let o: SamplingOptions
        do {
            o = try sampleOptions(op)
        } catch {
            throw SoftmaxKitError(error.kind, "sample_options[\(k)] (\(what)): \(error.message)")
        }
        let rows = h.perStep ? SoftmaxKit.elementCount(b, s) : b
        guard let rows, let count = SoftmaxKit.elementCount(rows, o.numSamples) else {
            throw SoftmaxKitError(.sizeOverflow, "the draws of \(what) overflow 64 bits")
        }
        guard let indices else { throw SoftmaxKitError(.nullPointer, "indices is NULL but \(what) is sampled") }
        a.sampling.append(o)
        a.outputs.append(outputs[k].map { UnsafeMutableBufferPointer(start: $0, count: full) }
                         ?? UnsafeMutableBufferPointer(start: nil, count: 0))
        a.indices.append(try indexOutput(indices[k], count, "indices[\(k)] (\(what))"))
        a.logProbs.append(logProbs.flatMap { $0[k] }.map { UnsafeMutableBufferPointer(start: $0, count: count) })
    }
    return a
}

/// The C tables of a sampled call: options, outputs, indices, log-probabilities.
struct SampledTables {
    let options: UnsafePointer<UnsafeRawPointer?>?
    let seed: UInt64
    let outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?
    let indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?
    let logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?
    let outputCount: Int64

    func arguments(_ heads: [CompiledHead], batch b: Int, steps s: Int) throws(SoftmaxKitError) -> SampledArguments {
        try sampledArguments(heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
    }
}

/// smk_model_forward_sampled and the ensemble forwards with sampled heads.
func networkForwardSampled<N: Network>(_ n: N, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                                       _ lengths: UnsafePointer<Int64>?, _ t: SampledTables) throws(SoftmaxKitError) {
    let a = try inputShape(n, batch, steps, features)
    let xs = try input(x, a.count, "x")
    let s = try t.arguments(n.heads, batch: a.b, steps: a.s)
    try withLengths(lengths, batch: a.b) { (lb) throws(SoftmaxKitError) in
        try n.forward(xs, batch: a.b, steps: a.s, features: a.f, lengths: lb, sampling: s.sampling, seed: t.seed,
                      into: s.outputs, indices: s.indices, logProbs: s.logProbs)
    }
}

/// smk_model_forward_ids_sampled and smk_ensemble_forward_ids_sampled.
func networkForwardIdsSampled<N: Network>(_ n: N, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
                                          _ lengths: UnsafePointer<Int64>?, _ t: SampledTables) throws(SoftmaxKitError) {
    _ = try n.idVocabulary()  // the network's kind before its buffers
    let a = try sequenceIds(ids, batch, steps)
    let s = try t.arguments(n.heads, batch: a.b, steps: a.s)
    try withLengths(lengths, batch: a.b) { (lb) throws(SoftmaxKitError) in
        try n.run(ids: a.ids, batch: a.b, steps: a.s, lengths: lb, s, seed: t.seed)
    }
}

/// smk_model_step_sampled and smk_ensemble_step_sampled.
func networkStepSampled<N: Network>(_ n: N, _ st: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
                                    _ t: SampledTables) throws(SoftmaxKitError) {
    let state = try N.state(st)
    try checkStepBatch(try elementCount(batch, "batch"), N.batch(of: state))
    let a = try inputShape(n, batch, 1, features)
    let xs = try input(x, a.count, "x_t")
    let s = try t.arguments(n.heads, batch: a.b, steps: 1)
    try n.step(xs, state: state, features: a.f, sampling: s.sampling, seed: t.seed, into: s.outputs, indices: s.indices,
               logProbs: s.logProbs)
}

// MARK: Typed forwards

/// An smk_dtype of a forward's buffers: nil for float32, else the half format.
private func forwardFormat(_ dtype: Int32, _ name: String) throws(SoftmaxKitError) -> HalfFormat? {
    switch dtype {
    case 0: return nil
    case 2: return .binary16
    case 3: return .bfloat16
    case 1: throw SoftmaxKitError(.invalidArgument, "\(name) is SMK_DTYPE_F64: a forward takes SMK_DTYPE_F32, SMK_DTYPE_F16 or SMK_DTYPE_BF16")
    default: throw SoftmaxKitError(.invalidArgument, "\(name) \(dtype) is not an smk_dtype (SMK_DTYPE_F32, SMK_DTYPE_F16 or SMK_DTYPE_BF16)")
    }
}

/// The C buffers of a typed forward of `xCount` input elements (`heads`'
/// outputs for `batch` rows of `steps` steps), each checked for NULL.
private func typedArguments(_ heads: [CompiledHead], xCount n: Int, batch b: Int, steps s: Int,
                            _ x: UnsafeRawPointer?, _ xDtype: Int32,
                            _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                            _ outputCount: Int64) throws(SoftmaxKitError) -> TypedForward {
    let xf = try forwardFormat(xDtype, "x_dtype"), of = try forwardFormat(outDtype, "output_dtype")
    try checkOutputCount(heads, outputCount)
    if n > 0 && x == nil { throw SoftmaxKitError(.nullPointer, "x is NULL") }
    guard let outputs else { throw SoftmaxKitError(.nullPointer, "outputs is NULL but output_count is \(outputCount)") }
    var outs: [(UnsafeMutableRawPointer?, Int)] = []
    outs.reserveCapacity(heads.count)
    for (k, h) in heads.enumerated() {
        let c = try Model.outputCount(h, batch: b, steps: s)
        if c > 0 && outputs[k] == nil { throw SoftmaxKitError(.nullPointer, "outputs[\(k)] (head \"\(h.name)\") is NULL") }
        outs.append((outputs[k], c))
    }
    return TypedForward(x: x, xCount: n, xFormat: xf, outputs: outs, outputFormat: of)
}

/// smk_model_forward_typed and smk_ensemble_forward_typed.
func networkForwardTyped<N: Network>(_ n: N, _ x: UnsafeRawPointer?, _ xDtype: Int32, _ batch: Int64, _ steps: Int64,
                                     _ features: Int64, _ lengths: UnsafePointer<Int64>?,
                                     _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                     _ outputCount: Int64) throws(SoftmaxKitError) {
    let (b, s, f, count) = try inputShape(n, batch, steps, features)
    let io = try typedArguments(n.heads, xCount: count, batch: b, steps: s, x, xDtype, outputs, outDtype, outputCount)
    try withLengths(lengths, batch: b) { (lb) throws(SoftmaxKitError) in
        try n.forward(io, batch: b, steps: s, features: f, lengths: lb)
    }
}

/// smk_model_step_typed and smk_ensemble_step_typed.
func networkStepTyped<N: Network>(_ n: N, _ st: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32, _ batch: Int64,
                                  _ features: Int64, _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                  _ outputCount: Int64) throws(SoftmaxKitError) {
    let state = try N.state(st)
    let b = try elementCount(batch, "batch"), f = try elementCount(features, "features")
    try checkStepBatch(b, N.batch(of: state))
    let io = try typedArguments(n.heads, xCount: try n.inputRows(batch: b, steps: 1, features: f) * f, batch: b, steps: 1, x, xDtype, outputs, outDtype, outputCount)
    try n.step(io, state: state, features: f)
}
