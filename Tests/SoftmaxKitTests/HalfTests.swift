import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

// Half precision in Swift: Float16 and BFloat16 conversions over every bit
// pattern, and the half kernels against a float64 reference rounded once.

/// A Double rounded to nearest even into bfloat16 (from the format's
/// definition: 8 significant bits, float32's exponent range).
private func refBFloat16(_ v: Double) -> BFloat16 {
    let sign: UInt16 = v.sign == .minus ? 0x8000 : 0
    if v.isNaN { return BFloat16(bitPattern: sign | 0x7fc0) }
    let a = abs(v)
    if a >= (2 - 0x1p-8) * 0x1p127 { return BFloat16(bitPattern: sign | 0x7f80) }
    if a < 0x1p-126 { return BFloat16(bitPattern: sign | UInt16((a * 0x1p133).rounded(.toNearestOrEven))) }
    let e = Int(a.exponent)
    let q = Int((a * pow(2, Double(7 - e))).rounded(.toNearestOrEven))
    return BFloat16(bitPattern: sign | UInt16(((e + 127) << 7) + q - 128))
}

/// Distance in ulps of two half bit patterns (sign-magnitude order); NaN meets NaN only.
private func ulps(_ a: UInt16, _ b: UInt16, nan: (UInt16) -> Bool) -> Int {
    if nan(a) || nan(b) { return nan(a) && nan(b) ? 0 : Int.max }
    func ordered(_ x: UInt16) -> Int { x & 0x8000 != 0 ? -Int(x & 0x7fff) : Int(x) }
    return abs(ordered(a) - ordered(b))
}

private func f16NaN(_ x: UInt16) -> Bool { x & 0x7c00 == 0x7c00 && x & 0x3ff != 0 }
private func bf16NaN(_ x: UInt16) -> Bool { x & 0x7f80 == 0x7f80 && x & 0x7f != 0 }

private func randomLogits(_ count: Int, seed: UInt64, scale: Double = 10) -> [Double] {
    var s = seed &* 0x9e3779b97f4a7c15 | 1
    return (0..<count).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Double(s >> 11) / 0x1p53 * 2 - 1) * scale
    }
}

private func refSoftmaxRows(_ x: [Double], n: Int, log: Bool) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for r in 0..<(x.count / n) {
        let row = x[(r * n)..<((r + 1) * n)]
        let m = row.max()!
        let s = row.reduce(0) { $0 + exp($1 - m) }
        for j in 0..<n { y[r * n + j] = log ? x[r * n + j] - m - naturalLog(s) : exp(x[r * n + j] - m) / s }
    }
    return y
}

private func naturalLog(_ v: Double) -> Double { log(v) }

@Suite("float16 and bfloat16")
struct HalfTests {
    @Test("every bfloat16 pattern widens exactly and every value and midpoint rounds to nearest even")
    func bfloat16Conversions() {
        var bad = 0
        for i in 0...0xffff {
            let b = BFloat16(bitPattern: UInt16(i))
            let f = Float(b)
            if f.bitPattern != UInt32(i) << 16 { bad += 1 }
            if f.isNaN || f.isInfinite { continue }
            if BFloat16(f).bitPattern != UInt16(i) { bad += 1 }
            // The midpoint to the next pattern away from 0 and a float32 step
            // either side of it (none before an infinity).
            let next = Float(BFloat16(bitPattern: UInt16(i + 1)))
            if next.isNaN || next.isInfinite { continue }
            let mid = Float((Double(f) + Double(next)) / 2)
            for v in [mid, mid.nextUp, mid.nextDown] where BFloat16(v) != refBFloat16(Double(v)) { bad += 1 }
        }
        #expect(bad == 0)
        #expect(BFloat16(Float.nan).floatValue.isNaN)
        #expect(BFloat16(Float.greatestFiniteMagnitude).floatValue == .infinity)
        #expect(BFloat16(Float(1e-40)).bitPattern == refBFloat16(Double(Float(1e-40))).bitPattern)
    }

    @Test("whole-array conversions agree with Swift's Float16 on every pattern and midpoint")
    func float16Conversions() throws {
        let bits = (0...0xffff).map { Float16(bitPattern: UInt16($0)) }
        var wide = [Float](repeating: 0, count: bits.count)
        try bits.withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in
            try wide.withUnsafeMutableBufferPointer { (w) throws(SoftmaxKitError) in try convert(b, into: w) }
        }
        var bad = 0
        for i in 0...0xffff {
            let want = Float(bits[i])
            if want.isNaN ? !wide[i].isNaN : want.bitPattern != wide[i].bitPattern { bad += 1 }
        }
        var values: [Float] = []
        for i in 0..<0x7bff {
            let a = Float(Float16(bitPattern: UInt16(i))), b = Float(Float16(bitPattern: UInt16(i + 1)))
            let mid = (a + b) / 2
            values += [a, -a, mid, -mid, mid.nextUp, mid.nextDown]
        }
        values += [65504, 65519.996, 65520, -65520, .infinity, -.infinity, .nan, 1e-8, 3e-8, 2.9802322e-08]
        var narrow = [Float16](repeating: 0, count: values.count)
        try values.withUnsafeBufferPointer { (v) throws(SoftmaxKitError) in
            try narrow.withUnsafeMutableBufferPointer { (n) throws(SoftmaxKitError) in try convert(v, into: n) }
        }
        for (v, h) in zip(values, narrow) {
            let want = Float16(v)  // Swift's conversion: correctly rounded
            if want.isNaN ? !h.isNaN : want.bitPattern != h.bitPattern { bad += 1 }
        }
        #expect(bad == 0)
    }

    @Test("softmax, log_softmax and logsumexp within 1 ulp of float64 rounded once", arguments: [1, 7, 64, 1000, 33000])
    func normalizers(n: Int) throws {
        let rows = max(1, 4000 / n)
        let x64 = randomLogits(rows * n, seed: UInt64(n))
        let x16 = x64.map { Float16($0) }
        let xb = x64.map { BFloat16(Float($0)) }
        let e = try Extents(outer: rows, n: n)
        for log in [false, true] {
            let ref16 = refSoftmaxRows(x16.map { Double($0) }, n: n, log: log)
            let y16 = log ? try logSoftmax(x16, shape: [rows, n]) : try softmax(x16, shape: [rows, n])
            let worst16 = zip(y16, ref16).map { ulps($0.bitPattern, Float16($1).bitPattern, nan: f16NaN) }.max()!
            #expect(worst16 <= 1)
            let refb = refSoftmaxRows(xb.map { Double(Float($0)) }, n: n, log: log)
            let yb = log ? try logSoftmax(xb, shape: [rows, n]) : try softmax(xb, shape: [rows, n])
            let worstb = zip(yb, refb).map { ulps($0.bitPattern, refBFloat16($1).bitPattern, nan: bf16NaN) }.max()!
            #expect(worstb <= 1)
        }
        var lse = [Float16](repeating: 0, count: rows)
        try x16.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
            try lse.withUnsafeMutableBufferPointer { (yp) throws(SoftmaxKitError) in try logSumExp(xp, into: yp, extents: e) }
        }
        for r in 0..<rows {
            let row = x16[(r * n)..<((r + 1) * n)].map { Double($0) }
            let m = row.max()!
            let want = Float16(m + log(row.reduce(0) { $0 + exp($1 - m) }))
            #expect(ulps(lse[r].bitPattern, want.bitPattern, nan: f16NaN) <= 1)
        }
    }

    @Test("edge rows: NaN, -inf, all -inf, ±65504, a probability that underflows in float16")
    func edges() throws {
        let rows: [[Float16]] = [[1, .nan, 2, 3], [-.infinity, 1, -.infinity, 2], [-.infinity, -.infinity, -.infinity, -.infinity],
                                 [65504, -65504, 65504, 0], [0, -20, -12, -16]]
        let y = try softmax(rows.flatMap { $0 }, shape: [5, 4])
        #expect(y[0..<4].allSatisfy { $0.isNaN })
        #expect(y[4] == 0 && y[6] == 0)
        #expect(y[8..<12].allSatisfy { $0.isNaN })
        #expect(y[13] == 0)
        #expect(y[17] == 0)                         // e^-20 < 2^-24
        #expect(y[18].isSubnormal && y[18] == Float16(exp(-12.0) / (1 + exp(-20.0) + exp(-12.0) + exp(-16.0))))
    }

    @Test("top-k and cross-entropy on half inputs; bad arguments throw")
    func selectionAndLoss() throws {
        let n = 500, rows = 4
        let x = randomLogits(rows * n, seed: 9).map { BFloat16(Float($0)) }
        var probs = [BFloat16](repeating: BFloat16(bitPattern: 0), count: rows * 3)
        var idx = [Int](repeating: 0, count: rows * 3)
        var loss = [Float](repeating: 0, count: rows)
        let e = try Extents(outer: rows, n: n)
        let p = try softmax(x, shape: [rows, n])
        let targets = [0, 7, 499, -100]
        try x.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
            try probs.withUnsafeMutableBufferPointer { (pp) throws(SoftmaxKitError) in
                try idx.withUnsafeMutableBufferPointer { (ip) throws(SoftmaxKitError) in
                    try softmaxTopK(xp, k: 3, probs: pp, indices: ip, extents: e)
                    #expect(throws: SoftmaxKitError.self) { try softmaxTopK(xp, k: n + 1, probs: pp, indices: ip, extents: e) }
                    #expect(throws: SoftmaxKitError.self) { try softmaxTopK(xp, k: 3, probs: pp, indices: ip, extents: e, temperature: 0) }
                }
            }
            try targets.withUnsafeBufferPointer { (tp) throws(SoftmaxKitError) in
                try loss.withUnsafeMutableBufferPointer { (lp) throws(SoftmaxKitError) in
                    try crossEntropy(xp, targets: tp, loss: lp, extents: e, options: LossOptions(reduction: .none))
                }
            }
            let bad = [0, 7, 500, 1]
            _ = try bad.withUnsafeBufferPointer { (tp) throws(SoftmaxKitError) in
                try loss.withUnsafeMutableBufferPointer { (lp) throws(SoftmaxKitError) in
                    #expect(throws: SoftmaxKitError.self) {
                        try crossEntropy(xp, targets: tp, loss: lp, extents: e, options: LossOptions(reduction: .none))
                    }
                }
            }
        }
        for r in 0..<rows {
            for j in 0..<3 {
                #expect(ulps(probs[r * 3 + j].bitPattern, p[r * n + idx[r * 3 + j]].bitPattern, nan: bf16NaN) <= 1)
            }
            let t = targets[r]
            if t < 0 { #expect(loss[r] == 0); continue }
            let row = x[(r * n)..<((r + 1) * n)].map { Double(Float($0)) }
            let m = row.max()!
            let want = m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[t]
            #expect(abs(Double(loss[r]) - want) <= 1e-6 * abs(want))
        }
        #expect(throws: SoftmaxKitError.self) { _ = try softmax([Float16(1), 2], temperature: -1) }
    }

    /// Softmax + top-k on long half rows (read as half, candidates above a
    /// lane floor): the float32 kernel's indices on the widened rows and its
    /// probabilities within 1 ulp, on random rows, a NaN row, an all -inf
    /// row, -inf entries, a row of ties (more candidates than the buffer
    /// holds) and a temperature.
    @Test("long half rows: softmax + top-k agrees with the float32 kernel", arguments: [64, 100, 1000, 1500, 32000])
    func longRowsTopK(n: Int) throws {
        let rows = 7
        var x64 = randomLogits(rows * n, seed: UInt64(n) &+ 5, scale: 12)
        x64[n + 3] = .nan
        for j in 0..<n { x64[2 * n + j] = -.infinity }
        for j in stride(from: 0, to: n, by: 2) { x64[3 * n + j] = -.infinity }
        for j in 0..<n { x64[4 * n + j] = 1.5 }
        for j in 0..<n where j % 7 == 0 { x64[5 * n + j] = 9 }
        func check<H: HalfFloat>(_ x: [H], _ widen: (H) -> Float, _ bits: (H) -> UInt16, _ narrow: (Float) -> H,
                                 nan: (UInt16) -> Bool) throws {
            for (k, temperature) in [(1, Float(1)), (8, 1), (8, 0.6), (32, 1)] {
                var probs = Array(x.prefix(rows * k)), idx = [Int](repeating: -1, count: rows * k)
                try x.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
                    try probs.withUnsafeMutableBufferPointer { (pp) throws(SoftmaxKitError) in
                        try idx.withUnsafeMutableBufferPointer { (ip) throws(SoftmaxKitError) in
                            try softmaxTopK(xp, k: k, probs: pp, indices: ip, extents: Extents(outer: rows, n: n), temperature: temperature)
                        }
                    }
                }
                let got = (probs: probs, indices: idx)
                let want = try softmaxTopK(x.map(widen), k: k, shape: [rows, n], temperature: temperature)
                #expect(got.indices == want.indices, "n \(n) k \(k)")
                let worst = zip(got.probs, want.probs).map { ulps(bits($0), bits(narrow($1)), nan: nan) }.max()!
                #expect(worst <= 1, "n \(n) k \(k) T \(temperature)")
            }
        }
        try check(x64.map { Float16($0) }, { Float($0) }, { $0.bitPattern }, { Float16($0) }, nan: f16NaN)
        try check(x64.map { BFloat16(Float($0)) }, { Float($0) }, { $0.bitPattern }, { BFloat16($0) }, nan: bf16NaN)
    }

    /// Rows long enough for the half row kernels (which read half bits into
    /// float32 lanes), with every tail length of a vector, the edge rows and
    /// a temperature: softmax gives exactly the float32 kernel's result on
    /// the widened rows, rounded once; log-softmax is within 1 ulp of
    /// float64; per-sample cross-entropy equals the float32 loss bit for bit;
    /// in place gives the same bits.
    @Test("long half rows: the same bits as the float32 kernels on the widened rows", arguments: [64, 79, 100, 1000, 1031, 3000])
    func longRows(n: Int) throws {
        let rows = 6
        var x64 = randomLogits(rows * n, seed: UInt64(n) &+ 77, scale: 12)
        // Row 1: NaN; row 2: -inf entries; row 3: all -inf; row 4: ±65504 and
        // a probability that underflows in float16.
        x64[n + n / 2] = .nan
        for j in stride(from: 0, to: n, by: 3) { x64[2 * n + j] = -.infinity }
        for j in 0..<n { x64[3 * n + j] = -.infinity }
        x64[4 * n] = 65504; x64[4 * n + 1] = -65504; x64[4 * n + n - 1] = 65504
        let x16 = x64.map { Float16($0) }
        let xb = x64.map { BFloat16(Float($0)) }
        for temperature: Float in [1, 0.7] {
            let w16 = try softmax(x16.map { Float($0) }, shape: [rows, n], temperature: temperature).map { Float16($0) }
            let y16 = try softmax(x16, shape: [rows, n], temperature: temperature)
            #expect(zip(y16, w16).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
            let wb = try softmax(xb.map { Float($0) }, shape: [rows, n], temperature: temperature).map { BFloat16($0) }
            let yb = try softmax(xb, shape: [rows, n], temperature: temperature)
            #expect(zip(yb, wb).allSatisfy { $0.bitPattern == $1.bitPattern || (Float($0).isNaN && Float($1).isNaN) })
            // In place: the same bits.
            var z16 = x16
            try z16.withUnsafeMutableBufferPointer { (zp) throws(SoftmaxKitError) in
                try softmax(UnsafeBufferPointer(zp), into: zp, extents: Extents(outer: rows, n: n), temperature: temperature)
            }
            #expect(zip(z16, y16).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
            for log in [false, true] where temperature == 1 {
                let ref = refSoftmaxRows(x16.map { Double($0) }, n: n, log: log)
                let got = log ? try logSoftmax(x16, shape: [rows, n]) : y16
                for r in [0, 4, 5] {
                    let worst = (r * n..<(r + 1) * n).map { ulps(got[$0].bitPattern, Float16(ref[$0]).bitPattern, nan: f16NaN) }.max()!
                    #expect(worst <= 1, "row \(r) log \(log)")
                }
                #expect(got[n..<4 * n].enumerated().allSatisfy { i, v in
                    i / n == 1 ? ((i % n) % 3 == 0 ? v == (log ? -.infinity : 0) : !v.isNaN) : v.isNaN })
            }
            var zb = xb
            try zb.withUnsafeMutableBufferPointer { (zp) throws(SoftmaxKitError) in
                try logSoftmax(UnsafeBufferPointer(zp), into: zp, extents: Extents(outer: rows, n: n), temperature: temperature)
            }
            let lb = try logSoftmax(xb, shape: [rows, n], temperature: temperature)
            #expect(zip(zb, lb).allSatisfy { $0.bitPattern == $1.bitPattern || (Float($0).isNaN && Float($1).isNaN) })
        }
        // Per-sample cross-entropy: the float32 kernel's losses on the widened logits.
        let targets = [3, n - 1, 0, 1, -100, n / 2]
        let weight = (0..<n).map { Float(1 + $0 % 5) / 3 }
        for w in [nil, weight] {
            var got = [Float](repeating: 0, count: rows), want = got
            let wide = xb.map { Float($0) }
            try xb.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
                try wide.withUnsafeBufferPointer { (fp) throws(SoftmaxKitError) in
                    try targets.withUnsafeBufferPointer { (tp) throws(SoftmaxKitError) in
                        try got.withUnsafeMutableBufferPointer { (lp) throws(SoftmaxKitError) in
                            try want.withUnsafeMutableBufferPointer { (wp) throws(SoftmaxKitError) in
                                let e = try Extents(outer: rows, n: n), o = LossOptions(reduction: .none)
                                if let w {
                                    try w.withUnsafeBufferPointer { (wb) throws(SoftmaxKitError) in
                                        try crossEntropy(xp, targets: tp, weight: wb, loss: lp, extents: e, options: o)
                                        try crossEntropy(fp, targets: .indices(tp), weight: wb, loss: wp, extents: e, options: o)
                                    }
                                } else {
                                    try crossEntropy(xp, targets: tp, loss: lp, extents: e, options: o)
                                    try crossEntropy(fp, targets: .indices(tp), loss: wp, extents: e, options: o)
                                }
                            }
                        }
                    }
                }
            }
            #expect(zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(got) \(want)")
        }
    }
}

private func refSigmoid(_ v: Double) -> Double { v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)) }
private func refLogSigmoid(_ v: Double) -> Double { min(v, 0) - log1p(exp(-abs(v))) }

/// Masked softmax (or log-softmax) of rows in double: `nil` positions of
/// the result are NaN.
private func refMaskedRows(_ x: [Double], _ mask: [Bool], n: Int, log: Bool) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for r in 0..<(x.count / n) {
        let sel = (0..<n).filter { mask[r * n + $0] }
        let vals = sel.map { x[r * n + $0] }
        let m = vals.filter { !$0.isNaN }.max() ?? -.infinity
        let bad = vals.contains { $0.isNaN } || m == -.infinity
        let s = vals.reduce(0) { $0 + exp($1 - m) }
        for j in 0..<n {
            let v = x[r * n + j]
            if !mask[r * n + j] { y[r * n + j] = log ? -.infinity : 0; continue }
            y[r * n + j] = bad ? .nan : log ? (v - m) - naturalLog(s) : exp(v - m) / s
        }
    }
    return y
}

@Suite("float16 and bfloat16: sigmoid, masked, argmax, top-k")
struct HalfMoreTests {
    @Test("sigmoid and log-sigmoid of every float16 and bfloat16 pattern within 1 ulp of float64 rounded once")
    func sigmoids() throws {
        let x16 = (0...0xffff).map { Float16(bitPattern: UInt16($0)) }
        let xb = (0...0xffff).map { BFloat16(bitPattern: UInt16($0)) }
        var worst = [0, 0, 0, 0]
        for (k, log) in [false, true].enumerated() {
            let y16 = log ? try logSigmoid(x16) : try sigmoid(x16)
            let yb = log ? try logSigmoid(xb) : try sigmoid(xb)
            for i in 0...0xffff {
                let v16 = Double(x16[i]), vb = Double(Float(xb[i]))
                let w16 = Float16(log ? refLogSigmoid(v16) : refSigmoid(v16))
                let wb = refBFloat16(log ? refLogSigmoid(vb) : refSigmoid(vb))
                worst[k] = max(worst[k], ulps(y16[i].bitPattern, w16.bitPattern, nan: f16NaN))
                worst[2 + k] = max(worst[2 + k], ulps(yb[i].bitPattern, wb.bitPattern, nan: bf16NaN))
            }
        }
        #expect(worst.allSatisfy { $0 <= 1 }, "worst ulps (f16 sigmoid, log_sigmoid, bf16 sigmoid, log_sigmoid): \(worst)")
        #expect(try sigmoid([Float16(-65504), 65504]) == [0, 1])
        #expect(try logSigmoid([Float16(-65504)]) == [-65504])
        x16.withUnsafeBufferPointer { xp in
            var short = [Float16](repeating: 0, count: 3)
            _ = short.withUnsafeMutableBufferPointer { yp in
                #expect(throws: SoftmaxKitError.self) { try sigmoid(xp, into: yp, count: 4) }
            }
        }
    }

    @Test("masked softmax and log-softmax within 1 ulp; edge rows; a bad mask throws", arguments: [4, 33, 1000])
    func masked(n: Int) throws {
        let rows = max(3, 3000 / n)
        var s: UInt64 = 77
        var mask = (0..<(rows * n)).map { _ -> Bool in s = s &* 6364136223846793005 &+ 1442695040888963407; return (s >> 33) % 10 < 7 }
        for j in 0..<n { mask[j] = false }                       // a fully masked row
        var x = randomLogits(rows * n, seed: UInt64(n) + 3, scale: 12)
        x[n] = .nan; mask[n] = false                             // NaN unselected: ignored
        x[2 * n + 1] = -.infinity
        let x16 = x.map { Float16($0) }, xb = x.map { BFloat16(Float($0)) }
        for log in [false, true] {
            let ref16 = refMaskedRows(x16.map { Double($0) }, mask, n: n, log: log)
            let refb = refMaskedRows(xb.map { Double(Float($0)) }, mask, n: n, log: log)
            let y16 = log ? try maskedLogSoftmax(x16, mask: mask, shape: [rows, n]) : try maskedSoftmax(x16, mask: mask, shape: [rows, n])
            let yb = log ? try maskedLogSoftmax(xb, mask: mask, shape: [rows, n]) : try maskedSoftmax(xb, mask: mask, shape: [rows, n])
            let w16 = zip(y16, ref16).map { ulps($0.bitPattern, Float16($1).bitPattern, nan: f16NaN) }.max()!
            let wb = zip(yb, refb).map { ulps($0.bitPattern, refBFloat16($1).bitPattern, nan: bf16NaN) }.max()!
            #expect(w16 <= 1 && wb <= 1, "log \(log): worst \(w16) (f16), \(wb) (bf16)")
            #expect(y16[0..<n].allSatisfy { log ? $0 == -.infinity : $0 == 0 })
            #expect(!y16[n..<(2 * n)].contains { $0.isNaN })
        }
        // A selected NaN: the selected positions NaN, the others 0.
        let y = try maskedSoftmax([Float16(1), .nan, 2, 3], mask: [true, true, false, true])
        #expect(y[0].isNaN && y[1].isNaN && y[2] == 0 && y[3].isNaN)
        #expect(throws: SoftmaxKitError.self) { _ = try maskedSoftmax(x16, mask: [true, false], shape: [rows, n]) }
    }

    @Test("argmax and top-k rank half values exactly (NaN first, ties to the lower index)", arguments: [(5, 1), (1000, 4), (20000, 9)])
    func selection(n: Int, k: Int) throws {
        let rows = 3
        let x = randomLogits(rows * n, seed: UInt64(n)).enumerated().map { i, v -> Double in
            i % 97 == 5 ? .nan : i % 89 == 3 ? -.infinity : i % 83 == 1 ? -0.0 : (v * 1.5).rounded()
        }
        let x16 = x.map { Float16($0) }, xb = x.map { BFloat16(Float($0)) }
        func rank(_ a: Double, _ i: Int, _ b: Double, _ j: Int) -> Bool {
            if a.isNaN != b.isNaN { return a.isNaN }
            if !a.isNaN, a != b { return a > b }
            return i < j
        }
        let a16 = try argmax(x16, shape: [rows, n]), ab = try argmax(xb, shape: [rows, n])
        let (v16, i16) = try topK(x16, k: k, shape: [rows, n])
        let (vb, ib) = try topK(xb, k: k, shape: [rows, n])
        for r in 0..<rows {
            let order = (0..<n).sorted { rank(x[r * n + $0], $0, x[r * n + $1], $1) }
            #expect(a16[r] == order[0] && ab[r] == order[0])
            #expect(Array(i16[(r * k)..<((r + 1) * k)]) == Array(order[0..<k]))
            #expect(Array(ib[(r * k)..<((r + 1) * k)]) == Array(order[0..<k]))
            for j in 0..<k {
                #expect(v16[r * k + j].bitPattern == x16[r * n + order[j]].bitPattern)
                #expect(vb[r * k + j].bitPattern == xb[r * n + order[j]].bitPattern)
            }
        }
        #expect(throws: SoftmaxKitError.self) { _ = try topK(x16, k: n + 1, shape: [rows, n]) }
        #expect(throws: SoftmaxKitError.self) { _ = try argmax([Float16](), shape: [3, 0]) }
    }
}
