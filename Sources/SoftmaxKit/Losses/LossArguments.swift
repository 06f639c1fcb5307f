/// The argument checks of the losses, shared by every logits type: the
/// float32 / float64 kernels and the half kernels (float16 / bfloat16 logits,
/// gradient and probability targets; float32 weights and losses). Each
/// checks sizes, overlaps and every target before anything is written.

/// Checks every class-index target (in [0, classes) or ignore_index) and
/// returns the mean's denominator: the summed weight of the counted targets.
func classTargetDenominator<T: KernelScalar>(_ targets: UnsafeBufferPointer<Int>, _ weight: UnsafeBufferPointer<T>?,
                                             _ classes: Int, _ options: LossOptions) throws(SoftmaxKitError) -> Double {
    var denominator = 0.0
    for r in 0..<targets.count {
        let c = targets[r]
        if c == options.ignoreIndex { continue }
        guard c >= 0, c < classes else {
            throw SoftmaxKitError(.indexOutOfRange,
                "target[\(r)] = \(c) is outside [0, \(classes)) and is not ignore_index (\(options.ignoreIndex))")
        }
        denominator += weight.map { Double($0[c]) } ?? 1
    }
    return denominator
}

/// Cross-entropy's checks: label smoothing, buffer sizes, overlaps and every
/// target (class indices or probabilities `P`, exactly one given). Returns
/// the mean's denominator: the weight sum of the counted class-index
/// targets, or the sample count for probability targets.
func checkCrossEntropy<X, P, T: KernelScalar>(
    _ logits: UnsafeBufferPointer<X>, indices: UnsafeBufferPointer<Int>?, probabilities: UnsafeBufferPointer<P>?,
    weight: UnsafeBufferPointer<T>?, loss: UnsafeMutableBufferPointer<T>, gradient: UnsafeMutableBufferPointer<X>?,
    extents e: Extents, options: LossOptions
) throws(SoftmaxKitError) -> Double {
    let eps = options.labelSmoothing
    guard eps >= 0, eps <= 1 else { throw .invalid("label_smoothing must be in [0, 1], got \(eps)") }
    try checkCount("logits", logits.count, e.count)
    let samples = e.reducedCount, classes = e.n
    try checkCount("loss", loss.count, options.lossCount(samples: samples))
    if let weight, weight.count != classes {
        throw .shape("weight holds \(weight.count) elements but there are \(classes) classes")
    }
    if let gradient { try checkCount("gradient", gradient.count, e.count) }
    try checkSeparate(gradient, "gradient", from: logits, "logits")
    try checkSeparate(loss, "loss", from: logits, "logits")
    try checkSeparate(loss, "loss", from: weight, "weight")
    try checkSeparate(gradient, "gradient", from: weight, "weight")
    try checkSeparate(gradient, "gradient", from: UnsafeBufferPointer(loss), "loss")
    try checkSeparate(loss, "loss", from: indices, "target")
    try checkSeparate(gradient, "gradient", from: indices, "target")
    try checkSeparate(loss, "loss", from: probabilities, "target")
    try checkSeparate(gradient, "gradient", from: probabilities, "target")
    if let indices {
        try checkCount("target", indices.count, samples)
        return try classTargetDenominator(indices, weight, classes, options)
    }
    try checkCount("target", probabilities?.count ?? 0, e.count)
    return Double(samples)
}

/// ``checkCrossEntropy(_:indices:probabilities:weight:loss:gradient:extents:options:)``
/// for targets of the losses' own type.
func checkCrossEntropy<X, T: KernelScalar>(
    _ logits: UnsafeBufferPointer<X>, targets: ClassTargets<T>, weight: UnsafeBufferPointer<T>?,
    loss: UnsafeMutableBufferPointer<T>, gradient: UnsafeMutableBufferPointer<X>?,
    extents e: Extents, options: LossOptions
) throws(SoftmaxKitError) -> Double {
    switch targets {
    case .indices(let t):
        try checkCrossEntropy(logits, indices: t, probabilities: UnsafeBufferPointer<T>?.none, weight: weight, loss: loss,
                              gradient: gradient, extents: e, options: options)
    case .probabilities(let p):
        try checkCrossEntropy(logits, indices: nil, probabilities: p, weight: weight, loss: loss, gradient: gradient,
                              extents: e, options: options)
    }
}

/// nll_loss's checks; returns the mean's denominator.
func checkNLL<X, T: KernelScalar>(
    _ logProbs: UnsafeBufferPointer<X>, targets: UnsafeBufferPointer<Int>, weight: UnsafeBufferPointer<T>?,
    loss: UnsafeMutableBufferPointer<T>, extents e: Extents, options: LossOptions
) throws(SoftmaxKitError) -> Double {
    guard options.labelSmoothing == 0 else {
        throw .invalid("nll_loss takes no label_smoothing, got \(options.labelSmoothing)")
    }
    let samples = e.reducedCount, classes = e.n
    try checkCount("log_probs", logProbs.count, e.count)
    try checkCount("target", targets.count, samples)
    try checkCount("loss", loss.count, options.lossCount(samples: samples))
    if let weight, weight.count != classes {
        throw .shape("weight holds \(weight.count) elements but there are \(classes) classes")
    }
    try checkSeparate(loss, "loss", from: logProbs, "log_probs")
    try checkSeparate(loss, "loss", from: targets, "target")
    try checkSeparate(loss, "loss", from: weight, "weight")
    return try classTargetDenominator(targets, weight, classes, options)
}

/// Binary cross-entropy's checks: `count` elements of logits and targets
/// (`X`), `weight` (`count` values) and `posWeight` (`classes` values,
/// dividing `count`) and the loss, none overlapping the loss.
func checkBinaryCrossEntropy<X, T: KernelScalar>(
    _ logits: UnsafeBufferPointer<X>, targets: UnsafeBufferPointer<X>, weight: UnsafeBufferPointer<T>?,
    posWeight: UnsafeBufferPointer<T>?, classes: Int, loss: UnsafeMutableBufferPointer<T>, count: Int,
    reduction: LossReduction
) throws(SoftmaxKitError) {
    guard count >= 0 else { throw .invalid("count must be non-negative, got \(count)") }
    try checkCount("logits", logits.count, count)
    try checkCount("target", targets.count, count)
    try checkCount("loss", loss.count, reduction == .none ? count : 1)
    if let weight { try checkCount("weight", weight.count, count) }
    if let posWeight {
        guard classes > 0, count % classes == 0 else {
            throw .shape("pos_weight of \(classes) classes does not divide \(count) elements")
        }
        guard posWeight.count == classes else {
            throw .shape("pos_weight holds \(posWeight.count) elements but the last axis has \(classes)")
        }
    }
    try checkSeparate(loss, "loss", from: logits, "logits")
    try checkSeparate(loss, "loss", from: targets, "target")
    try checkSeparate(loss, "loss", from: weight, "weight")
    try checkSeparate(loss, "loss", from: posWeight, "pos_weight")
}
