import SoftmaxKit

// Half precision: float16 (smk_f16, Swift's Float16) and bfloat16 (smk_bf16,
// SoftmaxKit's BFloat16) conversions, softmax, log_softmax, logsumexp,
// softmax + top-k, cross-entropy, sigmoid, log-sigmoid, masked softmax and
// log-softmax, argmax and top-k. The C types are structs holding the
// 16 bits, so the Swift side sees their storage as UInt16.

// MARK: Conversions

private func toFloat<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try convert(try halfInput(x, c, "x", H.self), into: try output(y, c, "y"))
    }
}

private func fromFloat<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try convert(try input(x, c, "x"), into: try halfOutput(y, c, "y", H.self))
    }
}

@_cdecl("smk_half_to_float_f16")
public func smk_half_to_float_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    toFloat(Float16.self, x, y, count)
}

@_cdecl("smk_half_to_float_bf16")
public func smk_half_to_float_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    toFloat(BFloat16.self, x, y, count)
}

@_cdecl("smk_half_from_float_f16")
public func smk_half_from_float_f16(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    fromFloat(Float16.self, x, y, count)
}

@_cdecl("smk_half_from_float_bf16")
public func smk_half_from_float_bf16(_ x: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    fromFloat(BFloat16.self, x, y, count)
}

// MARK: Normalizers

private func normalizeHalf<H: HalfFloat>(_: H.Type, log: Bool, _ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let xb = try halfInput(x, e.count, "x", H.self), yb = try halfOutput(y, e.count, "y", H.self)
        if log {
            try logSoftmax(xb, into: yb, extents: e, temperature: temperature)
        } else {
            try softmax(xb, into: yb, extents: e, temperature: temperature)
        }
    }
}

@_cdecl("smk_softmax_f16")
public func smk_softmax_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalizeHalf(Float16.self, log: false, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_softmax_bf16")
public func smk_softmax_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                             _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalizeHalf(BFloat16.self, log: false, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_log_softmax_f16")
public func smk_log_softmax_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalizeHalf(Float16.self, log: true, x, y, outer, n, inner, temperature)
}

@_cdecl("smk_log_softmax_bf16")
public func smk_log_softmax_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ temperature: Float) -> Int32 {
    normalizeHalf(BFloat16.self, log: true, x, y, outer, n, inner, temperature)
}

private func logSumExpHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try logSumExp(try halfInput(x, e.count, "x", H.self), into: try halfOutput(y, e.reducedCount, "y", H.self), extents: e)
    }
}

@_cdecl("smk_logsumexp_f16")
public func smk_logsumexp_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                              _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    logSumExpHalf(Float16.self, x, y, outer, n, inner)
}

@_cdecl("smk_logsumexp_bf16")
public func smk_logsumexp_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                               _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    logSumExpHalf(BFloat16.self, x, y, outer, n, inner)
}

// MARK: Selection

private func softmaxTopKHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ probs: UnsafeMutablePointer<UInt16>?,
                                           _ indices: UnsafeMutablePointer<Int64>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                           _ k: Int64, _ temperature: Float) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard k >= 0, k <= Int64(e.n) else {
            throw SoftmaxKitError(.invalidArgument, "k must be in 0...\(e.n) (the axis length), got \(k)")
        }
        let kk = Int(k), count = e.outer * kk * e.inner
        try softmaxTopK(try halfInput(x, e.count, "x", H.self), k: kk, probs: try halfOutput(probs, count, "probs", H.self),
                        indices: try indexOutput(indices, count, "indices"), extents: e, temperature: temperature)
    }
}

@_cdecl("smk_softmax_topk_f16")
public func smk_softmax_topk_f16(_ x: UnsafePointer<UInt16>?, _ probs: UnsafeMutablePointer<UInt16>?, _ indices: UnsafeMutablePointer<Int64>?,
                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64, _ temperature: Float) -> Int32 {
    softmaxTopKHalf(Float16.self, x, probs, indices, outer, n, inner, k, temperature)
}

@_cdecl("smk_softmax_topk_bf16")
public func smk_softmax_topk_bf16(_ x: UnsafePointer<UInt16>?, _ probs: UnsafeMutablePointer<UInt16>?, _ indices: UnsafeMutablePointer<Int64>?,
                                  _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64, _ temperature: Float) -> Int32 {
    softmaxTopKHalf(BFloat16.self, x, probs, indices, outer, n, inner, k, temperature)
}

// MARK: Losses

private func crossEntropyHalf<H: HalfFloat>(_: H.Type, _ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?,
                                            _ weight: UnsafePointer<Float>?, _ loss: UnsafeMutablePointer<Float>?,
                                            _ dlogits: UnsafeMutablePointer<UInt16>?,
                                            _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try lossOptions(options)
        let grad = dlogits.map { UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer($0).assumingMemoryBound(to: H.self), count: e.count) }
        try crossEntropy(try halfInput(logits, e.count, "logits", H.self),
                         targets: try indexInput(target, e.reducedCount, "target"), weight: optionalInput(weight, e.n),
                         loss: try output(loss, o.lossCount(samples: e.reducedCount), "loss"),
                         gradient: grad, extents: e, options: o)
    }
}

@_cdecl("smk_cross_entropy_f16")
public func smk_cross_entropy_f16(_ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                                  _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<UInt16>?,
                                  _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyHalf(Float16.self, logits, target, weight, loss, dlogits, outer, n, inner, options)
}

@_cdecl("smk_cross_entropy_bf16")
public func smk_cross_entropy_bf16(_ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                                   _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<UInt16>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyHalf(BFloat16.self, logits, target, weight, loss, dlogits, outer, n, inner, options)
}

// MARK: Sigmoid and log-sigmoid

private func elementwiseHalf<H: HalfFloat>(_: H.Type, log: Bool, _ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                           _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        let xb = try halfInput(x, c, "x", H.self), yb = try halfOutput(y, c, "y", H.self)
        if log {
            try logSigmoid(xb, into: yb, count: c)
        } else {
            try sigmoid(xb, into: yb, count: c)
        }
    }
}

@_cdecl("smk_sigmoid_f16")
public func smk_sigmoid_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    elementwiseHalf(Float16.self, log: false, x, y, count)
}

@_cdecl("smk_sigmoid_bf16")
public func smk_sigmoid_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    elementwiseHalf(BFloat16.self, log: false, x, y, count)
}

@_cdecl("smk_log_sigmoid_f16")
public func smk_log_sigmoid_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    elementwiseHalf(Float16.self, log: true, x, y, count)
}

@_cdecl("smk_log_sigmoid_bf16")
public func smk_log_sigmoid_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    elementwiseHalf(BFloat16.self, log: true, x, y, count)
}

// MARK: Masked softmax and log-softmax

private func maskedHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?,
                                      _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                      _ maskCount: Int64, _ mode: Int32?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let mc = try elementCount(maskCount, "mask_count")
        let xb = try halfInput(x, e.count, "x", H.self), yb = try halfOutput(y, e.count, "y", H.self)
        let mb = try input(mask, mc, "mask")
        if let mode {
            try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
        } else {
            try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
        }
    }
}

@_cdecl("smk_masked_softmax_f16")
public func smk_masked_softmax_f16(_ x: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<UInt16>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedHalf(Float16.self, x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_softmax_bf16")
public func smk_masked_softmax_bf16(_ x: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<UInt16>?,
                                    _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedHalf(BFloat16.self, x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_f16")
public func smk_masked_log_softmax_f16(_ x: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<UInt16>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    maskedHalf(Float16.self, x, mask, y, outer, n, inner, maskCount, nil)
}

@_cdecl("smk_masked_log_softmax_bf16")
public func smk_masked_log_softmax_bf16(_ x: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<UInt16>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    maskedHalf(BFloat16.self, x, mask, y, outer, n, inner, maskCount, nil)
}

// MARK: argmax and top-k

private func argmaxHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ index: UnsafeMutablePointer<Int64>?,
                                      _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try argmax(try halfInput(x, e.count, "x", H.self), into: try indexOutput(index, e.reducedCount, "index"), extents: e)
    }
}

@_cdecl("smk_argmax_f16")
public func smk_argmax_f16(_ x: UnsafePointer<UInt16>?, _ index: UnsafeMutablePointer<Int64>?,
                           _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    argmaxHalf(Float16.self, x, index, outer, n, inner)
}

@_cdecl("smk_argmax_bf16")
public func smk_argmax_bf16(_ x: UnsafePointer<UInt16>?, _ index: UnsafeMutablePointer<Int64>?,
                            _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    argmaxHalf(BFloat16.self, x, index, outer, n, inner)
}

private func topKHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ values: UnsafeMutablePointer<UInt16>?,
                                    _ indices: UnsafeMutablePointer<Int64>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                    _ k: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard k >= 0, k <= Int64(e.n) else {
            throw SoftmaxKitError(.invalidArgument, "k must be in 0...\(e.n) (the axis length), got \(k)")
        }
        let kk = Int(k), count = e.outer * kk * e.inner
        try topK(try halfInput(x, e.count, "x", H.self), k: kk, values: try halfOutput(values, count, "values", H.self),
                 indices: try indexOutput(indices, count, "indices"), extents: e)
    }
}

@_cdecl("smk_topk_f16")
public func smk_topk_f16(_ x: UnsafePointer<UInt16>?, _ values: UnsafeMutablePointer<UInt16>?, _ indices: UnsafeMutablePointer<Int64>?,
                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    topKHalf(Float16.self, x, values, indices, outer, n, inner, k)
}

@_cdecl("smk_topk_bf16")
public func smk_topk_bf16(_ x: UnsafePointer<UInt16>?, _ values: UnsafeMutablePointer<UInt16>?, _ indices: UnsafeMutablePointer<Int64>?,
                          _ outer: Int64, _ n: Int64, _ inner: Int64, _ k: Int64) -> Int32 {
    topKHalf(BFloat16.self, x, values, indices, outer, n, inner, k)
}
