@_spi(CABI) import SoftmaxKit

// The other chunked kernels: top-k merge, masked states and finishing
// passes, a chunk's part of the cross-entropy.

private func topkMergeABI<T: KernelScalar>(_ v: UnsafePointer<T>?, _ idx: UnsafePointer<Int64>?,
                                           _ vo: UnsafeMutablePointer<T>?, _ io: UnsafeMutablePointer<Int64>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard k >= 0, k <= n else { throw SoftmaxKitError(.invalidArgument, "k must be in 0...\(n) (the candidates per fibre), got \(k)") }
        guard let oc = SoftmaxKit.elementCount(e.outer, Int(k), e.inner) else {
            throw SoftmaxKitError(.sizeOverflow, "outer * k * inner overflows 64 bits")
        }
        try mergeTopK(values: try input(v, e.count, "values"), indices: try input(idx, e.count, "indices"),
                      intoValues: try output(vo, oc, "values_out"), indices: try output(io, oc, "indices_out"),
                      extents: e, k: Int(k))
    }
}

@_cdecl("smk_topk_merge_f32")
public func smk_topk_merge_f32(_ values: UnsafePointer<Float>?, _ indices: UnsafePointer<Int64>?,
                               _ valuesOut: UnsafeMutablePointer<Float>?, _ indicesOut: UnsafeMutablePointer<Int64>?,
                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    topkMergeABI(values, indices, valuesOut, indicesOut, outer, n, inner, k)
}

@_cdecl("smk_topk_merge_f64")
public func smk_topk_merge_f64(_ values: UnsafePointer<Double>?, _ indices: UnsafePointer<Int64>?,
                               _ valuesOut: UnsafeMutablePointer<Double>?, _ indicesOut: UnsafeMutablePointer<Int64>?,
                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    topkMergeABI(values, indices, valuesOut, indicesOut, outer, n, inner, k)
}

private func maskedStateABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ mask: UnsafePointer<UInt8>?,
                                             _ m: UnsafeMutablePointer<Double>?, _ s: UnsafeMutablePointer<Double>?,
                                             _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let mc = try elementCount(maskCount, "mask_count")
        try maskedSoftmaxState(try input(x, e.count, "x"), mask: try input(mask, mc, "mask"),
                               max: try output(m, e.reducedCount, "max"), sum: try output(s, e.reducedCount, "sum"),
                               extents: e)
    }
}

@_cdecl("smk_masked_softmax_state_f32")
public func smk_masked_softmax_state_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?,
                                         _ max: UnsafeMutablePointer<Double>?, _ sum: UnsafeMutablePointer<Double>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    maskedStateABI(x, mask, max, sum, outer, n, inner, maskCount)
}

@_cdecl("smk_masked_softmax_state_f64")
public func smk_masked_softmax_state_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?,
                                         _ max: UnsafeMutablePointer<Double>?, _ sum: UnsafeMutablePointer<Double>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    maskedStateABI(x, mask, max, sum, outer, n, inner, maskCount)
}

private func maskedFinishABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ mask: UnsafePointer<UInt8>?,
                                              _ m: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                              _ y: UnsafeMutablePointer<T>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                              _ maskCount: Int64, _ takeLog: Bool) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let mc = try elementCount(maskCount, "mask_count")
        try maskedSoftmaxFinish(try input(x, e.count, "x"), mask: try input(mask, mc, "mask"),
                                max: try input(m, e.reducedCount, "max"), sum: try input(s, e.reducedCount, "sum"),
                                into: try output(y, e.count, "y"), extents: e, log: takeLog)
    }
}

@_cdecl("smk_masked_softmax_finish_f32")
public func smk_masked_softmax_finish_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?,
                                          _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                          _ y: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                          _ maskCount: Int64) -> Int32 {
    maskedFinishABI(x, mask, max, sum, y, outer, n, inner, maskCount, false)
}

@_cdecl("smk_masked_softmax_finish_f64")
public func smk_masked_softmax_finish_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?,
                                          _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                          _ y: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                          _ maskCount: Int64) -> Int32 {
    maskedFinishABI(x, mask, max, sum, y, outer, n, inner, maskCount, false)
}

@_cdecl("smk_masked_log_softmax_finish_f32")
public func smk_masked_log_softmax_finish_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?,
                                              _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                              _ y: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                              _ maskCount: Int64) -> Int32 {
    maskedFinishABI(x, mask, max, sum, y, outer, n, inner, maskCount, true)
}

@_cdecl("smk_masked_log_softmax_finish_f64")
public func smk_masked_log_softmax_finish_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?,
                                              _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                              _ y: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                              _ maskCount: Int64) -> Int32 {
    maskedFinishABI(x, mask, max, sum, y, outer, n, inner, maskCount, true)
}

private func ceChunkABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ m: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                         _ target: UnsafePointer<Int64>?, _ probs: UnsafePointer<T>?, probabilities: Bool,
                                         _ weight: UnsafePointer<T>?, _ loss: UnsafeMutablePointer<Double>?,
                                         _ targetWeight: UnsafeMutablePointer<Double>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                         _ ignoreIndex: Int64, _ labelSmoothing: Double) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let r = e.reducedCount
        let c = try elementCount(classes, "classes")
        let off = try elementCount(offset, "offset")
        var t: UnsafeBufferPointer<Int64>? = nil
        var p: UnsafeBufferPointer<T>? = nil
        if probabilities {
            p = try input(probs, e.count, "target")
        } else {
            t = try input(target, r, "target")
        }
        let w: UnsafeBufferPointer<T>? = weight.map { UnsafeBufferPointer(start: $0, count: e.n) }
        let tw: UnsafeMutableBufferPointer<Double>? = targetWeight.map { UnsafeMutableBufferPointer(start: $0, count: r) }
        try crossEntropyChunk(try input(x, e.count, "logits"), max: try input(m, r, "max"), sum: try input(s, r, "sum"),
                              target: t, probabilities: p, weight: w, into: try output(loss, r, "loss"), targetWeight: tw,
                              extents: e, offset: off, classes: c, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing)
    }
}

@_cdecl("smk_cross_entropy_chunk_f32")
public func smk_cross_entropy_chunk_f32(_ logits: UnsafePointer<Float>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                        _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                                        _ loss: UnsafeMutablePointer<Double>?, _ targetWeight: UnsafeMutablePointer<Double>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                        _ ignoreIndex: Int64, _ labelSmoothing: Double) -> Int32 {
    ceChunkABI(logits, max, sum, target, nil, probabilities: false, weight, loss, targetWeight, outer, n, inner,
               offset, classes, ignoreIndex, labelSmoothing)
}

@_cdecl("smk_cross_entropy_chunk_f64")
public func smk_cross_entropy_chunk_f64(_ logits: UnsafePointer<Double>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                        _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Double>?,
                                        _ loss: UnsafeMutablePointer<Double>?, _ targetWeight: UnsafeMutablePointer<Double>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                        _ ignoreIndex: Int64, _ labelSmoothing: Double) -> Int32 {
    ceChunkABI(logits, max, sum, target, nil, probabilities: false, weight, loss, targetWeight, outer, n, inner,
               offset, classes, ignoreIndex, labelSmoothing)
}

@_cdecl("smk_cross_entropy_probs_chunk_f32")
public func smk_cross_entropy_probs_chunk_f32(_ logits: UnsafePointer<Float>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                              _ target: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?,
                                              _ loss: UnsafeMutablePointer<Double>?,
                                              _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                              _ labelSmoothing: Double) -> Int32 {
    ceChunkABI(logits, max, sum, nil, target, probabilities: true, weight, loss, nil, outer, n, inner,
               offset, classes, 0, labelSmoothing)
}

@_cdecl("smk_cross_entropy_probs_chunk_f64")
public func smk_cross_entropy_probs_chunk_f64(_ logits: UnsafePointer<Double>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                              _ target: UnsafePointer<Double>?, _ weight: UnsafePointer<Double>?,
                                              _ loss: UnsafeMutablePointer<Double>?,
                                              _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                              _ labelSmoothing: Double) -> Int32 {
    ceChunkABI(logits, max, sum, nil, target, probabilities: true, weight, loss, nil, outer, n, inner,
               offset, classes, 0, labelSmoothing)
}

private func ceGradChunkABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ m: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                             _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<T>?,
                                             _ grad: UnsafeMutablePointer<T>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                             _ offset: Int64, _ classes: Int64, _ ignoreIndex: Int64,
                                             _ labelSmoothing: Double, _ divisor: Double) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let r = e.reducedCount
        let c = try elementCount(classes, "classes")
        let off = try elementCount(offset, "offset")
        let w: UnsafeBufferPointer<T>? = weight.map { UnsafeBufferPointer(start: $0, count: c) }
        try crossEntropyGradientChunk(try input(x, e.count, "logits"), max: try input(m, r, "max"),
                                      sum: try input(s, r, "sum"), target: try input(target, r, "target"), weight: w,
                                      into: try output(grad, e.count, "grad"), extents: e, offset: off, classes: c,
                                      ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing, divisor: divisor)
    }
}

@_cdecl("smk_cross_entropy_grad_chunk_f32")
public func smk_cross_entropy_grad_chunk_f32(_ logits: UnsafePointer<Float>?, _ max: UnsafePointer<Double>?,
                                             _ sum: UnsafePointer<Double>?, _ target: UnsafePointer<Int64>?,
                                             _ weight: UnsafePointer<Float>?, _ grad: UnsafeMutablePointer<Float>?,
                                             _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                             _ ignoreIndex: Int64, _ labelSmoothing: Double, _ divisor: Double) -> Int32 {
    ceGradChunkABI(logits, max, sum, target, weight, grad, outer, n, inner, offset, classes, ignoreIndex,
                   labelSmoothing, divisor)
}

@_cdecl("smk_cross_entropy_grad_chunk_f64")
public func smk_cross_entropy_grad_chunk_f64(_ logits: UnsafePointer<Double>?, _ max: UnsafePointer<Double>?,
                                             _ sum: UnsafePointer<Double>?, _ target: UnsafePointer<Int64>?,
                                             _ weight: UnsafePointer<Double>?, _ grad: UnsafeMutablePointer<Double>?,
                                             _ outer: Int64, _ n: Int64, _ inner: Int64, _ offset: Int64, _ classes: Int64,
                                             _ ignoreIndex: Int64, _ labelSmoothing: Double, _ divisor: Double) -> Int32 {
    ceGradChunkABI(logits, max, sum, target, weight, grad, outer, n, inner, offset, classes, ignoreIndex,
                   labelSmoothing, divisor)
}
