@_spi(CABI) import SoftmaxKit

// Forward calls that sample some heads: per-head smk_sample_options, a seed,
// and index / log-probability tables beside the outputs table.

/// The buffers of a sampled forward for `batch` sequences of `steps` steps.
private struct SampledArguments {
    var sampling: [SamplingOptions?] = []
    var outputs: [UnsafeMutableBufferPointer<Float>] = []
    var indices: [UnsafeMutableBufferPointer<Int>] = []
    var logProbs: [UnsafeMutableBufferPointer<Float>?] = []
}

private func sampledArguments(
    _ heads: [CompiledHead], batch b: Int, steps s: Int, _ options: UnsafePointer<UnsafeRawPointer?>?,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) throws(SoftmaxKitError) -> SampledArguments {
    guard outputCount == Int64(heads.count) else {
        throw SoftmaxKitError(.shapeMismatch, "output_count is \(outputCount) but the model has \(heads.count) heads")
    }
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

@_cdecl("smk_model_forward_sampled")
public func smk_model_forward_sampled(
    _ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
    _ lengths: UnsafePointer<Int64>?, _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
        let r = try model.rows(batch: b, steps: s, features: f)
        let xs = try input(x, r * f, "x")
        let a = try sampledArguments(model.heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try model.forward(xs, batch: b, steps: s, features: f, lengths: lens == nil ? nil : lb, sampling: a.sampling,
                              seed: seed, into: a.outputs, indices: a.indices, logProbs: a.logProbs)
        }
    }
}

@_cdecl("smk_model_forward_ids_sampled")
public func smk_model_forward_ids_sampled(
    _ m: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
    _ lengths: UnsafePointer<Int64>?, _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        guard model.vocabulary != nil else {
            throw SoftmaxKitError(.invalidArgument, "the model takes \(model.features) float features, not token ids")
        }
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
        guard let bt = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
        let idBuf = try input(ids, bt, "ids")
        let a = try sampledArguments(model.heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try model.forward(ids: idBuf, batch: b, steps: s, lengths: lens == nil ? nil : lb, sampling: a.sampling, seed: seed,
                              into: a.outputs, indices: a.indices, logProbs: a.logProbs)
        }
    }
}

@_cdecl("smk_model_step_sampled")
public func smk_model_step_sampled(
    _ m: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
    _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        let state = try handle(st, "state", as: StateHandle.self).modelState()
        let b = try elementCount(batch, "batch"), f = try elementCount(features, "features")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let r = try model.rows(batch: b, steps: 1, features: f)
        let xs = try input(x, r * f, "x_t")
        let a = try sampledArguments(model.heads, batch: b, steps: 1, options, outputs, indices, logProbs, outputCount)
        try model.step(xs, state: state, features: f, sampling: a.sampling, seed: seed, into: a.outputs, indices: a.indices,
                       logProbs: a.logProbs)
    }
}

@_cdecl("smk_ensemble_forward_sampled")
public func smk_ensemble_forward_sampled(
    _ e: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
    _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
        let r = try ens.models[0].rows(batch: b, steps: s, features: f)
        let xs = try input(x, r * f, "x")
        let a = try sampledArguments(ens.heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
        try ens.forward(xs, batch: b, steps: s, features: f, sampling: a.sampling, seed: seed, into: a.outputs, indices: a.indices,
                        logProbs: a.logProbs)
    }
}

// Ensembles sampled with lengths, on token ids and one step at a time.

@_cdecl("smk_ensemble_forward_lengths_sampled")
public func smk_ensemble_forward_lengths_sampled(
    _ e: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
    _ lengths: UnsafePointer<Int64>?, _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps"), f = try elementCount(features, "features")
        let r = try ens.models[0].rows(batch: b, steps: s, features: f)
        let xs = try input(x, r * f, "x")
        let a = try sampledArguments(ens.heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try ens.forward(xs, batch: b, steps: s, features: f, lengths: lens == nil ? nil : lb, sampling: a.sampling, seed: seed,
                            into: a.outputs, indices: a.indices, logProbs: a.logProbs)
        }
    }
}

@_cdecl("smk_ensemble_forward_ids_sampled")
public func smk_ensemble_forward_ids_sampled(
    _ e: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64,
    _ lengths: UnsafePointer<Int64>?, _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        guard ens.vocabulary != nil else {
            throw SoftmaxKitError(.invalidArgument, "the ensemble's models take \(ens.features) float features, not token ids")
        }
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
        guard let bt = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
        let idBuf = try input(ids, bt, "ids")
        let a = try sampledArguments(ens.heads, batch: b, steps: s, options, outputs, indices, logProbs, outputCount)
        let lens = cLengths(lengths, b)
        try (lens ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
            try ens.forward(ids: idBuf, batch: b, steps: s, lengths: lens == nil ? nil : lb, sampling: a.sampling, seed: seed,
                            into: a.outputs, indices: a.indices, logProbs: a.logProbs)
        }
    }
}

@_cdecl("smk_ensemble_step_sampled")
public func smk_ensemble_step_sampled(
    _ e: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ features: Int64,
    _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let state = try handle(st, "state", as: StateHandle.self).ensembleState()
        let b = try elementCount(batch, "batch"), f = try elementCount(features, "features")
        guard b == state.batch else {
            throw SoftmaxKitError(.shapeMismatch, "the state is for batch \(state.batch), the call gives batch \(b)")
        }
        let r = try ens.models[0].rows(batch: b, steps: 1, features: f)
        let xs = try input(x, r * f, "x_t")
        let a = try sampledArguments(ens.heads, batch: b, steps: 1, options, outputs, indices, logProbs, outputCount)
        try ens.step(xs, state: state, features: f, sampling: a.sampling, seed: seed, into: a.outputs, indices: a.indices,
                     logProbs: a.logProbs)
    }
}
