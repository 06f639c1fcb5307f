/// softmax, log_softmax, logsumexp, softmax + top-k and cross-entropy on
/// float16 and bfloat16 tensors: read as float32, every sum and max in
/// float32 or wider (the float32 kernels), each output rounded once to
/// nearest even into the input's type; losses are float32. Same arguments,
/// edge cases and errors as the float32 functions, temperatures in float32.

// MARK: Normalizers

/// Softmax of a half tensor over the `n` extent into `y` (`y` may be `x`).
/// Errors as ``softmax(_:into:extents:temperature:)``.
public func softmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents, temperature: Float = 1
) throws(SoftmaxKitError) {
    try halfNormalize(.softmax, x, y, extents, temperature)
}

/// Log-softmax of a half tensor over the `n` extent into `y` (`y` may be `x`).
public func logSoftmax<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>,
    extents: Extents, temperature: Float = 1
) throws(SoftmaxKitError) {
    try halfNormalize(.logSoftmax, x, y, extents, temperature)
}

/// Softmax of a half array viewed as `shape` (default: 1-D) over `axis`.
public func softmax<H: HalfFloat>(_ x: [H], shape: [Int]? = nil, axis: Int = -1, temperature: Float = 1) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in try softmax(xb, into: yb, extents: e, temperature: temperature) }
}

/// Log-softmax of a half array viewed as `shape` (default: 1-D) over `axis`.
public func logSoftmax<H: HalfFloat>(_ x: [H], shape: [Int]? = nil, axis: Int = -1, temperature: Float = 1) throws(SoftmaxKitError) -> [H] {
    try halfMapArray(x, shape, axis) { (xb, yb, e) throws(SoftmaxKitError) in try logSoftmax(xb, into: yb, extents: e, temperature: temperature) }
}

/// `log(sum(exp(x)))` of a half tensor over the `n` extent; `y` holds
/// `outer * inner` results. An empty fibre gives `-inf`.
public func logSumExp<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<H>, extents e: Extents
) throws(SoftmaxKitError) {
    let outCount = e.reducedCount
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, outCount)
    guard outCount > 0 else { return }
    try checkAliasing(x, xCount: e.count, y, yCount: outCount)
    let yp = halfBits(y)!
    if e.n == 0 {
        let bits: UInt16 = H.halfFormat == .binary16 ? 0xfc00 : 0xff80
        for i in 0..<outCount { yp[i] = bits }
        return
    }
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, e.n * e.inner)],
                       outputs: [(yp, e.inner)]) { (r, ins, outs) throws(SoftmaxKitError) in
        halfLogFibres(ins[0], nil, outs[0], slices: r.count, e.n, e.inner, invT: 1)
    }
}

func halfNormalize<H: HalfFloat>(_ kind: NormalizerKind, _ x: UnsafeBufferPointer<H>, _ y: UnsafeMutableBufferPointer<H>,
                                 _ e: Extents, _ temperature: Float) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    try checkCount("x", x.count, e.count)
    try checkCount("y", y.count, e.count)
    try checkAliasing(x, y, count: e.count)
    guard e.count > 0 else { return }
    let per = e.n * e.inner, invT = 1 / temperature
    if e.inner == 1 && e.n >= halfRowsMinimum {
        // Rows read and written as half (HalfRows.swift): no float32 copy.
        let log = kind == .logSoftmax, xp = halfBits(x)!, yp = halfBits(y)!
        switch H.halfFormat {
        case .binary16: try halfNormalizeRows(log, xp, yp, rows: e.outer, n: e.n, invT: invT, Binary16Lanes.self)
        case .bfloat16: try halfNormalizeRows(log, xp, yp, rows: e.outer, n: e.n, invT: invT, BFloat16Lanes.self)
        }
        return
    }
    if kind == .softmax && e.inner == 1 {
        // Rows: the exponentials go to a row of scratch and the last pass
        // scales and rounds them straight into y (no float32 output block).
        let n = e.n, yp = halfBits(y)!
        try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)], outputs: []) { (r, ins, _) throws(SoftmaxKitError) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { buffer in
                let tmp = buffer.baseAddress!
                for o in 0..<r.count {
                    let row = ins[0] + o * n
                    let (lo, m) = rowMinMax(row, n, readable: n)
                    let s = rowExpSum(row, tmp, n, shift: m, scale: invT, lowest: lo, readable: n)
                    HalfConversion.narrowScaled(H.halfFormat, tmp, yp + (r.lowerBound + o) * n, count: n, scale: Float(1 / s))
                }
            }
        }
        return
    }
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(x)!, per)],
                       outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        if kind == .softmax {
            try Normalizer<Float>.run(kind, ins[0], outs[0], Extents(checked: r.count, e.n, e.inner), invT: invT)
        } else {
            halfLogFibres(ins[0], outs[0], nil, slices: r.count, e.n, e.inner, invT: invT)
        }
    }
}

/// log_softmax (into `y`) or logsumexp (into `lse`, one per fibre) of
/// `slices` float32 slices of `(n, inner)`, `n > 0`, a fibre at a time
/// (a column is gathered into a row first), with the float32 kernel's
/// exponentials and sum. Where the result is near 0 (a sum below 2, or a
/// logsumexp below 1 in magnitude) the sum is taken again in double and its
/// log as `log1p(sum - 1)` with the maximum's exact 1 left out: the float32
/// lanes round `1 + small` to float32, which near 0 errs by a whole float16
/// subnormal step (or a bfloat16 ulp of a log-probability near -1e-5).
func halfLogFibres(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>?, _ lse: UnsafeMutablePointer<Float>?,
                   slices: Int, _ n: Int, _ inner: Int, invT: Float) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { buffer in
        let tmp = buffer.baseAddress!
        func fibre(_ row: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>?) -> Float {
            let (lo, m) = rowMinMax(row, n, readable: n)
            if out == nil, !m.isFinite { return (0..<n).contains { row[$0].isNaN } ? .nan : m }
            let s = rowExpSum(row, nil, n, shift: m, scale: invT, lowest: lo, readable: n)
            var offset = Double.libmLog(s)
            if s < 2 || (out == nil && abs(Double(m) + offset) < 1) {
                // Log-probabilities near 0, or a logsumexp near 0: again, with
                // the sum in double and the maximum's exact 1 left out of it.
                let e = tmp  // (out may be row itself: a gathered column)
                _ = rowExpSum(row, e, n, shift: m, scale: invT, lowest: lo, readable: n)
                let k = (0..<n).first { row[$0] == m } ?? 0
                offset = Double.libmLog1p(halfDoubleSum(e, n) - Double(e[k]))
            }
            if let out {
                rowShiftScaleOffset(row, out, n, shift: m, scale: invT, offset: Float(offset))
                return 0
            }
            return Float(Double(m) + offset)
        }
        if inner == 1 {
            for o in 0..<slices {
                let v = fibre(x + o * n, y.map { $0 + o * n })
                lse?[o] = v
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { rowBuffer in
            let row = rowBuffer.baseAddress!
            for o in 0..<slices {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    for j in 0..<n { row[j] = x[base + j * inner] }
                    let v = fibre(row, y == nil ? nil : row)
                    if let y {
                        for j in 0..<n { y[base + j * inner] = row[j] }
                    }
                    lse?[o * inner + i] = v
                }
            }
        }
    }
}

/// The sum of `n` floats in double (two vector accumulators).
func halfDoubleSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var a = SIMD8<Double>(), b = SIMD8<Double>()
    var j = 0
    while j + 16 <= n {
        a += SIMD8<Double>(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self))
        b += SIMD8<Double>(UnsafeRawPointer(p + j + 8).loadUnaligned(as: SIMD8<Float>.self))
        j += 16
    }
    var s = (a + b).sum()
    while j < n { s += Double(p[j]); j += 1 }
    return s
}

func halfMapArray<H: HalfFloat>(
    _ x: [H], _ shape: [Int]?, _ axis: Int,
    _ body: (UnsafeBufferPointer<H>, UnsafeMutableBufferPointer<H>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [H] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var failure: SoftmaxKitError?
    let y = [H](unsafeUninitializedCapacity: x.count) { yb, initialized in
        UnsafeMutableRawBufferPointer(yb).initializeMemory(as: UInt8.self, repeating: 0)
        initialized = x.count
        x.withUnsafeBufferPointer { xb in
            do throws(SoftmaxKitError) { try body(xb, yb, e) } catch { failure = error }
        }
    }
    if let failure { throw failure }
    return y
}

// MARK: Selection

/// Softmax probabilities (temperature `T`) of the `k` most probable
/// positions of each fibre of a half tensor, sorted descending, into `probs`
/// (the input's type) and `indices`, both `(outer, k, inner)`. Errors as
/// ``softmaxTopK(_:k:probs:indices:extents:temperature:)``.
public func softmaxTopK<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, k: Int, probs: UnsafeMutableBufferPointer<H>,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents, temperature: Float = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    let n = e.n
    if e.inner == 1 && k > 0 && k <= 2 * Float.width && n >= halfRowsMinimum && n <= Int(Int32.max) {
        // Rows read as half (HalfRows.swift): no float32 copy.
        guard try checkHalfSelect(x, k: k, values: probs, valuesName: "probs", indices: indices, extents: e) > 0 else { return }
        let xp = halfBits(x)!, pp = halfBits(probs)!, ip = indices.baseAddress!, invT = 1 / temperature
        switch H.halfFormat {
        case .binary16: try halfSoftmaxTopKRows(xp, rows: e.outer, n: n, k: k, invT: invT, pp, ip, Binary16Lanes.self)
        case .bfloat16: try halfSoftmaxTopKRows(xp, rows: e.outer, n: n, k: k, invT: invT, pp, ip, BFloat16Lanes.self)
        }
        return
    }
    try halfSelect(x, k: k, values: probs, valuesName: "probs", indices: indices, extents: e) {
        (xb, k, pb, ib, e) throws(SoftmaxKitError) in
        try softmaxTopK(xb, k: k, probs: pb, indices: ib, extents: e, temperature: temperature)
    }
}

/// The argument checks of a half selection (top-k, softmax + top-k), before
/// anything is written; returns the number of outputs (`outer * k * inner`).
func checkHalfSelect<H: HalfFloat>(
    _ x: UnsafeBufferPointer<H>, k: Int, values: UnsafeMutableBufferPointer<H>, valuesName: String,
    indices: UnsafeMutableBufferPointer<Int>, extents e: Extents
) throws(SoftmaxKitError) -> Int {
    guard k >= 0, k <= e.n else { throw .invalid("k must be in 0...\(e.n), got \(k)") }
    try checkCount("x", x.count, e.count)
    let outCount = e.outer * k * e.inner
    try checkCount(valuesName, values.count, outCount)
    try checkCount("indices", indices.count, outCount)
    try checkSeparate(values, valuesName, from: x, "x")
    try checkSeparate(indices, "indices", from: x, "x")
    try checkSeparate(indices, "indices", from: UnsafeBufferPointer(values), valuesName)
    return outCount
}

// MARK: Losses

/// Cross-entropy of half `logits` against class-index `targets` (as
/// ``crossEntropy(_:targets:weight:loss:gradient:extents:options:)``): the
/// losses and weights are float32, the gradient (when given) is in the
/// logits' type, rounded once.
public func crossEntropy<H: HalfFloat>(
    _ logits: UnsafeBufferPointer<H>, targets: UnsafeBufferPointer<Int>, weight: UnsafeBufferPointer<Float>? = nil,
    loss: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<H>? = nil,
    extents e: Extents, options: LossOptions = LossOptions()
) throws(SoftmaxKitError) {
    let denominator = try checkCrossEntropy(logits, targets: ClassTargets<Float>.indices(targets), weight: weight,
                                            loss: loss, gradient: gradient, extents: e, options: options)
    let samples = e.reducedCount, classes = e.n
    guard e.count > 0 else {
        try crossEntropy(UnsafeBufferPointer<Float>(start: nil, count: 0), targets: .indices(targets), weight: weight,
                         loss: loss, gradient: nil, extents: e, options: options)
        return
    }
    let none = options.reduction == .none
    let rowLoss = none ? loss.baseAddress! : try allocate(Float.self, samples, for: "per-sample losses")
    defer { if !none { rowLoss.deallocate() } }
    let divisor = options.reduction == .mean ? Float(denominator) : 1
    var perRow = options
    perRow.reduction = .none
    let tp = targets.baseAddress!, per = classes * e.inner
    if e.inner == 1 && gradient == nil && options.labelSmoothing == 0 && classes >= halfRowsMinimum {
        // Rows read as half: each loss is w_t (log Z - x_t), log Z from the
        // row's max and exp-sum (the float32 kernel's bits on the widened row).
        let xp = halfBits(logits)!, wp = weight?.baseAddress, ignore = options.ignoreIndex
        switch H.halfFormat {
        case .binary16:
            halfCrossEntropyRows(xp, tp, wp, ignoreIndex: ignore, rowLoss, samples: samples, classes: classes, Binary16Lanes.self)
        case .bfloat16:
            halfCrossEntropyRows(xp, tp, wp, ignoreIndex: ignore, rowLoss, samples: samples, classes: classes, BFloat16Lanes.self)
        }
    } else {
    let outputs = gradient.map { [(halfBits($0)!, per)] } ?? []
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(logits)!, per)],
                       outputs: outputs) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count, s0 = r.lowerBound * e.inner
        let g = outs.first.map { UnsafeMutableBufferPointer(start: $0, count: c * per) }
        try crossEntropy(UnsafeBufferPointer(start: ins[0], count: c * per),
                         targets: .indices(UnsafeBufferPointer(start: tp + s0, count: c * e.inner)), weight: weight,
                         loss: UnsafeMutableBufferPointer(start: rowLoss + s0, count: c * e.inner),
                         gradient: g, extents: Extents(checked: c, classes, e.inner), options: perRow)
        if let g, divisor != 1 {
            for i in g.indices { g[i] /= divisor }
        }
    }
    }
    if !none {
        var total = 0.0
        for r in 0..<samples { total += Double(rowLoss[r]) }
        loss[0] = Float(total / (options.reduction == .mean ? denominator : 1))
    }
}
