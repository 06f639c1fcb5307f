import SoftmaxKit

// softmax, log_softmax, logsumexp, sigmoid, log_sigmoid for float and double.
// Each export checks pointers and extents, then calls the core.

private func normalize<T: KernelScalar>(
    _ op: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, Extents, T) throws(SoftmaxKitError) -> Void,
    _ x: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: T
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try op(try input(x, e.count, "x"), try output(y, e.count, "y"), e, temperature)
    }
}

private func softmaxOp<T: KernelScalar>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ e: Extents, _ t: T) throws(SoftmaxKitError) {
    try softmax(x, into: y, extents: e, temperature: t)
}

private func logSoftmaxOp<T: KernelScalar>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ e: Extents, _ t: T) throws(SoftmaxKitError) {
    try logSoftmax(x, into: y, extents: e, temperature: t)
}

@_cdecl("smk_softmax_f32")
public func smk_softmax_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalize(softmaxOp, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_softmax_f64")
public func smk_softmax_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Double) -> Int32 {
    normalize(softmaxOp, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_log_softmax_f32")
public func smk_log_softmax_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalize(logSoftmaxOp, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_log_softmax_f64")
public func smk_log_softmax_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Double) -> Int32 {
    normalize(logSoftmaxOp, x, y, outer, n, inner, temperature)
}

private func logSumExpABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try logSumExp(try input(x, e.count, "x"), into: try output(y, e.reducedCount, "y"), extents: e)
    }
}

@_cdecl("smk_logsumexp_f32")
public func smk_logsumexp_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
                              _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    logSumExpABI(x, y, outer, n, inner)
}

@_cdecl("smk_logsumexp_f64")
public func smk_logsumexp_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?,
                              _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    logSumExpABI(x, y, outer, n, inner)
}

private func elementwise<T: KernelScalar>(
    _ op: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, Int) throws(SoftmaxKitError) -> Void,
    _ x: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?, _ count: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try op(try input(x, c, "x"), try output(y, c, "y"), c)
    }
}

private func sigmoidOp<T: KernelScalar>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ c: Int) throws(SoftmaxKitError) {
    try sigmoid(x, into: y, count: c)
}

private func logSigmoidOp<T: KernelScalar>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ c: Int) throws(SoftmaxKitError) {
    try logSigmoid(x, into: y, count: c)
}

@_cdecl("smk_sigmoid_f32")
public func smk_sigmoid_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    elementwise(sigmoidOp, x, y, count)
}

@_cdecl("smk_sigmoid_f64")
public func smk_sigmoid_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    elementwise(sigmoidOp, x, y, count)
}

@_cdecl("smk_log_sigmoid_f32")
public func smk_log_sigmoid_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    elementwise(logSigmoidOp, x, y, count)
}

@_cdecl("smk_log_sigmoid_f64")
public func smk_log_sigmoid_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    elementwise(logSigmoidOp, x, y, count)
}
