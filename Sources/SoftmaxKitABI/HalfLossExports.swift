@_spi(CABI) import SoftmaxKit

// Half precision, continued: nll_loss, cross-entropy with probability
// targets and binary cross-entropy with logits (float32 weights and
// losses), the softmax / log-softmax / sigmoid backward, ensemble
// averaging and sampling (float32 log-probabilities) on float16 (smk_f16)
// and bfloat16 (smk_bf16). The C types are structs holding the 16 bits,
// so the Swift side sees their storage as UInt16.

// MARK: Losses

private func nllHalf<H: HalfFloat>(_: H.Type, _ logProbs: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?,
                                   _ weight: UnsafePointer<Float>?, _ loss: UnsafeMutablePointer<Float>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try lossOptions(options)
        try nllLoss(try halfInput(logProbs, e.count, "log_probs", H.self),
                    targets: try indexInput(target, e.reducedCount, "target"), weight: optionalInput(weight, e.n),
                    loss: try output(loss, o.lossCount(samples: e.reducedCount), "loss"), extents: e, options: o)
    }
}

@_cdecl("smk_nll_loss_f16")
public func smk_nll_loss_f16(_ logProbs: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                             _ loss: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                             _ options: UnsafeRawPointer?) -> Int32 {
    nllHalf(Float16.self, logProbs, target, weight, loss, outer, n, inner, options)
}

@_cdecl("smk_nll_loss_bf16")
public func smk_nll_loss_bf16(_ logProbs: UnsafePointer<UInt16>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                              _ loss: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                              _ options: UnsafeRawPointer?) -> Int32 {
    nllHalf(BFloat16.self, logProbs, target, weight, loss, outer, n, inner, options)
}

private func crossEntropyProbsHalf<H: HalfFloat>(_: H.Type, _ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?,
                                                 _ weight: UnsafePointer<Float>?, _ loss: UnsafeMutablePointer<Float>?,
                                                 _ dlogits: UnsafeMutablePointer<UInt16>?,
                                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try lossOptions(options)
        let grad = dlogits.map { UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer($0).assumingMemoryBound(to: H.self), count: e.count) }
        try crossEntropy(try halfInput(logits, e.count, "logits", H.self),
                         probabilities: try halfInput(target, e.count, "target", H.self), weight: optionalInput(weight, e.n),
                         loss: try output(loss, o.lossCount(samples: e.reducedCount), "loss"),
                         gradient: grad, extents: e, options: o)
    }
}

@_cdecl("smk_cross_entropy_probs_f16")
public func smk_cross_entropy_probs_f16(_ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?, _ weight: UnsafePointer<Float>?,
                                        _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<UInt16>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyProbsHalf(Float16.self, logits, target, weight, loss, dlogits, outer, n, inner, options)
}

@_cdecl("smk_cross_entropy_probs_bf16")
public func smk_cross_entropy_probs_bf16(_ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?, _ weight: UnsafePointer<Float>?,
                                         _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<UInt16>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyProbsHalf(BFloat16.self, logits, target, weight, loss, dlogits, outer, n, inner, options)
}

private func bceHalf<H: HalfFloat>(_: H.Type, _ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?,
                                   _ weight: UnsafePointer<Float>?, _ posWeight: UnsafePointer<Float>?,
                                   _ loss: UnsafeMutablePointer<Float>?, _ count: Int64, _ classes: Int64, _ reduction: Int32) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        let k = try elementCount(classes, "classes")
        guard let r = LossReduction(rawValue: reduction) else {
            throw SoftmaxKitError(.invalidArgument, "reduction \(reduction) is not an smk_reduction")
        }
        try binaryCrossEntropyWithLogits(try halfInput(logits, c, "logits", H.self), targets: try halfInput(target, c, "target", H.self),
                                         weight: optionalInput(weight, c), posWeight: optionalInput(posWeight, k),
                                         classes: k, loss: try output(loss, r == .none ? c : 1, "loss"), count: c, reduction: r)
    }
}

@_cdecl("smk_binary_cross_entropy_with_logits_f16")
public func smk_binary_cross_entropy_with_logits_f16(
    _ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?, _ weight: UnsafePointer<Float>?, _ posWeight: UnsafePointer<Float>?,
    _ loss: UnsafeMutablePointer<Float>?, _ count: Int64, _ classes: Int64, _ reduction: Int32
) -> Int32 {
    bceHalf(Float16.self, logits, target, weight, posWeight, loss, count, classes, reduction)
}

@_cdecl("smk_binary_cross_entropy_with_logits_bf16")
public func smk_binary_cross_entropy_with_logits_bf16(
    _ logits: UnsafePointer<UInt16>?, _ target: UnsafePointer<UInt16>?, _ weight: UnsafePointer<Float>?, _ posWeight: UnsafePointer<Float>?,
    _ loss: UnsafeMutablePointer<Float>?, _ count: Int64, _ classes: Int64, _ reduction: Int32
) -> Int32 {
    bceHalf(BFloat16.self, logits, target, weight, posWeight, loss, count, classes, reduction)
}

// MARK: Backward

private enum HalfBackwardKind { case softmax, logSoftmax }

private func backwardHalf<H: HalfFloat>(_: H.Type, _ kind: HalfBackwardKind, _ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?,
                                        _ dx: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let yb = try halfInput(y, e.count, "y", H.self), db = try halfInput(dy, e.count, "dy", H.self)
        let xb = try halfOutput(dx, e.count, "dx", H.self)
        switch kind {
        case .softmax: try softmaxBackward(y: yb, dy: db, into: xb, extents: e)
        case .logSoftmax: try logSoftmaxBackward(y: yb, dy: db, into: xb, extents: e)
        }
    }
}

@_cdecl("smk_softmax_backward_f16")
public func smk_softmax_backward_f16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                     _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardHalf(Float16.self, .softmax, y, dy, dx, outer, n, inner)
}

@_cdecl("smk_softmax_backward_bf16")
public func smk_softmax_backward_bf16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                      _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardHalf(BFloat16.self, .softmax, y, dy, dx, outer, n, inner)
}

@_cdecl("smk_log_softmax_backward_f16")
public func smk_log_softmax_backward_f16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                         _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardHalf(Float16.self, .logSoftmax, y, dy, dx, outer, n, inner)
}

@_cdecl("smk_log_softmax_backward_bf16")
public func smk_log_softmax_backward_bf16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                          _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    backwardHalf(BFloat16.self, .logSoftmax, y, dy, dx, outer, n, inner)
}

private func sigmoidBackwardHalf<H: HalfFloat>(_: H.Type, _ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?,
                                               _ dx: UnsafeMutablePointer<UInt16>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try sigmoidBackward(y: try halfInput(y, c, "y", H.self), dy: try halfInput(dy, c, "dy", H.self),
                            into: try halfOutput(dx, c, "dx", H.self), count: c)
    }
}

@_cdecl("smk_sigmoid_backward_f16")
public func smk_sigmoid_backward_f16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                     _ count: Int64) -> Int32 {
    sigmoidBackwardHalf(Float16.self, y, dy, dx, count)
}

@_cdecl("smk_sigmoid_backward_bf16")
public func smk_sigmoid_backward_bf16(_ y: UnsafePointer<UInt16>?, _ dy: UnsafePointer<UInt16>?, _ dx: UnsafeMutablePointer<UInt16>?,
                                      _ count: Int64) -> Int32 {
    sigmoidBackwardHalf(BFloat16.self, y, dy, dx, count)
}

// MARK: Ensembles

private func ensembleHalf<H: HalfFloat>(_: H.Type, _ members: UnsafePointer<UnsafePointer<UInt16>?>?, _ y: UnsafeMutablePointer<UInt16>?,
                                        _ memberCount: Int64, _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard let m = EnsembleMode(rawValue: mode) else {
            throw SoftmaxKitError(.invalidArgument, "mode \(mode) is not an smk_ensemble_mode")
        }
        let mc = try elementCount(memberCount, "member_count")
        let list = try input(members, mc, "members")
        var bufs: [UnsafeBufferPointer<H>] = []
        for (k, p) in list.enumerated() { bufs.append(try halfInput(p, e.count, "members[\(k)]", H.self)) }
        try ensembleMean(bufs, into: try halfOutput(y, e.count, "y", H.self), extents: e, mode: m)
    }
}

@_cdecl("smk_ensemble_mean_f16")
public func smk_ensemble_mean_f16(_ members: UnsafePointer<UnsafePointer<UInt16>?>?, _ y: UnsafeMutablePointer<UInt16>?,
                                  _ memberCount: Int64, _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32) -> Int32 {
    ensembleHalf(Float16.self, members, y, memberCount, outer, n, inner, mode)
}

@_cdecl("smk_ensemble_mean_bf16")
public func smk_ensemble_mean_bf16(_ members: UnsafePointer<UnsafePointer<UInt16>?>?, _ y: UnsafeMutablePointer<UInt16>?,
                                   _ memberCount: Int64, _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32) -> Int32 {
    ensembleHalf(BFloat16.self, members, y, memberCount, outer, n, inner, mode)
}

// MARK: Sampling

private func sampleHalf<H: HalfFloat>(_: H.Type, _ logits: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?,
                                      _ indices: UnsafeMutablePointer<Int64>?, _ logProbs: UnsafeMutablePointer<Float>?,
                                      _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64,
                                      _ options: UnsafeRawPointer?, _ seed: UInt64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try sampleOptions(options)
        guard let count = SoftmaxKit.elementCount(e.outer, o.numSamples, e.inner) else {
            throw SoftmaxKitError(.sizeOverflow, "outer * num_samples * inner overflows 64 bits")
        }
        let m: UnsafeBufferPointer<UInt8>?
        if maskCount == 0 && mask == nil {
            m = nil
        } else {
            m = try input(mask, try elementCount(maskCount, "mask_count"), "mask")
        }
        let lp = logProbs.map { UnsafeMutableBufferPointer(start: $0, count: count) }
        try sample(try halfInput(logits, e.count, "logits", H.self), mask: m,
                   indices: try indexOutput(indices, count, "indices"), logProbs: lp, extents: e, options: o, seed: seed)
    }
}

@_cdecl("smk_sample_f16")
public func smk_sample_f16(_ logits: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ indices: UnsafeMutablePointer<Int64>?,
                           _ logProbs: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                           _ maskCount: Int64, _ options: UnsafeRawPointer?, _ seed: UInt64) -> Int32 {
    sampleHalf(Float16.self, logits, mask, indices, logProbs, outer, n, inner, maskCount, options, seed)
}

@_cdecl("smk_sample_bf16")
public func smk_sample_bf16(_ logits: UnsafePointer<UInt16>?, _ mask: UnsafePointer<UInt8>?, _ indices: UnsafeMutablePointer<Int64>?,
                            _ logProbs: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                            _ maskCount: Int64, _ options: UnsafeRawPointer?, _ seed: UInt64) -> Int32 {
    sampleHalf(BFloat16.self, logits, mask, indices, logProbs, outer, n, inner, maskCount, options, seed)
}
