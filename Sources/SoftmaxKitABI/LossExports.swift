import SoftmaxKit

// cross-entropy (class-index and probability targets), nll_loss, binary
// cross-entropy with logits, and their options struct.

/// The C `smk_loss_options` struct, read by byte offset (C layout):
///   uint64_t size @0; int64_t ignore_index @8; double label_smoothing @16;
///   int32_t reduction @24; sizeof == 32. `size` comes first so that later
///   versions can append fields and still read structs from older callers.
private enum LossOptionsLayout {
    static let size = 32
    static let ignoreIndex = 8, labelSmoothing = 16, reduction = 24
}

/// Fills `options` with PyTorch's defaults (ignore_index -100, no smoothing, mean).
@_cdecl("smk_loss_options_init")
public func smk_loss_options_init(_ options: UnsafeMutableRawPointer?) {
    guard let p = options else { return }
    p.initializeMemory(as: UInt8.self, repeating: 0, count: LossOptionsLayout.size)
    p.storeBytes(of: UInt64(LossOptionsLayout.size), as: UInt64.self)
    p.storeBytes(of: Int64(-100), toByteOffset: LossOptionsLayout.ignoreIndex, as: Int64.self)
    p.storeBytes(of: 0.0, toByteOffset: LossOptionsLayout.labelSmoothing, as: Double.self)
    p.storeBytes(of: LossReduction.mean.rawValue, toByteOffset: LossOptionsLayout.reduction, as: Int32.self)
}

/// Core options from a C struct (NULL = defaults).
func lossOptions(_ p: UnsafeRawPointer?) throws(SoftmaxKitError) -> LossOptions {
    guard let p else { return LossOptions() }
    let size = p.loadUnaligned(as: UInt64.self)
    guard size >= UInt64(LossOptionsLayout.size) else {
        throw SoftmaxKitError(.invalidArgument,
            "options->size is \(size), expected \(LossOptionsLayout.size): call smk_loss_options_init first")
    }
    let ignore = p.loadUnaligned(fromByteOffset: LossOptionsLayout.ignoreIndex, as: Int64.self)
    let smoothing = p.loadUnaligned(fromByteOffset: LossOptionsLayout.labelSmoothing, as: Double.self)
    let reduction = p.loadUnaligned(fromByteOffset: LossOptionsLayout.reduction, as: Int32.self)
    guard let r = LossReduction(rawValue: reduction) else {
        throw SoftmaxKitError(.invalidArgument, "options->reduction \(reduction) is not an smk_reduction")
    }
    return LossOptions(ignoreIndex: Int(truncatingIfNeeded: ignore), labelSmoothing: smoothing, reduction: r)
}

private func crossEntropyABI<T: KernelScalar>(
    _ logits: UnsafePointer<T>?, _ target: UnsafeRawPointer?, probabilities: Bool, _ weight: UnsafePointer<T>?,
    _ loss: UnsafeMutablePointer<T>?, _ dlogits: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try lossOptions(options)
        let targets: ClassTargets<T> = probabilities
            ? .probabilities(try input(target?.assumingMemoryBound(to: T.self), e.count, "target"))
            : .indices(try indexInput(target?.assumingMemoryBound(to: Int64.self), e.reducedCount, "target"))
        let grad = dlogits.map { UnsafeMutableBufferPointer(start: $0, count: e.count) }
        try crossEntropy(try input(logits, e.count, "logits"), targets: targets, weight: optionalInput(weight, e.n),
                         loss: try output(loss, o.lossCount(samples: e.reducedCount), "loss"),
                         gradient: grad, extents: e, options: o)
    }
}

@_cdecl("smk_cross_entropy_f32")
public func smk_cross_entropy_f32(_ logits: UnsafePointer<Float>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                                  _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<Float>?,
                                  _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyABI(logits, UnsafeRawPointer(target), probabilities: false, weight, loss, dlogits, outer, n, inner, options)
}

@_cdecl("smk_cross_entropy_f64")
public func smk_cross_entropy_f64(_ logits: UnsafePointer<Double>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Double>?,
                                  _ loss: UnsafeMutablePointer<Double>?, _ dlogits: UnsafeMutablePointer<Double>?,
                                  _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyABI(logits, UnsafeRawPointer(target), probabilities: false, weight, loss, dlogits, outer, n, inner, options)
}

@_cdecl("smk_cross_entropy_probs_f32")
public func smk_cross_entropy_probs_f32(_ logits: UnsafePointer<Float>?, _ target: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?,
                                        _ loss: UnsafeMutablePointer<Float>?, _ dlogits: UnsafeMutablePointer<Float>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyABI(logits, UnsafeRawPointer(target), probabilities: true, weight, loss, dlogits, outer, n, inner, options)
}

@_cdecl("smk_cross_entropy_probs_f64")
public func smk_cross_entropy_probs_f64(_ logits: UnsafePointer<Double>?, _ target: UnsafePointer<Double>?, _ weight: UnsafePointer<Double>?,
                                        _ loss: UnsafeMutablePointer<Double>?, _ dlogits: UnsafeMutablePointer<Double>?,
                                        _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?) -> Int32 {
    crossEntropyABI(logits, UnsafeRawPointer(target), probabilities: true, weight, loss, dlogits, outer, n, inner, options)
}

private func nllABI<T: KernelScalar>(
    _ logProbs: UnsafePointer<T>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<T>?,
    _ loss: UnsafeMutablePointer<T>?, _ outer: Int64, _ n: Int64, _ inner: Int64, _ options: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try lossOptions(options)
        try nllLoss(try input(logProbs, e.count, "log_probs"), targets: try indexInput(target, e.reducedCount, "target"),
                    weight: optionalInput(weight, e.n), loss: try output(loss, o.lossCount(samples: e.reducedCount), "loss"),
                    extents: e, options: o)
    }
}

@_cdecl("smk_nll_loss_f32")
public func smk_nll_loss_f32(_ logProbs: UnsafePointer<Float>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Float>?,
                             _ loss: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                             _ options: UnsafeRawPointer?) -> Int32 {
    nllABI(logProbs, target, weight, loss, outer, n, inner, options)
}

@_cdecl("smk_nll_loss_f64")
public func smk_nll_loss_f64(_ logProbs: UnsafePointer<Double>?, _ target: UnsafePointer<Int64>?, _ weight: UnsafePointer<Double>?,
                             _ loss: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                             _ options: UnsafeRawPointer?) -> Int32 {
    nllABI(logProbs, target, weight, loss, outer, n, inner, options)
}

private func bceABI<T: KernelScalar>(
    _ logits: UnsafePointer<T>?, _ target: UnsafePointer<T>?, _ weight: UnsafePointer<T>?, _ posWeight: UnsafePointer<T>?,
    _ loss: UnsafeMutablePointer<T>?, _ count: Int64, _ classes: Int64, _ reduction: Int32
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        let k = try elementCount(classes, "classes")
        guard let r = LossReduction(rawValue: reduction) else {
            throw SoftmaxKitError(.invalidArgument, "reduction \(reduction) is not an smk_reduction")
        }
        try binaryCrossEntropyWithLogits(try input(logits, c, "logits"), targets: try input(target, c, "target"),
                                         weight: optionalInput(weight, c), posWeight: optionalInput(posWeight, k),
                                         classes: k, loss: try output(loss, r == .none ? c : 1, "loss"), count: c, reduction: r)
    }
}

@_cdecl("smk_binary_cross_entropy_with_logits_f32")
public func smk_binary_cross_entropy_with_logits_f32(
    _ logits: UnsafePointer<Float>?, _ target: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?, _ posWeight: UnsafePointer<Float>?,
    _ loss: UnsafeMutablePointer<Float>?, _ count: Int64, _ classes: Int64, _ reduction: Int32
) -> Int32 {
    bceABI(logits, target, weight, posWeight, loss, count, classes, reduction)
}

@_cdecl("smk_binary_cross_entropy_with_logits_f64")
public func smk_binary_cross_entropy_with_logits_f64(
    _ logits: UnsafePointer<Double>?, _ target: UnsafePointer<Double>?, _ weight: UnsafePointer<Double>?, _ posWeight: UnsafePointer<Double>?,
    _ loss: UnsafeMutablePointer<Double>?, _ count: Int64, _ classes: Int64, _ reduction: Int32
) -> Int32 {
    bceABI(logits, target, weight, posWeight, loss, count, classes, reduction)
}
