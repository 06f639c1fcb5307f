import SoftmaxKit

// argmax, hardmax, top-k and fused softmax + top-k.

private func argmaxABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ index: UnsafeMutablePointer<Int64>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try argmax(try input(x, e.count, "x"), into: try indexOutput(index, e.reducedCount, "index"), extents: e)
    }
}

@_cdecl("smk_argmax_f32")
public func smk_argmax_f32(_ x: UnsafePointer<Float>?, _ index: UnsafeMutablePointer<Int64>?,
                           _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    argmaxABI(x, index, outer, n, inner)
}

@_cdecl("smk_argmax_f64")
public func smk_argmax_f64(_ x: UnsafePointer<Double>?, _ index: UnsafeMutablePointer<Int64>?,
                           _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    argmaxABI(x, index, outer, n, inner)
}

private func hardmaxABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try hardmax(try input(x, e.count, "x"), into: try output(y, e.count, "y"), extents: e)
    }
}

@_cdecl("smk_hardmax_f32")
public func smk_hardmax_f32(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    hardmaxABI(x, y, outer, n, inner)
}

@_cdecl("smk_hardmax_f64")
public func smk_hardmax_f64(_ x: UnsafePointer<Double>?, _ y: UnsafeMutablePointer<Double>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    hardmaxABI(x, y, outer, n, inner)
}

/// Shared by top-k and softmax top-k: checks k, then views the outputs.
private func selectABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ values: UnsafeMutablePointer<T>?, _ indices: UnsafeMutablePointer<Int64>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64, _ valuesName: String,
    _ op: (UnsafeBufferPointer<T>, Int, UnsafeMutableBufferPointer<T>, UnsafeMutableBufferPointer<Int>, Extents) throws(SoftmaxKitError) -> Void
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard k >= 0, k <= Int64(e.n) else {
            throw SoftmaxKitError(.invalidArgument, "k must be in 0...\(e.n) (the axis length), got \(k)")
        }
        let kk = Int(k), count = e.outer * kk * e.inner
        try op(try input(x, e.count, "x"), kk, try output(values, count, valuesName),
               try indexOutput(indices, count, "indices"), e)
    }
}

@_cdecl("smk_topk_f32")
public func smk_topk_f32(_ x: UnsafePointer<Float>?, _ values: UnsafeMutablePointer<Float>?, _ indices: UnsafeMutablePointer<Int64>?,
                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    selectABI(x, values, indices, outer, n, inner, k, "values") { (x, k, v, i, e) throws(SoftmaxKitError) in
        try topK(x, k: k, values: v, indices: i, extents: e)
    }
}

@_cdecl("smk_topk_f64")
public func smk_topk_f64(_ x: UnsafePointer<Double>?, _ values: UnsafeMutablePointer<Double>?, _ indices: UnsafeMutablePointer<Int64>?,
                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    selectABI(x, values, indices, outer, n, inner, k, "values") { (x, k, v, i, e) throws(SoftmaxKitError) in
        try topK(x, k: k, values: v, indices: i, extents: e)
    }
}

@_cdecl("smk_softmax_topk_f32")
public func smk_softmax_topk_f32(_ x: UnsafePointer<Float>?, _ probs: UnsafeMutablePointer<Float>?, _ indices: UnsafeMutablePointer<Int64>?,
                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64, _ temperature: Float) -> Int32 {
    selectABI(x, probs, indices, outer, n, inner, k, "probs") { (x, k, v, i, e) throws(SoftmaxKitError) in
        try softmaxTopK(x, k: k, probs: v, indices: i, extents: e, temperature: temperature)
    }
}

@_cdecl("smk_softmax_topk_f64")
public func smk_softmax_topk_f64(_ x: UnsafePointer<Double>?, _ probs: UnsafeMutablePointer<Double>?, _ indices: UnsafeMutablePointer<Int64>?,
                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64, _ temperature: Double) -> Int32 {
    selectABI(x, probs, indices, outer, n, inner, k, "probs") { (x, k, v, i, e) throws(SoftmaxKitError) in
        try softmaxTopK(x, k: k, probs: v, indices: i, extents: e, temperature: temperature)
    }
}
