/// Losses with PyTorch's semantics (`F.cross_entropy`, `F.nll_loss`,
/// `F.binary_cross_entropy_with_logits`). Logits carry the class axis as the
/// `n` extent: `[B, C]` is `(B, C, 1)`, `[B, C, d1, ...]` is `(B, C, d1*...)`;
/// there is one sample per `(outer, inner)` fibre, `N = outer * inner`.
///
/// Cross-entropy with class-index targets t, weights w (default 1), label
/// smoothing e, lsm = log_softmax(x) over C:
///   loss_r = (1 - e) w_t (-lsm_t) + (e / C) sum_c w_c (-lsm_c);  0 if t == ignore_index
///   mean   = sum_r loss_r / sum_{r not ignored} w_{t_r}   (NaN when every target is ignored)
/// With probability targets p (same shape as the logits), p' = (1 - e) p + e / C:
///   loss_r = sum_c w_c p'_c (-lsm_c);  mean = sum_r loss_r / N
/// Gradient with respect to the logits, for q_c the weight on -lsm_c above
/// and Q = sum_c q_c:  d loss_r / d x_c = Q softmax(x)_c - q_c, times 1/denominator
/// for the mean; for reduction none it is the gradient of sum_r loss_r.
/// Ignored samples get a zero gradient.
///
/// NLL: loss_r = -w_t x_t (x already log-probabilities), same reductions.
/// BCE with logits, element-wise, pos_weight p_c over the last axis:
///   loss = w [(1 - y) x + (1 + (p - 1) y) (log1p(exp(-|x|)) + max(-x, 0))]
/// stable for any |x|; mean over every element.

/// How per-sample losses are combined (raw values: PyTorch's and the C ABI's).
public enum LossReduction: Int32, CaseIterable, Sendable {
    case none = 0
    case mean = 1
    case sum = 2

    /// "none", "mean" or "sum".
    public var name: String {
        switch self {
        case .none: "none"
        case .mean: "mean"
        case .sum: "sum"
        }
    }
}

/// The options PyTorch passes by keyword.
public struct LossOptions: Equatable, Sendable {
    /// A class-index target equal to this is skipped (any value; default -100).
    public var ignoreIndex: Int
    /// In [0, 1].
    public var labelSmoothing: Double
    public var reduction: LossReduction

    public init(ignoreIndex: Int = -100, labelSmoothing: Double = 0, reduction: LossReduction = .mean) {
        self.ignoreIndex = ignoreIndex; self.labelSmoothing = labelSmoothing; self.reduction = reduction
    }

    /// Elements of the loss output: `samples` for `.none`, else 1.
    public func lossCount(samples: Int) -> Int { reduction == .none ? samples : 1 }
}

/// Cross-entropy targets: one class index per sample, or one probability per logit.
public enum ClassTargets<T: KernelScalar> {
    case indices(UnsafeBufferPointer<Int>)
    case probabilities(UnsafeBufferPointer<T>)
}

/// Cross-entropy of `logits` against `targets` into `loss` (`N` values for
/// reduction none, else 1) and, when `gradient` is non-nil, d loss / d logits
/// (`extents.count` values). `loss` and `gradient` are separate buffers: they
/// must not overlap any input or each other (`.invalidArgument`).
/// - Throws: `.invalidArgument` for label smoothing outside [0, 1] or NaN;
///   `.shapeMismatch` for a weight not of length C or short buffers;
///   `.indexOutOfRange` for a target outside [0, C) that is not ignore_index.
///   Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func crossEntropy<T: KernelScalar>(
    _ logits: UnsafeBufferPointer<T>, targets: ClassTargets<T>, weight: UnsafeBufferPointer<T>? = nil,
    loss: UnsafeMutableBufferPointer<T>, gradient: UnsafeMutableBufferPointer<T>? = nil,
    extents e: Extents, options: LossOptions = LossOptions()
) throws(SoftmaxKitError) {
    let eps = options.labelSmoothing
    let samples = e.reducedCount, classes = e.n
    let denominator = try checkCrossEntropy(logits, targets: targets, weight: weight, loss: loss, gradient: gradient,
                                            extents: e, options: options)
    let wp = weight?.baseAddress
    // The mean divides by its denominator; a reciprocal would overflow to
    // inf for a subnormal float64 weight sum (fuzz_abi: a mean of -inf for
    // -2.16e49).
    let divisor = options.reduction == .mean ? denominator : 1
    guard e.count > 0 else {
        // No logits (no samples, or C == 0 with every target ignored): the
        // pointers may be NULL, so nothing below may run. Each loss is 0;
        // the mean is 0 / denominator (NaN when nothing counts, as PyTorch).
        if options.reduction == .none {
            for r in 0..<samples { loss[r] = 0 }
        } else {
            loss[0] = T(0 / divisor)
        }
        return
    }
    let lp = loss.baseAddress!
    if e.inner == 1 {
        // Rows in parallel; each piece sums its own losses, added in piece order.
        let xp = logits.baseAddress!, gp = gradient?.baseAddress
        // Up to 64 pieces of at least 16 rows: a function of the sample count
        // only (so sums do not depend on the thread count), and long enough
        // for the short-row driver to pair rows.
        let pieces = max(1, min(samples / 16, 64))
        let short = ShortRows<T>(classes)
        let rowLoss = options.reduction == .none ? lp : nil
        if pieces == 1, let short {
            // Under 32 samples of short rows: one piece, so neither the
            // pieces' scratch nor the thread planner (same sum: 0 + s).
            let s = shortRowLosses(short, xp, targets, wp, options, gp, divisor, rowLoss, 0..<samples)
            if options.reduction != .none { lp[0] = T((0 + s) / divisor) }
            return
        }
        // Stack scratch, not an Array: a heap allocation was a fifth of a 1x10 call.
        withUnsafeTemporaryAllocation(of: Double.self, capacity: pieces) { pb in
            parallelFor(pieces, work: e.count) { range in
                for piece in range {
                    var sum = 0.0
                    // piece * (samples / pieces) + min(piece, samples % pieces): no product overflows
                    let q = samples / pieces, rem = samples % pieces
                    let first = piece * q + min(piece, rem), last = first + q + (piece < rem ? 1 : 0)
                    if let short {
                        pb[piece] = shortRowLosses(short, xp, targets, wp, options, gp, divisor, rowLoss, first..<last)
                        continue
                    }
                    for r in first..<last {
                        let g = gp.map { $0 + r * classes }
                        let l: Double
                        switch targets {
                        case .indices(let t):
                            l = CrossEntropyRow<T>.index(xp + r * classes, t[r], classes, wp, options, g, divisor)
                        case .probabilities(let p):
                            l = CrossEntropyRow<T>.soft(xp + r * classes, p.baseAddress! + r * classes, classes, wp, eps, g, divisor)
                        }
                        if options.reduction == .none { lp[r] = T(l) } else { sum += l }
                    }
                    pb[piece] = sum
                }
            }
            if options.reduction != .none { lp[0] = T(pb.reduce(0, +) / divisor) }
        }
        return
    }
    let f = try Fibres<T>(e, slots: 3)
    defer { f.free() }
    var total = 0.0
    for r in 0..<samples {
        let x = f.read(logits.baseAddress!, r, slot: 0)
        let g = gradient.map { f.target($0.baseAddress!, r, slot: 2) }
        let l: Double
        switch targets {
        case .indices(let t):
            l = CrossEntropyRow<T>.index(x, t[r], classes, wp, options, g, divisor)
        case .probabilities(let p):
            l = CrossEntropyRow<T>.soft(x, f.read(p.baseAddress!, r, slot: 1), classes, wp, eps, g, divisor)
        }
        if let gradient { f.commit(gradient.baseAddress!, r, slot: 2) }
        if options.reduction == .none { lp[r] = T(l) } else { total += l }
    }
    if options.reduction != .none { lp[0] = T(total / divisor) }
}

/// Negative log-likelihood of `logProbs` (log-probabilities, class axis `n`)
/// at class-index targets; `loss` as in cross-entropy. Label smoothing must be 0.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func nllLoss<T: KernelScalar>(
    _ logProbs: UnsafeBufferPointer<T>, targets: UnsafeBufferPointer<Int>, weight: UnsafeBufferPointer<T>? = nil,
    loss: UnsafeMutableBufferPointer<T>, extents e: Extents, options: LossOptions = LossOptions()
) throws(SoftmaxKitError) {
    let samples = e.reducedCount, classes = e.n
    let denominator = try checkNLL(logProbs, targets: targets, weight: weight, loss: loss, extents: e, options: options)
    var total = 0.0
    for r in 0..<samples {
        let c = targets[r]
        var l = 0.0
        if c != options.ignoreIndex {
            let o = r / e.inner, i = r % e.inner
            let w = weight.map { Double($0[c]) } ?? 1
            l = -w * Double(logProbs[(o * classes + c) * e.inner + i])
        }
        if options.reduction == .none { loss[r] = T(l) } else { total += l }
    }
    if options.reduction == .mean { loss[0] = T(total / denominator) }
    if options.reduction == .sum { loss[0] = T(total) }
}

/// Binary cross-entropy with logits over `count` elements; `weight` (NULL or
/// `count` values) multiplies each loss; `posWeight` (NULL or `classes`
/// values) weighs positives of class `j % classes` (the last axis).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func binaryCrossEntropyWithLogits<T: KernelScalar>(
    _ logits: UnsafeBufferPointer<T>, targets: UnsafeBufferPointer<T>, weight: UnsafeBufferPointer<T>? = nil,
    posWeight: UnsafeBufferPointer<T>? = nil, classes: Int, loss: UnsafeMutableBufferPointer<T>,
    count: Int, reduction: LossReduction = .mean
) throws(SoftmaxKitError) {
    try checkBinaryCrossEntropy(logits, targets: targets, weight: weight, posWeight: posWeight, classes: classes,
                                loss: loss, count: count, reduction: reduction)
    var total = 0.0
    for j in 0..<count {
        let x = Double(logits[j]), y = Double(targets[j])
        let p = posWeight.map { Double($0[j % classes]) } ?? 1
        var l: Double
        if x.isFinite && y.isFinite && p.isFinite {
            // (1 - y) x + lw softplus(-x) with lw = 1 + (p - 1) y, written so
            // that nothing cancels: lw = (1 - y) + p y (two terms of one sign
            // for targets in [0, 1]), and for x < 0 the x inside softplus(-x)
            // = -x + log1p(e^x) taken out, leaving -p y x. Term by term, a
            // target near 1 with lw near 1 - y lost every digit at large |x|.
            let a = 1 - y, b = p * y, lw = posWeight == nil ? 1 : a + b
            l = x >= 0 ? a * x + lw * Double.libmLog1p(Double.libmExp(-x))
                       : -b * x + lw * Double.libmLog1p(Double.libmExp(x))
        } else {
            // Infinities and NaN as the term-by-term formula gives them.
            let softplus = Double.libmLog1p(Double.libmExp(-abs(x))) + max(-x, 0)
            l = (1 - y) * x + (posWeight == nil ? 1 : 1 + (p - 1) * y) * softplus
        }
        if let weight { l *= Double(weight[j]) }
        if x.isNaN || y.isNaN { l = .nan }
        if reduction == .none { loss[j] = T(l) } else { total += l }
    }
    if reduction == .mean { loss[0] = T(total / Double(count)) }
    if reduction == .sum { loss[0] = T(total) }
}

// MARK: Row kernels

/// Cross-entropy of the short rows `rows` (class axis last): 32 rows at a
/// time, the normalizers from registers (`ShortLogNormalizer`), their logs by
/// the vector log, then the shared loss and gradient code. Writes each loss
/// to `rowLoss` when given (reduction none) and returns 0, else returns the
/// sum of the losses in row order.
@inlinable
func shortRowLosses<T: KernelScalar>(
    _ short: ShortRows<T>, _ xp: UnsafePointer<T>, _ targets: ClassTargets<T>, _ wp: UnsafePointer<T>?,
    _ options: LossOptions, _ gp: UnsafeMutablePointer<T>?, _ divisor: Double, _ rowLoss: UnsafeMutablePointer<T>?,
    _ rows: Range<Int>
) -> Double {
    // 32 rows: the three buffers stay under the 1 KB up to which
    // withUnsafeTemporaryAllocation uses the stack (64 rows went to malloc).
    let chunk = 32, n = short.n
    var plain: UnsafeBufferPointer<Int>? = nil
    if case .indices(let t) = targets, wp == nil, options.labelSmoothing == 0, gp == nil { plain = t }
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: 3 * chunk) { buffer in
        let maxes = buffer.baseAddress!, sums = maxes + chunk, logs = sums + chunk
        var total = 0.0, start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(start + chunk, rows.upperBound)
            short.run(ShortLogNormalizer(xp, gradient: gp, maxes: maxes, sums: sums, base: start), start..<end)
            // The vector log for every chunk, also of one row: libm's log
            // differs from it by an ulp, and a row's loss must not depend on
            // how many rows share its call (libm for chunks under 4 rows gave
            // a row of 7 another loss alone; test_variant_properties).
            if end - start >= Double.width {
                Double.vlog(sums, end - start, into: logs)
            } else {
                for i in 0 ..< end - start { logs[i] = Double.vlog(sums[i]) }
            }
            // The vector log holds for normal positive sums (a finite row's
            // is in [1, n]); libm's log gives inf and NaN their due.
            for i in 0 ..< end - start where !(sums[i] >= 1 && sums[i] < .infinity) {
                logs[i] = Double.libmLog(sums[i])
            }
            if let t = plain {
                // Class indices, no weight, no smoothing, no gradient: each
                // loss is logZ - x[t] (indexLoss's bits with weight 1), in a
                // loop of a dozen instructions a row (the general one below
                // was half of a 64x10 call).
                let ignore = options.ignoreIndex
                if let rowLoss {
                    for r in start..<end {
                        let i = r - start, c = t[r]
                        rowLoss[r] = c == ignore ? 0 : T(maxes[i] + logs[i] - Double(xp[r * n + c]))
                    }
                } else {
                    for r in start..<end {
                        let i = r - start, c = t[r]
                        total += c == ignore ? 0 : maxes[i] + logs[i] - Double(xp[r * n + c])
                    }
                }
                start = end
                continue
            }
            for r in start..<end {
                let i = r - start, s = sums[i], xr = xp + r * n, g = gp.map { $0 + r * n }
                let logZ = maxes[i] + logs[i]
                let l: Double
                switch targets {
                case .indices(let t):
                    if t[r] == options.ignoreIndex {
                        g?.update(repeating: 0, count: n)
                        l = 0
                    } else {
                        l = CrossEntropyRow<T>.indexLoss(xr, t[r], n, wp, options, g, divisor, logZ: logZ, sum: s)
                    }
                case .probabilities(let p):
                    l = CrossEntropyRow<T>.softLoss(xr, p.baseAddress! + r * n, n, wp, options.labelSmoothing, g, divisor,
                                                    logZ: logZ, sum: s)
                }
                if let rowLoss { rowLoss[r] = T(l) } else { total += l }
            }
            start = end
        }
        return total
    }
}

@usableFromInline
enum CrossEntropyRow<T: KernelScalar> {
    /// log of the row's normalizer, `m + log(sum exp(x - m))`; stores the
    /// exponentials in `e` when given. Returns (logZ, sum).
    @inlinable
    static func normalizer(_ x: UnsafePointer<T>, _ n: Int, _ e: UnsafeMutablePointer<T>?) -> (Double, Double) {
        let (lo, m) = rowMinMax(x, n)
        let s = rowExpSum(x, e, n, shift: m, scale: 1, lowest: lo)
        return (Double(m) + Double.libmLog(s), s)
    }

    /// One sample with a class-index target; writes the gradient row if `g`.
    @inlinable
    static func index(_ x: UnsafePointer<T>, _ t: Int, _ n: Int, _ w: UnsafePointer<T>?,
                      _ o: LossOptions, _ g: UnsafeMutablePointer<T>?, _ divisor: Double) -> Double {
        if t == o.ignoreIndex {
            g?.update(repeating: 0, count: n)
            return 0
        }
        let (logZ, s) = normalizer(x, n, g)
        return indexLoss(x, t, n, w, o, g, divisor, logZ: logZ, sum: s)
    }

    /// The loss (and gradient) of a counted sample once its normalizer is
    /// known: `logZ = log sum exp(x)`, `sum = sum exp(x - shift)`, and `g` (if
    /// any) holding `exp(x - shift)` (shared with the short-row kernel).
    @inlinable
    static func indexLoss(_ x: UnsafePointer<T>, _ t: Int, _ n: Int, _ w: UnsafePointer<T>?, _ o: LossOptions,
                          _ g: UnsafeMutablePointer<T>?, _ divisor: Double, logZ: Double, sum s: Double) -> Double {
        let eps = o.labelSmoothing, wt = w.map { Double($0[t]) } ?? 1
        var l = (1 - eps) * wt * (logZ - Double(x[t]))
        var wsum = Double(n)
        if eps > 0 {
            var smooth = 0.0
            if let w {
                wsum = 0
                for c in 0..<n { smooth += Double(w[c]) * (logZ - Double(x[c])); wsum += Double(w[c]) }
            } else {
                for c in 0..<n { smooth += logZ - Double(x[c]) }
            }
            l += eps / Double(n) * smooth
        }
        if let g {
            // g = (Q p - q) / divisor with p = e / s, q = (e/C) w + (1 - e) w_t [c == t].
            let q = (1 - eps) * wt + eps / Double(n) * wsum
            rowScale(g, g, n, T(q / divisor / s))
            let sm = T(eps / Double(n) / divisor)
            if eps > 0 {
                if let w { for c in 0..<n { g[c] -= sm * w[c] } } else { for c in 0..<n { g[c] -= sm } }
            }
            g[t] -= T((1 - eps) * wt / divisor)
        }
        return l
    }

    /// One sample with probability targets `p`.
    @inlinable
    static func soft(_ x: UnsafePointer<T>, _ p: UnsafePointer<T>, _ n: Int, _ w: UnsafePointer<T>?,
                     _ eps: Double, _ g: UnsafeMutablePointer<T>?, _ divisor: Double) -> Double {
        let (logZ, s) = normalizer(x, n, g)
        return softLoss(x, p, n, w, eps, g, divisor, logZ: logZ, sum: s)
    }

    /// `soft` once the normalizer is known (as `indexLoss`).
    @inlinable
    static func softLoss(_ x: UnsafePointer<T>, _ p: UnsafePointer<T>, _ n: Int, _ w: UnsafePointer<T>?,
                         _ eps: Double, _ g: UnsafeMutablePointer<T>?, _ divisor: Double, logZ: Double, sum s: Double) -> Double {
        var l = 0.0, qsum = 0.0
        for c in 0..<n {
            let q = (w.map { Double($0[c]) } ?? 1) * ((1 - eps) * Double(p[c]) + eps / Double(n))
            l += q * (logZ - Double(x[c]))
            qsum += q
        }
        if let g {
            let f = qsum / divisor / s
            for c in 0..<n {
                let q = (w.map { Double($0[c]) } ?? 1) * ((1 - eps) * Double(p[c]) + eps / Double(n))
                g[c] = T(Double(g[c]) * f - q / divisor)
            }
        }
        return l
    }
}
