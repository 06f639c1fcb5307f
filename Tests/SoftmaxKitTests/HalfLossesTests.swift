import Testing
import SoftmaxKit

// Half precision in Swift, continued: nll_loss, cross-entropy with
// probability targets, binary cross-entropy with logits, the backward
// kernels, ensemble averaging and sampling on Float16 and BFloat16. Each is
// the float32 function on the widened inputs with its half outputs rounded
// once: the tests compare bit patterns with that (the float64-reference
// accuracy is measured in the C and Python suites), plus edge cases and
// refusals.

private func widen<H: HalfFloat>(_ x: [H]) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in try! convert(xb, into: yb) } }
    return y
}

private func narrow<H: HalfFloat>(_ x: [Float], as _: H.Type) -> [H] {
    var y = [H](repeating: unsafeBitCast(UInt16(0), to: H.self), count: x.count)
    x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in try! convert(xb, into: yb) } }
    return y
}

private func bits<H: HalfFloat>(_ x: [H]) -> [UInt16] { x.map { unsafeBitCast($0, to: UInt16.self) } }

/// Worst distance in ulps of half values from float64 values rounded to the
/// half type (through float32: within an ulp of rounding once).
private func worstUlps<H: HalfFloat>(_ got: [H], _ want: [Double]) -> Int {
    let w = bits(narrow(want.map { Float($0) }, as: H.self)), g = bits(got)
    func ordered(_ x: UInt16) -> Int { x & 0x8000 != 0 ? -Int(x & 0x7fff) : Int(x) }
    return zip(g, w).map { abs(ordered($0) - ordered($1)) }.max() ?? 0
}

private func random(_ count: Int, seed: UInt64, scale: Float = 3) -> [Float] {
    var s = seed &* 0x9e3779b97f4a7c15 | 1
    return (0..<count).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Float(s >> 40) / 0x1p24 * 2 - 1) * scale
    }
}

private func halves<H: HalfFloat>(_ count: Int, seed: UInt64, scale: Float = 3, as t: H.Type) -> [H] {
    narrow(random(count, seed: seed, scale: scale), as: t)
}

/// Float32 bits equal, NaN meeting NaN.
private func same(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

private func sameHalf<H: HalfFloat>(_ a: [H], _ b: [H]) -> Bool {
    let fa = widen(a), fb = widen(b)
    return zip(fa, fb).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

private func backwardMatches<H: HalfFloat>(_ t: H.Type) throws {
    for (shape, axis) in [([37, 19], -1), ([4, 9, 6], 1), ([3000, 24], -1)] {
        let count = shape.reduce(1, *)
        let x: [H] = halves(count, seed: 3, as: t)
        let dy: [H] = halves(count, seed: 4, scale: 1, as: t)
        let y = try softmax(x, shape: shape, axis: axis), ly = try logSoftmax(x, shape: shape, axis: axis)
        let s = try sigmoid(x)
        // Softmax backward sums in double (see its doc): within 1 ulp of float64 rounded once.
        let got = try softmaxBackward(y: y, dy: dy, shape: shape, axis: axis)
        let e = try Extents(shape: shape, axis: axis)
        let y64 = widen(y).map(Double.init), d64 = widen(dy).map(Double.init)
        var want = [Double](repeating: 0, count: count)
        for o in 0..<e.outer {
            for i in 0..<e.inner {
                let at = (0..<e.n).map { o * e.n * e.inner + $0 * e.inner + i }
                let d = at.reduce(0.0) { $0 + y64[$1] * d64[$1] }
                for k in at { want[k] = y64[k] * (d64[k] - d) }
            }
        }
        #expect(worstUlps(got, want) <= 1)
        #expect(sameHalf(try logSoftmaxBackward(y: ly, dy: dy, shape: shape, axis: axis),
                         narrow(try logSoftmaxBackward(y: widen(ly), dy: widen(dy), shape: shape, axis: axis), as: t)))
        #expect(sameHalf(try sigmoidBackward(y: s, dy: dy), narrow(try sigmoidBackward(y: widen(s), dy: widen(dy)), as: t)))
    }
    // In place (dx is dy) gives the out-of-place bits.
    var dy: [H] = halves(60, seed: 9, as: t)
    let y = try softmax(halves(60, seed: 8, as: t) as [H], shape: [6, 10])
    let want = try softmaxBackward(y: y, dy: dy, shape: [6, 10])
    try y.withUnsafeBufferPointer { (yb) throws(SoftmaxKitError) in
        try dy.withUnsafeMutableBufferPointer { (db) throws(SoftmaxKitError) in
            try softmaxBackward(y: yb, dy: UnsafeBufferPointer(db), into: db, extents: try Extents(outer: 6, n: 10))
        }
    }
    #expect(bits(dy) == bits(want))
    #expect(throws: SoftmaxKitError.self) { try softmaxBackward(y: y, dy: Array(dy.prefix(59)), shape: [6, 10]) }
}

private func lossesMatch<H: HalfFloat>(_ t: H.Type) throws {
    let (outer, n, inner) = (40, 7, 3)
    let count = outer * n * inner, e = try Extents(outer: outer, n: n, inner: inner)
    let logits: [H] = halves(count, seed: 11, as: t)
    let probs = try softmax(halves(count, seed: 12, as: t) as [H], shape: [outer, n, inner], axis: 1)
    let weight = random(n, seed: 13).map { abs($0) + 0.5 }
    let targets = (0..<(outer * inner)).map { $0 % 5 == 0 ? -100 : ($0 * 3) % n }
    for reduction in LossReduction.allCases {
        let options = LossOptions(labelSmoothing: 0, reduction: reduction)
        let lossCount = options.lossCount(samples: outer * inner)
        // nll_loss
        var got = [Float](repeating: 0, count: lossCount), want = got
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try nllLoss(xb, targets: targets.withUnsafeBufferPointer { $0 }, weight: weight.withUnsafeBufferPointer { $0 },
                        loss: got.withUnsafeMutableBufferPointer { $0 }, extents: e, options: options)
        }
        let wide = widen(logits), wideP = widen(probs)
        try nllLoss(wide.withUnsafeBufferPointer { $0 }, targets: targets.withUnsafeBufferPointer { $0 },
                    weight: weight.withUnsafeBufferPointer { $0 }, loss: want.withUnsafeMutableBufferPointer { $0 },
                    extents: e, options: options)
        #expect(reduction == .none ? same(got, want) : abs(got[0] - want[0]) <= 1e-6 * abs(want[0]))
        // cross-entropy with probability targets, with its gradient
        var smooth = options
        smooth.labelSmoothing = 0.1
        var g = [H](repeating: unsafeBitCast(UInt16(0), to: H.self), count: count), gw = [Float](repeating: 0, count: count)
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try probs.withUnsafeBufferPointer { (pb) throws(SoftmaxKitError) in
                try crossEntropy(xb, probabilities: pb, weight: weight.withUnsafeBufferPointer { $0 },
                                 loss: got.withUnsafeMutableBufferPointer { $0 }, gradient: g.withUnsafeMutableBufferPointer { $0 },
                                 extents: e, options: smooth)
            }
        }
        try crossEntropy(wide.withUnsafeBufferPointer { $0 }, targets: .probabilities(wideP.withUnsafeBufferPointer { $0 }),
                         weight: weight.withUnsafeBufferPointer { $0 }, loss: want.withUnsafeMutableBufferPointer { $0 },
                         gradient: gw.withUnsafeMutableBufferPointer { $0 }, extents: e, options: smooth)
        #expect(reduction == .none ? same(got, want) : abs(got[0] - want[0]) <= 1e-6 * abs(want[0]))
        if reduction != .mean { #expect(sameHalf(g, narrow(gw, as: t))) }
        // binary cross-entropy with logits
        let bceCount = reduction == .none ? count : 1
        var bg = [Float](repeating: 0, count: bceCount), bw = bg
        let pw = random(inner, seed: 14).map { abs($0) + 0.5 }, ew = random(count, seed: 15).map { abs($0) }
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try probs.withUnsafeBufferPointer { (pb) throws(SoftmaxKitError) in
                try binaryCrossEntropyWithLogits(xb, targets: pb, weight: ew.withUnsafeBufferPointer { $0 },
                                                 posWeight: pw.withUnsafeBufferPointer { $0 }, classes: inner,
                                                 loss: bg.withUnsafeMutableBufferPointer { $0 }, count: count, reduction: reduction)
            }
        }
        try binaryCrossEntropyWithLogits(wide.withUnsafeBufferPointer { $0 }, targets: wideP.withUnsafeBufferPointer { $0 },
                                         weight: ew.withUnsafeBufferPointer { $0 }, posWeight: pw.withUnsafeBufferPointer { $0 },
                                         classes: inner, loss: bw.withUnsafeMutableBufferPointer { $0 }, count: count,
                                         reduction: reduction)
        #expect(reduction == .none ? same(bg, bw) : abs(bg[0] - bw[0]) <= 1e-6 * abs(bw[0]))
    }
    // Refusals: a target out of range, smoothing for nll, a short target.
    var loss = [Float](repeating: 0, count: 1)
    let bad = targets.map { $0 == -100 ? n : $0 }
    #expect(throws: SoftmaxKitError.self) {
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try nllLoss(xb, targets: bad.withUnsafeBufferPointer { $0 }, loss: loss.withUnsafeMutableBufferPointer { $0 }, extents: e)
        }
    }
    #expect(throws: SoftmaxKitError.self) {
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try nllLoss(xb, targets: targets.withUnsafeBufferPointer { $0 }, loss: loss.withUnsafeMutableBufferPointer { $0 },
                        extents: e, options: LossOptions(labelSmoothing: 0.1))
        }
    }
    #expect(throws: SoftmaxKitError.self) {
        try logits.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try crossEntropy(xb, probabilities: UnsafeBufferPointer(rebasing: xb.dropLast()),
                             loss: loss.withUnsafeMutableBufferPointer { $0 }, extents: e)
        }
    }
}

private func ensembleAndSamplingMatch<H: HalfFloat>(_ t: H.Type) throws {
    let shape = [700, 50]
    for mode in EnsembleMode.allCases {
        let members: [[H]] = (0..<3).map { k in halves(35000, seed: 20 + UInt64(k), as: t) }
        let inputs = mode == .logits ? members : try members.map { try softmax($0, shape: shape) }
        let got = try ensembleMean(inputs, shape: shape, mode: mode)
        let want = try ensembleMean(inputs.map(widen), shape: shape, mode: mode)
        #expect(sameHalf(got, narrow(want, as: t)))
    }
    let x: [H] = halves(40 * 30 * 7, seed: 30, as: t)
    for (shape, axis) in [([40 * 30, 7], -1), ([40, 30, 7], 1), ([1, 8400], -1)] {
        for (k, p, draws, repl) in [(0, 1.0, 1, true), (5, 0.9, 3, true), (0, 1.0, 4, false)] {
            let a = try sample(x, shape: shape, axis: axis, temperature: 0.8, topK: k, topP: p, numSamples: draws,
                               replacement: repl, seed: 77, rowOffset: 5)
            let b = try sample(widen(x), shape: shape, axis: axis, temperature: 0.8, topK: k, topP: p, numSamples: draws,
                               replacement: repl, seed: 77, rowOffset: 5)
            #expect(a.indices == b.indices)
            #expect(same(a.logProbs, b.logProbs))
        }
    }
    #expect(throws: SoftmaxKitError.self) { try sample(x, topP: 0, seed: 1) }
}

@Suite("float16 and bfloat16: losses, backward, ensembles, sampling")
struct HalfLossesTests {
    @Test("backward kernels are the float32 kernels on widened inputs, rounded once")
    func backward() throws {
        try backwardMatches(BFloat16.self)
        #if !(canImport(Darwin) && arch(x86_64))
        try backwardMatches(Float16.self)
        #endif
    }

    @Test("nll_loss, cross-entropy with probability targets and BCE with logits match float32 on widened inputs")
    func losses() throws {
        try lossesMatch(BFloat16.self)
        #if !(canImport(Darwin) && arch(x86_64))
        try lossesMatch(Float16.self)
        #endif
    }

    @Test("ensemble_mean matches float32 rounded once; sampling draws what float32 draws on the widened logits")
    func ensembleAndSampling() throws {
        try ensembleAndSamplingMatch(BFloat16.self)
        #if !(canImport(Darwin) && arch(x86_64))
        try ensembleAndSamplingMatch(Float16.self)
        #endif
    }
}
