@_spi(CABI) import SoftmaxKit

// Model and ensemble forwards with typed input and output buffers
// (smk_model_forward_typed and kin): float32, float16 or bfloat16 on either
// side, the computation in float32 as smk_model_forward's.

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

/// The C buffers of a typed forward of `rows` rows (`heads`' outputs for
/// `batch` rows of `steps` steps), each checked for NULL.
private func typedArguments(_ heads: [CompiledHead], rows r: Int, features: Int, batch b: Int, steps s: Int,
                            _ x: UnsafeRawPointer?, _ xDtype: Int32,
                            _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                            _ outputCount: Int64) throws(SoftmaxKitError) -> TypedForward {
    let xf = try forwardFormat(xDtype, "x_dtype"), of = try forwardFormat(outDtype, "output_dtype")
    guard outputCount == Int64(heads.count) else {
        throw SoftmaxKitError(.shapeMismatch, "output_count is \(outputCount) but the model has \(heads.count) heads")
    }
    let n = r * features
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

@_cdecl("smk_model_forward_typed")
public func smk_model_forward_typed(_ m: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                    _ batch: Int64, _ steps: Int64, _ features: Int64, _ lengths: UnsafePointer<Int64>?,
                                    _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                    _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
        let r = try model.rows(batch: b, steps: s, features: f)
        let io = try typedArguments(model.heads, rows: r, features: f, batch: b, steps: s, x, xDtype, outputs, outDtype, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try model.forward(io, batch: b, steps: s, features: f, lengths: lens == nil ? nil : lb)
        }
    }
}

@_cdecl("smk_model_step_typed")
public func smk_model_step_typed(_ m: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                 _ batch: Int64, _ features: Int64,
                                 _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                 _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let state = try handle(st, "state", as: StateHandle.self).modelState()
        let b = try elementCount(batch, "batch"), f = try elementCount(features, "features")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let r = try model.rows(batch: b, steps: 1, features: f)
        let io = try typedArguments(model.heads, rows: r, features: f, batch: b, steps: 1, x, xDtype, outputs, outDtype, outputCount)
        try model.step(io, state: state, features: f)
    }
}

@_cdecl("smk_ensemble_forward_typed")
public func smk_ensemble_forward_typed(_ e: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                       _ batch: Int64, _ steps: Int64, _ features: Int64, _ lengths: UnsafePointer<Int64>?,
                                       _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                       _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
        let r = try ens.models[0].rows(batch: b, steps: s, features: f)
        let io = try typedArguments(ens.heads, rows: r, features: f, batch: b, steps: s, x, xDtype, outputs, outDtype, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try ens.forward(io, batch: b, steps: s, features: f, lengths: lens == nil ? nil : lb)
        }
    }
}

@_cdecl("smk_ensemble_step_typed")
public func smk_ensemble_step_typed(_ e: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                    _ batch: Int64, _ features: Int64,
                                    _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                    _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let state = try handle(st, "state", as: StateHandle.self).ensembleState()
        let b = try elementCount(batch, "batch"), f = try elementCount(features, "features")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let r = try ens.models[0].rows(batch: b, steps: 1, features: f)
        let io = try typedArguments(ens.heads, rows: r, features: f, batch: b, steps: 1, x, xDtype, outputs, outDtype, outputCount)
        try ens.step(io, state: state, features: f)
    }
}
