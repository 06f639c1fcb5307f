import SoftmaxKit

// softmax, log_softmax and sigmoid vector-Jacobian products.

private func backwardABI<T: KernelScalar>(
    _ y: UnsafePointer<T>?, _ dy: UnsafePointer<T>?, _ dx: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, logSoftmax: Bool
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let yb = try input(y, e.count, "y"), db = try input(dy, e.count, "dy"), xb = try output(dx, e.count, "dx")
        if logSoftmax {
            try logSoftmaxBackward(y: yb, dy: db, into: xb, extents: e)
        } else {
            try softmaxBackward(y: yb, dy: db, into: xb, extents: e)
        }
    }
}

@_cdecl("smk_softmax_backward_f32")
public func smk_softmax_backward_f32(_ y: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>?,
                                     _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardABI(y, dy, dx, outer, n, inner, logSoftmax: false)
}

@_cdecl("smk_softmax_backward_f64")
public func smk_softmax_backward_f64(_ y: UnsafePointer<Double>?, _ dy: UnsafePointer<Double>?, _ dx: UnsafeMutablePointer<Double>?,
                                     _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardABI(y, dy, dx, outer, n, inner, logSoftmax: false)
}

@_cdecl("smk_log_softmax_backward_f32")
public func smk_log_softmax_backward_f32(_ y: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardABI(y, dy, dx, outer, n, inner, logSoftmax: true)
}

@_cdecl("smk_log_softmax_backward_f64")
public func smk_log_softmax_backward_f64(_ y: UnsafePointer<Double>?, _ dy: UnsafePointer<Double>?, _ dx: UnsafeMutablePointer<Double>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardABI(y, dy, dx, outer, n, inner, logSoftmax: true)
}

private func sigmoidBackwardABI<T: KernelScalar>(_ y: UnsafePointer<T>?, _ dy: UnsafePointer<T>?,
                                                 _ dx: UnsafeMutablePointer<T>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try sigmoidBackward(y: try input(y, c, "y"), dy: try input(dy, c, "dy"), into: try output(dx, c, "dx"), count: c)
    }
}

@_cdecl("smk_sigmoid_backward_f32")
public func smk_sigmoid_backward_f32(_ y: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?,
                                     _ dx: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    sigmoidBackwardABI(y, dy, dx, count)
}

@_cdecl("smk_sigmoid_backward_f64")
public func smk_sigmoid_backward_f64(_ y: UnsafePointer<Double>?, _ dy: UnsafePointer<Double>?,
                                     _ dx: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    sigmoidBackwardABI(y, dy, dx, count)
}
