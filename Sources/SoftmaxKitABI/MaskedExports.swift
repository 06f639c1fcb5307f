import SoftmaxKit

// Masked softmax and log-softmax.

private func masked<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ mode: Int32?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let mc = try elementCount(maskCount, "mask_count")
        let xb = try input(x, e.count, "x"), yb = try output(y, e.count, "y")
        let mb = try input(mask, mc, "mask")
        if let mode {
            try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
        } else {
            try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
        }
    }
}

@_cdecl("smk_masked_softmax_f32")
public func smk_masked_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_softmax_f64")
public func smk_masked_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_f32")
public func smk_masked_log_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, nil)
}

@_cdecl("smk_masked_log_softmax_f64")
public func smk_masked_log_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, nil)
}

