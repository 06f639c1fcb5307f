#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(CABI) import SoftmaxKit

// Models, builders and ensembles behind opaque C handles. A handle is an
// Unmanaged box: +1 at creation, released by its *_free function. The boxes
// hold the C strings handed out by the query functions, so those live as
// long as the handle.

/// `smk_model`: a Model plus the C strings of its names and spec, all
/// copied at creation: a handle that exists answers every query.
final class ModelHandle {
    let model: Model
    let headNames: [UnsafeMutablePointer<CChar>]
    let specJSON: UnsafeMutablePointer<CChar>
    let tensors: TensorTable

    init(_ model: Model) throws(SoftmaxKitError) {
        tensors = try TensorTable(model)
        var names: [UnsafeMutablePointer<CChar>] = []
        func copy(_ s: String) throws(SoftmaxKitError) -> UnsafeMutablePointer<CChar> {
            guard let p = FallibleMemory.cString(s) else {
                names.forEach { free($0) }
                throw SoftmaxKitError(.outOfMemory, "cannot allocate the model's names (\(s.utf8.count + 1) bytes)")
            }
            return p
        }
        for h in model.heads { names.append(try copy(h.name)) }
        specJSON = try copy(model.spec.json)
        self.model = model
        headNames = names
    }

    deinit {
        for p in headNames { free(p) }
        free(specJSON)
    }
}

/// `smk_model_builder`: a spec and the tensors added so far.
final class BuilderHandle {
    let spec: ModelSpec
    var tensors: [String: Tensor] = [:]
    init(_ spec: ModelSpec) { self.spec = spec }
}

/// `smk_ensemble`: keeps its member handles alive.
final class EnsembleHandle {
    let ensemble: Ensemble
    let members: [ModelHandle]
    init(_ e: Ensemble, _ m: [ModelHandle]) { ensemble = e; members = m }
}

func handle<T: AnyObject>(_ p: OpaquePointer?, _ name: String, as _: T.Type) throws(SoftmaxKitError) -> T {
    guard let p else { throw SoftmaxKitError(.nullPointer, "\(name) is NULL") }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

func publish<T: AnyObject>(_ object: T, _ out: UnsafeMutablePointer<OpaquePointer?>) {
    out.pointee = OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

private func release<T: AnyObject>(_ p: OpaquePointer?, as _: T.Type) {
    guard let p else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).release()
}

func outPointer<T>(_ p: UnsafeMutablePointer<T>?, _ name: String) throws(SoftmaxKitError) -> UnsafeMutablePointer<T> {
    guard let p else { throw SoftmaxKitError(.nullPointer, "\(name) is NULL") }
    return p
}

func cText(_ p: UnsafePointer<CChar>?, _ name: String) throws(SoftmaxKitError) -> String {
    guard let p else { throw SoftmaxKitError(.nullPointer, "\(name) is NULL") }
    guard let s = String(validatingCString: p) else { throw SoftmaxKitError(.invalidArgument, "\(name) is not valid UTF-8") }
    return s
}

private func headIndex(_ model: Model, _ head: Int64) throws(SoftmaxKitError) -> Int {
    guard head >= 0, head < Int64(model.heads.count) else {
        throw SoftmaxKitError(.indexOutOfRange, "head \(head) is out of range: the model has \(model.heads.count) heads")
    }
    return Int(head)
}

// MARK: Loading

@_cdecl("smk_model_load")
public func smk_model_load(_ path: UnsafePointer<CChar>?, _ modelOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let out = try outPointer(modelOut, "model_out")
        let model = try Model(contentsOf: try cText(path, "path"))
        publish(try ModelHandle(model), out)
    }
}

@_cdecl("smk_model_load_memory")
public func smk_model_load_memory(_ data: UnsafeRawPointer?, _ size: Int64, _ specJSON: UnsafePointer<CChar>?,
                                  _ modelOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let out = try outPointer(modelOut, "model_out")
        guard size >= 0 else { throw SoftmaxKitError(.invalidArgument, "size must be non-negative, got \(size)") }
        guard size <= Int64(Int.max) else { throw SoftmaxKitError(.sizeOverflow, "size \(size) is too large to address") }
        if size > 0, data == nil { throw SoftmaxKitError(.nullPointer, "data is NULL but size is \(size)") }
        let spec = specJSON == nil ? nil : try ModelSpec(json: try cText(specJSON, "spec_json"))
        let model = try Model(safetensors: UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: Int(size)), spec: spec)
        publish(try ModelHandle(model), out)
    }
}

// MARK: Builder

@_cdecl("smk_model_builder_create")
public func smk_model_builder_create(_ specJSON: UnsafePointer<CChar>?, _ builderOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let out = try outPointer(builderOut, "builder_out")
        publish(BuilderHandle(try ModelSpec(json: try cText(specJSON, "spec_json"))), out)
    }
}

private func builderAdd<T>(_ b: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafePointer<T>?,
                           _ shape: UnsafePointer<Int64>?, _ rank: Int64,
                           _ make: ([Int], [T]) throws(SoftmaxKitError) -> Tensor) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let builder = try handle(b, "builder", as: BuilderHandle.self)
        let n = try cText(name, "name")
        guard rank >= 0, rank <= 8 else { throw SoftmaxKitError(.invalidArgument, "rank must be in 0...8, got \(rank)") }
        let dims = try input(shape, Int(rank), "shape")
        var s: [Int] = []
        for d in dims {
            guard d >= 0 else { throw SoftmaxKitError(.invalidArgument, "tensor \"\(n)\": negative dimension \(d)") }
            guard d <= Int64(Int.max) else { throw SoftmaxKitError(.sizeOverflow, "tensor \"\(n)\": dimension \(d) is too large") }
            s.append(Int(d))
        }
        guard let count = elementCount(s) else { throw SoftmaxKitError(.sizeOverflow, "tensor \"\(n)\": shape \(s) overflows 64 bits") }
        let values = try input(data, count, "data")
        try FallibleMemory.probe(T.self, count, for: "tensor \"\(n)\"")
        // Names compare as bytes: a name canonically equivalent to one held
        // (another Unicode normalization) would replace it in the table.
        if let i = builder.tensors.index(forKey: n), !builder.tensors.keys[i].utf8.elementsEqual(n.utf8) {
            throw SoftmaxKitError(.invalidArgument, "tensor \"\(n)\" differs from the tensor \"\(builder.tensors.keys[i])\" already added only in Unicode normalization")
        }
        builder.tensors[n] = try make(s, Array(values))
    }
}

@_cdecl("smk_model_builder_add_f32")
public func smk_model_builder_add_f32(_ b: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafePointer<Float>?,
                                      _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    builderAdd(b, name, data, shape, rank) { (s, v) throws(SoftmaxKitError) in try Tensor(shape: s, v) }
}

@_cdecl("smk_model_builder_add_f64")
public func smk_model_builder_add_f64(_ b: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafePointer<Double>?,
                                      _ shape: UnsafePointer<Int64>?, _ rank: Int64) -> Int32 {
    builderAdd(b, name, data, shape, rank) { (s, v) throws(SoftmaxKitError) in try Tensor(shape: s, v) }
}

@_cdecl("smk_model_builder_build")
public func smk_model_builder_build(_ b: OpaquePointer?, _ modelOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let builder = try handle(b, "builder", as: BuilderHandle.self)
        let out = try outPointer(modelOut, "model_out")
        publish(try ModelHandle(try Model(spec: builder.spec, weights: builder.tensors)), out)
    }
}

@_cdecl("smk_model_builder_free")
public func smk_model_builder_free(_ b: OpaquePointer?) {
    release(b, as: BuilderHandle.self)
}

@_cdecl("smk_model_free")
public func smk_model_free(_ m: OpaquePointer?) {
    release(m, as: ModelHandle.self)
}

// MARK: Queries

@_cdecl("smk_model_input_features")
public func smk_model_input_features(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        try outPointer(out, "features_out").pointee = Int64(h.model.features)
    }
}

@_cdecl("smk_model_parameter_count")
public func smk_model_parameter_count(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        try outPointer(out, "count_out").pointee = Int64(h.model.parameterCount)
    }
}

@_cdecl("smk_model_head_count")
public func smk_model_head_count(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        try outPointer(out, "count_out").pointee = Int64(h.model.heads.count)
    }
}

@_cdecl("smk_model_head_name")
public func smk_model_head_name(_ m: OpaquePointer?, _ head: Int64, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        let o = try outPointer(out, "name_out")
        o.pointee = UnsafePointer(h.headNames[try headIndex(h.model, head)])
    }
}

@_cdecl("smk_model_head_size")
public func smk_model_head_size(_ m: OpaquePointer?, _ head: Int64, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        let o = try outPointer(out, "size_out")
        o.pointee = Int64(h.model.heads[try headIndex(h.model, head)].size)
    }
}

@_cdecl("smk_model_spec_json")
public func smk_model_spec_json(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        let o = try outPointer(out, "json_out")
        o.pointee = UnsafePointer(h.specJSON)
    }
}

// MARK: Forward

/// Views the C arguments of a forward call as buffers, sized by the core's
/// checks of `model` (an ensemble's first member stands for it).
private func forwardArguments(_ model: Model, _ heads: [CompiledHead], _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64,
                              _ features: Int64, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?,
                              _ outputCount: Int64) throws(SoftmaxKitError)
    -> (UnsafeBufferPointer<Float>, [UnsafeMutableBufferPointer<Float>], Int, Int, Int) {
    let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
    let r = try model.rows(batch: b, steps: s, features: f)
    let n = r * f
    guard outputCount == Int64(heads.count) else {
        throw SoftmaxKitError(.shapeMismatch, "output_count is \(outputCount) but the model has \(heads.count) heads")
    }
    let xs = try input(x, n, "x")
    guard let outputs else { throw SoftmaxKitError(.nullPointer, "outputs is NULL but output_count is \(outputCount)") }
    var bufs: [UnsafeMutableBufferPointer<Float>] = []
    bufs.reserveCapacity(heads.count)
    for (k, h) in heads.enumerated() {
        bufs.append(try output(outputs[k], Model.outputCount(h, batch: b, steps: s), "outputs[\(k)] (head \"\(h.name)\")"))
    }
    return (xs, bufs, b, s, f)
}

@_cdecl("smk_model_forward")
public func smk_model_forward(_ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                              _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let (xs, outs, b, s, f) = try forwardArguments(model, model.heads, x, batch, steps, features, outputs, outputCount)
        try model.forward(xs, batch: b, steps: s, features: f, into: outs)
    }
}

/// The output buffers of a sequence forward, sized per head.
private func sequenceOutputs(_ model: Model, _ b: Int, _ s: Int, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?,
                             _ outputCount: Int64) throws(SoftmaxKitError) -> [UnsafeMutableBufferPointer<Float>] {
    guard outputCount == Int64(model.heads.count) else {
        throw SoftmaxKitError(.shapeMismatch, "output_count is \(outputCount) but the model has \(model.heads.count) heads")
    }
    guard let outputs else { throw SoftmaxKitError(.nullPointer, "outputs is NULL but output_count is \(outputCount)") }
    var bufs: [UnsafeMutableBufferPointer<Float>] = []
    for (k, h) in model.heads.enumerated() {
        bufs.append(try output(outputs[k], Model.outputCount(h, batch: b, steps: s), "outputs[\(k)] (head \"\(h.name)\")"))
    }
    return bufs
}

/// `lengths` (NULL: every row has all steps) as Int.
func cLengths(_ lengths: UnsafePointer<Int64>?, _ b: Int) -> [Int]? {
    guard let lengths else { return nil }
    return (0..<b).map { Int(truncatingIfNeeded: lengths[$0]) }
}

@_cdecl("smk_model_forward_lengths")
public func smk_model_forward_lengths(_ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                                      _ lengths: UnsafePointer<Int64>?,
                                      _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let (xs, outs, b, s, f) = try forwardArguments(model, model.heads, x, batch, steps, features, outputs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try model.forward(xs, batch: b, steps: s, features: f, lengths: lens == nil ? nil : lb, into: outs)
        }
    }
}

@_cdecl("smk_model_forward_ids")
public func smk_model_forward_ids(_ m: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
                                  _ lengths: UnsafePointer<Int64>?,
                                  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        _ = try model.idVocabulary()  // the model's kind before its buffers
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
        guard let bt = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
        let idBuf = try input(ids, bt, "ids")
        let outs = try sequenceOutputs(model, b, s, outputs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try model.forward(ids: idBuf, batch: b, steps: s, lengths: lens == nil ? nil : lb, into: outs)
        }
    }
}

@_cdecl("smk_model_input_vocabulary")
public func smk_model_input_vocabulary(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        try outPointer(out, "vocabulary_out").pointee = Int64(model.vocabulary ?? 0)
    }
}

@_cdecl("smk_model_head_per_step")
public func smk_model_head_per_step(_ m: OpaquePointer?, _ head: Int64, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let h = try headIndex(model, head)
        try outPointer(out, "per_step_out").pointee = model.heads[h].perStep ? 1 : 0
    }
}

// MARK: Streaming

/// `smk_model_state`: a model's ModelState or an ensemble's EnsembleState,
/// and the model or ensemble it belongs to (kept alive, so no later one can
/// take its identity).
final class StateHandle {
    let model: ModelState?
    let ensemble: EnsembleState?
    let owner: AnyObject
    init(_ s: ModelState, _ m: Model) { model = s; ensemble = nil; owner = m }
    init(_ s: EnsembleState, _ e: Ensemble) { model = nil; ensemble = s; owner = e }

    func modelState() throws(SoftmaxKitError) -> ModelState {
        guard let model else { throw SoftmaxKitError(.shapeMismatch, "the state belongs to an ensemble (smk_ensemble_state_create), not to a model") }
        return model
    }

    func ensembleState() throws(SoftmaxKitError) -> EnsembleState {
        guard let ensemble else { throw SoftmaxKitError(.shapeMismatch, "the state belongs to a model (smk_model_state_create), not to an ensemble") }
        return ensemble
    }
}

/// The ids of one step of `batch` rows.
private func stepIds(_ ids: UnsafePointer<Int64>?, _ batch: Int64, _ stateBatch: Int) throws(SoftmaxKitError) -> UnsafeBufferPointer<Int64> {
    let b = try elementCount(batch, "batch")
    guard b == stateBatch else {
        throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(stateBatch), the call gives batch \(b)")
    }
    return try input(ids, b, "ids")
}

@_cdecl("smk_model_state_create")
public func smk_model_state_create(_ m: OpaquePointer?, _ batch: Int64, _ stateOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let out = try outPointer(stateOut, "state_out")
        let b = try elementCount(batch, "batch")
        publish(StateHandle(try model.makeState(batch: b), model), out)
    }
}

@_cdecl("smk_model_state_reset")
public func smk_model_state_reset(_ s: OpaquePointer?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(s, "state", as: StateHandle.self)
        h.model?.reset()
        h.ensemble?.reset()
    }
}

@_cdecl("smk_model_state_head_ready")
public func smk_model_state_head_ready(_ s: OpaquePointer?, _ head: Int64, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(s, "state", as: StateHandle.self)
        let ready = h.model?.ready ?? h.ensemble?.ready ?? []
        guard head >= 0, head < Int64(ready.count) else {
            throw SoftmaxKitError(.indexOutOfRange, "head \(head) is out of range: the state's model has \(ready.count) heads")
        }
        try outPointer(out, "ready_out").pointee = ready[Int(head)] ? 1 : 0
    }
}

@_cdecl("smk_model_state_free")
public func smk_model_state_free(_ s: OpaquePointer?) {
    release(s, as: StateHandle.self)
}

@_cdecl("smk_model_step")
public func smk_model_step(_ m: OpaquePointer?, _ s: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
                           _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let state = try handle(s, "state", as: StateHandle.self).modelState()
        let b = try elementCount(batch, "batch")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let (xs, outs, _, _, f) = try forwardArguments(model, model.heads, x, batch, 1, features, outputs, outputCount)
        try model.step(xs, state: state, features: f, into: outs)
    }
}

@_cdecl("smk_model_step_ids")
public func smk_model_step_ids(_ m: OpaquePointer?, _ s: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64,
                               _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let state = try handle(s, "state", as: StateHandle.self).modelState()
        _ = try model.idVocabulary()  // the model's kind before its buffers
        let idBuf = try stepIds(ids, batch, state.batch)
        let outs = try sequenceOutputs(model, state.batch, 1, outputs, outputCount)
        try model.step(ids: idBuf, state: state, into: outs)
    }
}

// MARK: Ensembles

@_cdecl("smk_ensemble_create")
public func smk_ensemble_create(_ models: UnsafePointer<OpaquePointer?>?, _ count: Int64, _ mode: Int32,
                                _ ensembleOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let out = try outPointer(ensembleOut, "ensemble_out")
        guard let m = EnsembleMode(rawValue: mode) else {
            throw SoftmaxKitError(.invalidArgument, "mode \(mode) is not an smk_ensemble_mode")
        }
        let c = try elementCount(count, "count")
        let ptrs = try input(models, c, "models")
        var handles: [ModelHandle] = []
        for (k, p) in ptrs.enumerated() { handles.append(try handle(p, "models[\(k)]", as: ModelHandle.self)) }
        publish(EnsembleHandle(try Ensemble(models: handles.map(\.model), mode: m), handles), out)
    }
}

@_cdecl("smk_ensemble_model")
public func smk_ensemble_model(_ e: OpaquePointer?, _ index: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(e, "ensemble", as: EnsembleHandle.self)
        let o = try outPointer(out, "model_out")
        guard index >= 0, index < Int64(h.members.count) else {
            throw SoftmaxKitError(.indexOutOfRange, "model \(index) is out of range: the ensemble has \(h.members.count) models")
        }
        o.pointee = OpaquePointer(Unmanaged.passUnretained(h.members[Int(index)]).toOpaque())
    }
}

@_cdecl("smk_ensemble_forward")
public func smk_ensemble_forward(_ e: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                                 _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let (xs, outs, b, s, f) = try forwardArguments(ens.models[0], ens.heads, x, batch, steps, features, outputs, outputCount)
        try ens.forward(xs, batch: b, steps: s, features: f, into: outs)
    }
}

@_cdecl("smk_ensemble_forward_lengths")
public func smk_ensemble_forward_lengths(_ e: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
                                         _ lengths: UnsafePointer<Int64>?,
                                         _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let (xs, outs, b, s, f) = try forwardArguments(ens.models[0], ens.heads, x, batch, steps, features, outputs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            if lens == nil {
                try ens.forward(xs, batch: b, steps: s, features: f, into: outs)
            } else {
                try ens.forward(xs, batch: b, steps: s, features: f, lengths: lb, into: outs)
            }
        }
    }
}

@_cdecl("smk_ensemble_forward_ids")
public func smk_ensemble_forward_ids(_ e: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
                                     _ lengths: UnsafePointer<Int64>?,
                                     _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        _ = try ens.idVocabulary()  // the members' kind before the buffers
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
        guard let bt = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
        let idBuf = try input(ids, bt, "ids")
        let outs = try sequenceOutputs(ens.models[0], b, s, outputs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try ens.forward(ids: idBuf, batch: b, steps: s, lengths: lens == nil ? nil : lb, into: outs)
        }
    }
}

@_cdecl("smk_ensemble_state_create")
public func smk_ensemble_state_create(_ e: OpaquePointer?, _ batch: Int64, _ stateOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let out = try outPointer(stateOut, "state_out")
        let b = try elementCount(batch, "batch")
        publish(StateHandle(try ens.makeState(batch: b), ens), out)
    }
}

@_cdecl("smk_ensemble_step")
public func smk_ensemble_step(_ e: OpaquePointer?, _ s: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
                              _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let state = try handle(s, "state", as: StateHandle.self).ensembleState()
        let b = try elementCount(batch, "batch")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let (xs, outs, _, _, f) = try forwardArguments(ens.models[0], ens.heads, x, batch, 1, features, outputs, outputCount)
        try ens.step(xs, state: state, features: f, into: outs)
    }
}

@_cdecl("smk_ensemble_step_ids")
public func smk_ensemble_step_ids(_ e: OpaquePointer?, _ s: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64,
                                  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let state = try handle(s, "state", as: StateHandle.self).ensembleState()
        _ = try ens.idVocabulary()  // the members' kind before the buffers
        let idBuf = try stepIds(ids, batch, state.batch)
        let outs = try sequenceOutputs(ens.models[0], state.batch, 1, outputs, outputCount)
        try ens.step(ids: idBuf, state: state, into: outs)
    }
}

@_cdecl("smk_ensemble_free")
public func smk_ensemble_free(_ e: OpaquePointer?) {
    release(e, as: EnsembleHandle.self)
}

// MARK: Tensors and serialization

/// The tensors of a model in the order its serialized file holds them (spec
/// order: each layer's weight, then its bias), with their names as C strings
/// owned by the table.
final class TensorTable {
    let names: [String]
    let cNames: [UnsafeMutablePointer<CChar>]
    let tensors: [Tensor]

    init(_ model: Model) throws(SoftmaxKitError) {
        var order = model.tensorOrder
        if order.count != model.weights.count {  // tensors outside the spec: kept, after it, in byte order
            let listed = Set(order)
            order += model.weights.keys.filter { !listed.contains($0) }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        }
        var c: [UnsafeMutablePointer<CChar>] = []
        for n in order {
            guard let p = FallibleMemory.cString(n) else {
                c.forEach { free($0) }
                throw SoftmaxKitError(.outOfMemory, "cannot allocate the name of tensor \"\(n)\" (\(n.utf8.count + 1) bytes)")
            }
            c.append(p)
        }
        names = order
        cNames = c
        tensors = order.compactMap { model.weights[$0] }  // every name is a key: one tensor each
    }

    func index(_ t: Int64) throws(SoftmaxKitError) -> Int {
        guard t >= 0, t < Int64(tensors.count) else {
            throw SoftmaxKitError(.indexOutOfRange, "tensor \(t) is out of range: the model has \(tensors.count) tensors")
        }
        return Int(t)
    }

    deinit { for p in cNames { free(p) } }
}

/// The header's buffer convention: `*sizeOut` always receives `needed` (the
/// element count the full result takes); `fill` writes it only when `data`
/// holds `capacity >= needed` elements of `stride` bytes. `data` NULL with
/// `capacity` 0 is a size query.
func fillBuffer(_ data: UnsafeMutableRawPointer?, _ capacity: Int64, _ sizeOut: UnsafeMutablePointer<Int64>?,
                        _ sizeName: String, needed: Int, stride: Int, what: String,
                        _ fill: (UnsafeMutableRawPointer) -> Void) throws(SoftmaxKitError) {
    let out = try outPointer(sizeOut, sizeName)
    guard capacity >= 0 else { throw SoftmaxKitError(.invalidArgument, "capacity must be non-negative, got \(capacity)") }
    guard let data else {
        guard capacity == 0 else { throw SoftmaxKitError(.nullPointer, "the buffer is NULL but capacity is \(capacity)") }
        out.pointee = Int64(needed)
        return
    }
    guard capacity >= Int64(needed) else {
        out.pointee = Int64(needed)
        throw SoftmaxKitError(.shapeMismatch, "\(what) needs \(needed) elements, the buffer holds \(capacity)")
    }
    let start = UInt(bitPattern: data), end = start &+ UInt(needed * stride)
    let s = UInt(bitPattern: UnsafeRawPointer(out)), e = s &+ 8
    guard needed == 0 || e <= start || s >= end else {
        throw SoftmaxKitError(.invalidArgument, "\(sizeName) overlaps the buffer")
    }
    fill(data)
    out.pointee = Int64(needed)
}

@_cdecl("smk_model_tensor_count")
public func smk_model_tensor_count(_ m: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let h = try handle(m, "model", as: ModelHandle.self)
        try outPointer(out, "count_out").pointee = Int64(h.tensors.tensors.count)
    }
}

@_cdecl("smk_model_tensor_name")
public func smk_model_tensor_name(_ m: OpaquePointer?, _ tensor: Int64, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let t = try handle(m, "model", as: ModelHandle.self).tensors
        let o = try outPointer(out, "name_out")
        o.pointee = UnsafePointer(t.cNames[try t.index(tensor)])
    }
}

@_cdecl("smk_model_tensor_dtype")
public func smk_model_tensor_dtype(_ m: OpaquePointer?, _ tensor: Int64, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let t = try handle(m, "model", as: ModelHandle.self).tensors
        let o = try outPointer(out, "dtype_out")
        switch t.tensors[try t.index(tensor)].storage {
        case .f32: o.pointee = 0  // SMK_DTYPE_F32
        case .f64: o.pointee = 1  // SMK_DTYPE_F64
        }
    }
}

@_cdecl("smk_model_tensor_shape")
public func smk_model_tensor_shape(_ m: OpaquePointer?, _ tensor: Int64, _ shape: UnsafeMutablePointer<Int64>?,
                                   _ capacity: Int64, _ rankOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let t = try handle(m, "model", as: ModelHandle.self).tensors
        let k = try t.index(tensor)
        let dims = t.tensors[k].shape
        try fillBuffer(UnsafeMutableRawPointer(shape), capacity, rankOut, "rank_out", needed: dims.count, stride: 8,
                       what: "the shape of tensor \"\(t.names[k])\"") { p in
            let s = p.assumingMemoryBound(to: Int64.self)
            for (k, d) in dims.enumerated() { s[k] = Int64(d) }
        }
    }
}

@_cdecl("smk_model_tensor_data")
public func smk_model_tensor_data(_ m: OpaquePointer?, _ tensor: Int64, _ data: UnsafeMutableRawPointer?,
                                  _ capacity: Int64, _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let t = try handle(m, "model", as: ModelHandle.self).tensors
        let k = try t.index(tensor)
        let what = "tensor \"\(t.names[k])\""
        switch t.tensors[k].storage {
        case .f32(let v):
            try fillBuffer(data, capacity, sizeOut, "size_out", needed: v.count * 4, stride: 1, what: what) { p in
                v.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
            }
        case .f64(let v):
            try fillBuffer(data, capacity, sizeOut, "size_out", needed: v.count * 8, stride: 1, what: what) { p in
                v.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
            }
        }
    }
}

@_cdecl("smk_model_serialize")
public func smk_model_serialize(_ m: OpaquePointer?, _ data: UnsafeMutableRawPointer?, _ capacity: Int64,
                                _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let bytes = model.serialized()
        try fillBuffer(data, capacity, sizeOut, "size_out", needed: bytes.count, stride: 1, what: "the serialized model") { p in
            bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        }
    }
}

@_cdecl("smk_model_save")
public func smk_model_save(_ m: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        try model.save(to: try cText(path, "path"))
    }
}

// MARK: Graph

@_cdecl("smk_model_dot")
public func smk_model_dot(_ m: OpaquePointer?, _ dot: UnsafeMutablePointer<CChar>?, _ capacity: Int64,
                          _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let bytes = Array(model.dot().utf8) + [0]
        try fillBuffer(UnsafeMutableRawPointer(dot), capacity, sizeOut, "size_out", needed: bytes.count, stride: 1,
                       what: "the DOT text") { p in
            bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        }
    }
}
