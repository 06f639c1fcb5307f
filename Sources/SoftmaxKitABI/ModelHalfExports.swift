@_spi(CABI) import SoftmaxKit

// Model and ensemble forwards with typed input and output buffers
// (smk_model_forward_typed and kin): float32, float16 or bfloat16 on either
// side, the computation in float32 as smk_model_forward's.

@_cdecl("smk_model_forward_typed")
public func smk_model_forward_typed(_ m: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                    _ batch: Int64, _ steps: Int64, _ features: Int64, _ lengths: UnsafePointer<Int64>?,
                                    _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                    _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        try networkForwardTyped(try Model.unwrap(m), x, xDtype, batch, steps, features, lengths, outputs, outDtype, outputCount)
    }
}

@_cdecl("smk_model_step_typed")
public func smk_model_step_typed(_ m: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                 _ batch: Int64, _ features: Int64,
                                 _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                 _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        try networkStepTyped(try Model.unwrap(m), st, x, xDtype, batch, features, outputs, outDtype, outputCount)
    }
}

@_cdecl("smk_ensemble_forward_typed")
public func smk_ensemble_forward_typed(_ e: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                       _ batch: Int64, _ steps: Int64, _ features: Int64, _ lengths: UnsafePointer<Int64>?,
                                       _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                       _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        try networkForwardTyped(try Ensemble.unwrap(e), x, xDtype, batch, steps, features, lengths, outputs, outDtype, outputCount)
    }
}

@_cdecl("smk_ensemble_step_typed")
public func smk_ensemble_step_typed(_ e: OpaquePointer?, _ st: OpaquePointer?, _ x: UnsafeRawPointer?, _ xDtype: Int32,
                                    _ batch: Int64, _ features: Int64,
                                    _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outDtype: Int32,
                                    _ outputCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        try networkStepTyped(try Ensemble.unwrap(e), st, x, xDtype, batch, features, outputs, outDtype, outputCount)
    }
}
