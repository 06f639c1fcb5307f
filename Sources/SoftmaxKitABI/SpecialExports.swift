import SoftmaxKit

// scipy.special's remaining softmax family: weighted logsumexp with its sign,
// and the logit, for float and double.

private func weightedLogSumExpABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ b: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?, _ sign: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let r = e.reducedCount
        try logSumExp(try input(x, e.count, "x"), weights: try input(b, e.count, "b"), into: try output(y, r, "y"),
                      sign: sign.map { UnsafeMutableBufferPointer(start: $0, count: r) }, extents: e)
    }
}

@_cdecl("smk_logsumexp_weighted_f32")
public func smk_logsumexp_weighted_f32(_ x: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?,
                                       _ y: UnsafeMutablePointer<Float>?, _ sign: UnsafeMutablePointer<Float>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    weightedLogSumExpABI(x, b, y, sign, outer, n, inner)
}

@_cdecl("smk_logsumexp_weighted_f64")
public func smk_logsumexp_weighted_f64(_ x: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?,
                                       _ y: UnsafeMutablePointer<Double>?, _ sign: UnsafeMutablePointer<Double>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    weightedLogSumExpABI(x, b, y, sign, outer, n, inner)
}

private func logitABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try logit(try input(x, c, "x"), into: try output(y, c, "y"), count: c)
    }
}

@_cdecl("smk_logit_f32")
public func smk_logit_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    logitABI(x, y, count)
}

@_cdecl("smk_logit_f64")
public func smk_logit_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    logitABI(x, y, count)
}
