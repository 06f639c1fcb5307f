import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

/// PyTorch's F.cross_entropy for class-index targets, [B, C], in Float80.
func refCrossEntropy(_ x: [Double], _ t: [Int], classes c: Int, weight w: [Double]?, ignore: Int = -100,
                     smoothing e: Double, reduction: LossReduction) -> [Float80] {
    var per = [Float80](), total: Float80 = 0, denom: Float80 = 0
    for r in 0..<t.count {
        guard t[r] != ignore else { per.append(0); continue }
        let lsm = refLogSoftmax(Array(x[(r * c)..<(r * c + c)]))
        let wt = Float80(w?[t[r]] ?? 1)
        var smooth: Float80 = 0
        for k in 0..<c { smooth -= Float80(w?[k] ?? 1) * lsm[k] }
        let l = (1 - Float80(e)) * -wt * lsm[t[r]] + Float80(e) / Float80(c) * smooth
        per.append(l); total += l; denom += wt
    }
    switch reduction {
    case .none: return per
    case .sum: return [total]
    case .mean: return [total / denom]
    }
}

@Suite("cross-entropy, NLL and BCE with logits")
struct LossesTests {
    @Test("worked example: logits [0, 2, 4] give softmax [0.0159, 0.1173, 0.8668]; loss -log(0.8668), gradient p - onehot")
    func seedExample() throws {
        let x: [Double] = [0, 2, 4], t = [2]
        var loss = [0.0], g = [Double](repeating: 0, count: 3)
        try x.withUnsafeBufferPointer { xb in try t.withUnsafeBufferPointer { tb in
            try loss.withUnsafeMutableBufferPointer { lb in try g.withUnsafeMutableBufferPointer { gb in
                try crossEntropy(xb, targets: .indices(tb), loss: lb, gradient: gb, extents: Extents(outer: 1, n: 3))
            } }
        } }
        #expect(abs(loss[0] - log1p(exp(-2.0) + exp(-4.0))) < 1e-15)
        #expect(abs(g[0] - 0.0158762) < 1e-7 && abs(g[1] - 0.1173104) < 1e-7 && abs(g[2] + 0.1331866) < 1e-7)
    }

    @Test("index targets match PyTorch's formula", arguments: [LossReduction.none, .mean, .sum])
    func indexTargets(reduction: LossReduction) throws {
        let c = 7, b = 5
        let x: [Double] = randomValues(b * c, seed: 31, scale: 6)
        let t = [3, -100, 6, 0, 2]
        let w: [Double] = (0..<c).map { 0.5 + Double($0 % 3) * 0.5 }
        for smoothing in [0.0, 0.25] { for weighted in [false, true] {
            let opts = LossOptions(labelSmoothing: smoothing, reduction: reduction)
            var loss = [Double](repeating: 0, count: opts.lossCount(samples: b))
            var g = [Double](repeating: 0, count: b * c)
            try x.withUnsafeBufferPointer { xb in try t.withUnsafeBufferPointer { tb in try w.withUnsafeBufferPointer { wb in
                try loss.withUnsafeMutableBufferPointer { lb in try g.withUnsafeMutableBufferPointer { gb in
                    try crossEntropy(xb, targets: .indices(tb), weight: weighted ? wb : nil, loss: lb, gradient: gb,
                                     extents: Extents(outer: b, n: c), options: opts)
                } }
            } } }
            let want = refCrossEntropy(x, t, classes: c, weight: weighted ? w : nil, smoothing: smoothing, reduction: reduction)
            #expect(maxRelError(loss, want, floor: 1) < 1e-14)
            // gradient of the (summed) loss by central differences of the reference
            for j in stride(from: 0, to: b * c, by: 3) {
                var xp = x, xm = x
                xp[j] += 1e-6; xm[j] -= 1e-6
                let up = refCrossEntropy(xp, t, classes: c, weight: weighted ? w : nil, smoothing: smoothing, reduction: reduction).reduce(0, +)
                let dn = refCrossEntropy(xm, t, classes: c, weight: weighted ? w : nil, smoothing: smoothing, reduction: reduction).reduce(0, +)
                #expect(abs(Float80(g[j]) - (up - dn) / 2e-6) < 1e-7)
            }
        } }
    }

    @Test("bad targets, weight, smoothing: clear errors, nothing written")
    func badInputs() throws {
        let x = [Double](repeating: 0, count: 6), w = [1.0, 1.0]
        func run(_ t: [Int], weight: [Double]? = nil, smoothing: Double = 0) throws {
            var loss = [0.0]
            try x.withUnsafeBufferPointer { xb in try t.withUnsafeBufferPointer { tb in
                try loss.withUnsafeMutableBufferPointer { lb in
                    if let weight {
                        try weight.withUnsafeBufferPointer { wb in
                            try crossEntropy(xb, targets: .indices(tb), weight: wb, loss: lb, extents: Extents(outer: 2, n: 3))
                        }
                    } else {
                        try crossEntropy(xb, targets: .indices(tb), loss: lb, extents: Extents(outer: 2, n: 3),
                                         options: LossOptions(labelSmoothing: smoothing))
                    }
                }
            } }
        }
        #expect(throwsKind(.indexOutOfRange, mentioning: "target[1] = 3") { try run([0, 3]) })
        #expect(throwsKind(.indexOutOfRange, mentioning: "target[0] = -1") { try run([-1, 0]) })
        #expect(throwsKind(.shapeMismatch, mentioning: "weight") { try run([0, 1], weight: w) })
        #expect(throwsKind(.invalidArgument, mentioning: "label_smoothing") { try run([0, 1], smoothing: -0.1) })
        #expect(throwsKind(.invalidArgument, mentioning: "label_smoothing") { try run([0, 1], smoothing: .nan) })
        #expect(untouchedAfterFailure(count: 6) { (g: UnsafeMutableBufferPointer<Double>) in
            var loss = [7.0]
            try x.withUnsafeBufferPointer { xb in try [0, 5].withUnsafeBufferPointer { tb in
                try loss.withUnsafeMutableBufferPointer { lb in
                    try crossEntropy(xb, targets: .indices(tb), loss: lb, gradient: g, extents: Extents(outer: 2, n: 3))
                }
            } }
        })
    }

    @Test("BCE with logits is stable at +-800 and matches the formula")
    func bce() throws {
        let x: [Double] = [-800, -1, 2, 800], y: [Double] = [1, 0, 1, 0], pw: [Double] = [3, 0.5]
        var loss = [Double](repeating: 0, count: 4)
        try x.withUnsafeBufferPointer { xb in try y.withUnsafeBufferPointer { yb in try pw.withUnsafeBufferPointer { pb in
            try loss.withUnsafeMutableBufferPointer { lb in
                try binaryCrossEntropyWithLogits(xb, targets: yb, posWeight: pb, classes: 2, loss: lb, count: 4, reduction: .none)
            }
        } } }
        for j in 0..<4 {
            let lw = 1 + (pw[j % 2] - 1) * y[j]
            let want = (1 - y[j]) * x[j] + lw * (log1p(exp(-abs(x[j]))) + max(-x[j], 0))
            #expect(abs(loss[j] - want) <= 1e-15 * max(1, abs(want)))
        }
    }

    /// A target near 1 whose pos_weight puts 1 + (p - 1) y within a hair of
    /// 1 - y: term by term the two terms of about 0.98 cancel to 8.6e-8 and
    /// the float result is wrong in its sixth digit. Exact value: mpmath.
    @Test("BCE with logits does not cancel when the positive weight nearly cancels the target")
    func bceWithoutCancellation() throws {
        let x: [Float] = [-700], y: [Float] = [0.99859309196472168], pw: [Float] = [1.2345679e-10]
        var loss: [Float] = [0]
        try x.withUnsafeBufferPointer { xb in try y.withUnsafeBufferPointer { yb in try pw.withUnsafeBufferPointer { pb in
            try loss.withUnsafeMutableBufferPointer { lb in
                try binaryCrossEntropyWithLogits(xb, targets: yb, posWeight: pb, classes: 1, loss: lb, count: 1, reduction: .none)
            }
        } } }
        #expect(loss[0] == Float(8.629816588095405e-08))
    }
}
