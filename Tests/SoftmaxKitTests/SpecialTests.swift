import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

/// `log(sum_j b_j exp(x_j))` of one fibre in Float80 with its sign.
private func refWeighted(_ x: [Double], _ b: [Double]) -> (Double, Double) {
    var m = -Double.infinity
    for (v, w) in zip(x, b) where w != 0 { m = max(m, v) }
    var s: Float80 = 0
    for (v, w) in zip(x, b) where w != 0 { s += Float80(w) * Float80(exp(v - m)) }
    let sign: Double = s > 0 ? 1 : s < 0 ? -1 : 0
    return (s == 0 ? -.infinity : m + Double(log(abs(s))), sign)
}

@Suite("weighted logsumexp and logit")
struct SpecialTests {
    @Test("weighted logsumexp over rows and columns matches a Float80 reference",
          arguments: [([4, 9], 1), ([4, 9], 0), ([3, 40, 17], 1), ([2, 1100], 1), ([5, 3, 2], 2)])
    func weighted(shape: [Int], axis: Int) throws {
        let count = shape.reduce(1, *)
        let x: [Double] = (0..<count).map { 5 * sin(0.37 * Double($0)) }
        let b: [Double] = (0..<count).map { $0 % 5 == 0 ? 0 : cos(0.21 * Double($0)) }
        let (y, s) = try logSumExp(x, weights: b, shape: shape, axis: axis)
        let (yf, sf) = try logSumExp(x.map(Float.init), weights: b.map(Float.init), shape: shape, axis: axis)
        let e = try Extents(shape: shape, axis: axis)
        for r in 0..<e.reducedCount {
            let o = r / e.inner, i = r % e.inner
            let idx = (0..<e.n).map { (o * e.n + $0) * e.inner + i }
            let (want, sign) = refWeighted(idx.map { x[$0] }, idx.map { b[$0] })
            #expect(abs(y[r] - want) <= 1e-12 * (1 + abs(want)))
            #expect(s[r] == sign)
            // Float rounds x and b, so compare against its own reference.
            let (wantF, signF) = refWeighted(idx.map { Double(Float(x[$0])) }, idx.map { Double(Float(b[$0])) })
            #expect(abs(Double(yf[r]) - wantF) <= 2e-5 * (1 + abs(wantF)))
            #expect(Double(sf[r]) == signF)
        }
    }

    @Test("zero weights remove inf and NaN; an unweighted maximum does not underflow the rest")
    func zeroWeights() throws {
        let (y, s) = try logSumExp([Double.infinity, .nan, 1000, 0], weights: [0, 0, 0, 1])
        #expect(y == [0] && s == [1])
    }

    @Test("without a sign output a negative total is NaN; buffers may not overlap")
    func signAndOverlap() throws {
        let x: [Double] = [1, 2], b: [Double] = [1, -2]
        var y: [Double] = [0]
        try x.withUnsafeBufferPointer { xb in
            try b.withUnsafeBufferPointer { bb in
                try y.withUnsafeMutableBufferPointer { yb in
                    try logSumExp(xb, weights: bb, into: yb, extents: Extents(outer: 1, n: 2))
                }
            }
        }
        #expect(y[0].isNaN)
        var z: [Double] = [3, 4, 5]
        #expect(throws: SoftmaxKitError.self) {
            try z.withUnsafeMutableBufferPointer { zb in
                try logSumExp(UnsafeBufferPointer(zb), weights: UnsafeBufferPointer(zb), into: zb,
                              extents: Extents(outer: 1, n: 3))
            }
        }
    }

    @Test("logit inverts the sigmoid and keeps its digits near 1/2")
    func logitValues() {
        let p: [Double] = [0, 0.25, 0.5, 0.5000001, 0.75, 1, -1, 2]
        let y = logit(p)
        #expect(y[0] == -.infinity && y[2] == 0 && y[5] == .infinity && y[6].isNaN && y[7].isNaN)
        #expect(abs(y[1] - log(1.0 / 3)) < 1e-15 && abs(y[4] - log(3.0)) < 1e-15)
        // log(p / (1 - p)) would keep only ~7 digits here.
        let d = p[3] - 0.5
        #expect(abs(y[3] - 2 * atanh(2 * d)) <= 4 * Double.ulpOfOne * y[3])
        let x: [Float] = [-20, -3, 0, 3, 8]  // sigmoid(20) rounds to 1 in Float
        let back = logit(sigmoid(x))
        for (a, b) in zip(back, x) { #expect(abs(a - b) < 1e-3 * (1 + abs(b))) }
    }
}
