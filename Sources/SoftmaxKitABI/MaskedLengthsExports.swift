import SoftmaxKit

// Masked softmax and log-softmax with per-fibre lengths instead of a mask.

private func maskedLengths<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64, _ mode: Int32?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let lc = try elementCount(lengthsCount, "lengths_count")
        let xb = try input(x, e.count, "x"), yb = try output(y, e.count, "y")
        let lb = try input(lengths, lc, "lengths")
        if let mode {
            try maskedSoftmax(xb, lengths: lb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
        } else {
            try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e)
        }
    }
}

@_cdecl("smk_masked_softmax_lengths_f32")
public func smk_masked_softmax_lengths_f32(_ x: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedLengths(x, lengths, y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_softmax_lengths_f64")
public func smk_masked_softmax_lengths_f64(_ x: UnsafePointer<Double>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedLengths(x, lengths, y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_lengths_f32")
public func smk_masked_log_softmax_lengths_f32(_ x: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64) -> Int32 {
    maskedLengths(x, lengths, y, outer, n, inner, lengthsCount, nil)
}

@_cdecl("smk_masked_log_softmax_lengths_f64")
public func smk_masked_log_softmax_lengths_f64(_ x: UnsafePointer<Double>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64) -> Int32 {
    maskedLengths(x, lengths, y, outer, n, inner, lengthsCount, nil)
}
