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
    let samples = e.reducedCount, classes = e.n
    let denominator = try checkNLL(logProbs, targets: targets, weight: weight, loss: loss, extents: e, options: options)
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
    _ = try checkCrossEntropy(logits, indices: nil, probabilities: targets, weight: weight, loss: loss, gradient: gradient,
                              extents: e, options: options)
    let samples = e.reducedCount, classes = e.n
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
    try checkBinaryCrossEntropy(logits, targets: targets, weight: weight, posWeight: posWeight, classes: classes,
                                loss: loss, count: count, reduction: reduction)
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
