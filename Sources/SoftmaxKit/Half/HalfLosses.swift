/// nll_loss, cross-entropy with probability targets and binary
/// cross-entropy with logits on float16 and bfloat16 inputs, through
/// ``HalfBlocks``: each block of the half inputs is widened into float32
/// scratch and the float32 loss runs on it per sample (reduction none);
/// the per-sample losses are float32 and their mean or sum is taken in
/// double. Weights and losses are float32; a gradient (when asked) is in
/// the logits' type, rounded once. Same arguments, edge cases and errors as
/// the float32 functions.

// MARK: NLL

/// Negative log-likelihood of half `logProbs` at class-index `targets` (as
/// ``nllLoss(_:targets:weight:loss:extents:options:)``): weights and losses
/// are float32.
public func nllLoss<H: HalfFloat>(
    _ logProbs: UnsafeBufferPointer<H>, targets: UnsafeBufferPointer<Int>, weight: UnsafeBufferPointer<Float>? = nil,
    loss: UnsafeMutableBufferPointer<Float>, extents e: Extents, options: LossOptions = LossOptions()
) throws(SoftmaxKitError) {
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
    let denominator = try halfClassDenominator(targets, weight, classes, options)
    guard e.count > 0 else {
        try nllLoss(UnsafeBufferPointer<Float>(start: nil, count: 0), targets: targets, weight: weight,
                    loss: loss, extents: e, options: options)
        return
    }
    var perRow = options
    perRow.reduction = .none
    let tp = targets.baseAddress!, per = classes * e.inner
    try halfReducedLoss(samples, options.reduction, denominator, loss) { (rowLoss) throws(SoftmaxKitError) in
        try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(logProbs)!, per)],
                           outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
            let c = r.count, s0 = r.lowerBound * e.inner
            try nllLoss(UnsafeBufferPointer(start: ins[0], count: c * per),
                        targets: UnsafeBufferPointer(start: tp + s0, count: c * e.inner), weight: weight,
                        loss: UnsafeMutableBufferPointer(start: rowLoss + s0, count: c * e.inner),
                        extents: Extents(checked: c, classes, e.inner), options: perRow)
        }
    }
}

// MARK: Cross-entropy with probability targets

/// Cross-entropy of half `logits` against probability `targets` in the
/// logits' type (as ``crossEntropy(_:targets:weight:loss:gradient:extents:options:)``
/// with `.probabilities`): weights and losses are float32, the gradient
/// (when given) is in the logits' type, rounded once.
public func crossEntropy<H: HalfFloat>(
    _ logits: UnsafeBufferPointer<H>, probabilities targets: UnsafeBufferPointer<H>, weight: UnsafeBufferPointer<Float>? = nil,
    loss: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<H>? = nil,
    extents e: Extents, options: LossOptions = LossOptions()
) throws(SoftmaxKitError) {
    let eps = options.labelSmoothing
    guard eps >= 0, eps <= 1 else { throw .invalid("label_smoothing must be in [0, 1], got \(eps)") }
    try checkCount("logits", logits.count, e.count)
    let samples = e.reducedCount, classes = e.n
    try checkCount("loss", loss.count, options.lossCount(samples: samples))
    if let weight, weight.count != classes {
        throw .shape("weight holds \(weight.count) elements but there are \(classes) classes")
    }
    if let gradient { try checkCount("gradient", gradient.count, e.count) }
    try checkCount("target", targets.count, e.count)
    try checkSeparate(gradient, "gradient", from: logits, "logits")
    try checkSeparate(loss, "loss", from: logits, "logits")
    try checkSeparate(loss, "loss", from: weight, "weight")
    try checkSeparate(gradient, "gradient", from: weight, "weight")
    try checkSeparate(gradient, "gradient", from: UnsafeBufferPointer(loss), "loss")
    try checkSeparate(loss, "loss", from: targets, "target")
    try checkSeparate(gradient, "gradient", from: targets, "target")
    guard e.count > 0 else {
        let none = UnsafeBufferPointer<Float>(start: nil, count: 0)
        try crossEntropy(none, targets: .probabilities(none), weight: weight, loss: loss, gradient: nil,
                         extents: e, options: options)
        return
    }
    let divisor = options.reduction == .mean ? Float(samples) : 1
    var perRow = options
    perRow.reduction = .none
    let per = classes * e.inner
    let outputs = gradient.map { [(halfBits($0)!, per)] } ?? []
    try halfReducedLoss(samples, options.reduction, Double(samples), loss) { (rowLoss) throws(SoftmaxKitError) in
        try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(logits)!, per), (halfBits(targets)!, per)],
                           outputs: outputs) { (r, ins, outs) throws(SoftmaxKitError) in
            let c = r.count, s0 = r.lowerBound * e.inner
            let g = outs.first.map { UnsafeMutableBufferPointer(start: $0, count: c * per) }
            try crossEntropy(UnsafeBufferPointer(start: ins[0], count: c * per),
                             targets: .probabilities(UnsafeBufferPointer(start: ins[1], count: c * per)), weight: weight,
                             loss: UnsafeMutableBufferPointer(start: rowLoss + s0, count: c * e.inner),
                             gradient: g, extents: Extents(checked: c, classes, e.inner), options: perRow)
            if let g, divisor != 1 {
                for i in g.indices { g[i] /= divisor }
            }
        }
    }
}

// MARK: Binary cross-entropy with logits

/// Binary cross-entropy with half `logits` and `targets` (the same type)
/// over `count` elements, as
/// ``binaryCrossEntropyWithLogits(_:targets:weight:posWeight:classes:loss:count:reduction:)``:
/// `weight` (`count` values), `posWeight` (`classes` values) and the losses
/// are float32.
public func binaryCrossEntropyWithLogits<H: HalfFloat>(
    _ logits: UnsafeBufferPointer<H>, targets: UnsafeBufferPointer<H>, weight: UnsafeBufferPointer<Float>? = nil,
    posWeight: UnsafeBufferPointer<Float>? = nil, classes: Int, loss: UnsafeMutableBufferPointer<Float>,
    count: Int, reduction: LossReduction = .mean
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
    guard count > 0 else {
        let none = UnsafeBufferPointer<Float>(start: nil, count: 0)
        try binaryCrossEntropyWithLogits(none, targets: none, weight: nil, posWeight: nil, classes: classes,
                                         loss: loss, count: 0, reduction: reduction)
        return
    }
    // With pos_weight a slice is one row of `classes` (so that j % classes
    // holds inside each block), else one element.
    let m = posWeight == nil ? 1 : classes
    let wp = weight?.baseAddress
    try halfReducedLoss(count, reduction, Double(count), loss) { (rowLoss) throws(SoftmaxKitError) in
        try HalfBlocks.run(H.halfFormat, slices: count / m, inputs: [(halfBits(logits)!, m), (halfBits(targets)!, m)],
                           outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
            let c = r.count * m, j0 = r.lowerBound * m
            try binaryCrossEntropyWithLogits(UnsafeBufferPointer(start: ins[0], count: c),
                                             targets: UnsafeBufferPointer(start: ins[1], count: c),
                                             weight: wp.map { UnsafeBufferPointer(start: $0 + j0, count: c) },
                                             posWeight: posWeight, classes: classes,
                                             loss: UnsafeMutableBufferPointer(start: rowLoss + j0, count: c),
                                             count: c, reduction: .none)
        }
    }
}

// MARK: Shared

/// Checks every class-index target (in [0, classes) or ignore_index) and
/// returns the mean's denominator: the summed weight of the counted targets.
func halfClassDenominator(_ targets: UnsafeBufferPointer<Int>, _ weight: UnsafeBufferPointer<Float>?, _ classes: Int,
                          _ options: LossOptions) throws(SoftmaxKitError) -> Double {
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

/// Runs `body` with a float32 buffer for `samples` per-sample losses (`loss`
/// itself for reduction none), then writes the mean (sum / `denominator`)
/// or the sum into `loss[0]`, added in double.
func halfReducedLoss(_ samples: Int, _ reduction: LossReduction, _ denominator: Double,
                     _ loss: UnsafeMutableBufferPointer<Float>,
                     _ body: (UnsafeMutablePointer<Float>) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
    if reduction == .none {
        try body(loss.baseAddress!)
        return
    }
    let rowLoss = try allocate(Float.self, samples, for: "per-sample losses")
    defer { rawFree(rowLoss) }
    try body(rowLoss)
    var total = 0.0
    for r in 0..<samples { total += Double(rowLoss[r]) }
    loss[0] = Float(reduction == .mean ? total / denominator : total)
}
