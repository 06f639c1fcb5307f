import SoftmaxKit

// Segment softmax (CSR offsets).

private func segmentABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try smallIndexArray(offsets, offsetCount, "offsets")
        try segmentSoftmax(try input(x, e.count, "x"), offsets: o, into: try output(y, e.count, "y"), extents: e)
    }
}

@_cdecl("smk_segment_softmax_f32")
public func smk_segment_softmax_f32(_ x: UnsafePointer<Float>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64) -> Int32 {
    segmentABI(x, offsets, y, outer, n, inner, offsetCount)
}

@_cdecl("smk_segment_softmax_f64")
public func smk_segment_softmax_f64(_ x: UnsafePointer<Double>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64) -> Int32 {
    segmentABI(x, offsets, y, outer, n, inner, offsetCount)
}

