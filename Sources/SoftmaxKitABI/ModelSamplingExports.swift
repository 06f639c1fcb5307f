@_spi(CABI) import SoftmaxKit

// Forward calls that sample some heads: per-head smk_sample_options, a seed,
// and index / log-probability tables beside the outputs table.

@_cdecl("smk_model_forward_sampled")
public func smk_model_forward_sampled(
    _ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ features: Int64,
    _ lengths: UnsafePointer<Int64>?, _ options: UnsafePointer<UnsafeRawPointer?>?, _ seed: UInt64,
    _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ indices: UnsafePointer<UnsafeMutablePointer<Int64>?>?,
    _ logProbs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        try networkForwardSampled(try Model.unwrap(m), x, batch, steps, features, lengths, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkForwardIdsSampled(try Model.unwrap(m), ids, batch, steps, lengths, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkStepSampled(try Model.unwrap(m), st, x, batch, features, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkForwardSampled(try Ensemble.unwrap(e), x, batch, steps, features, nil, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkForwardSampled(try Ensemble.unwrap(e), x, batch, steps, features, lengths, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkForwardIdsSampled(try Ensemble.unwrap(e), ids, batch, steps, lengths, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
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
        try networkStepSampled(try Ensemble.unwrap(e), st, x, batch, features, SampledTables(options: options, seed: seed, outputs: outputs, indices: indices, logProbs: logProbs, outputCount: outputCount))
    }
}
