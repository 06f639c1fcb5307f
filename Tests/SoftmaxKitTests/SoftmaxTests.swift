import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

@Suite("softmax and log_softmax against Float80 references")
struct SoftmaxReferenceTests {
    @Test("float32 rows of every length match the reference within 2e-6 relative", arguments: rowLengths)
    func float32Rows(n: Int) throws {
        let x: [Float] = randomValues(n, seed: UInt64(n))
        let y = try softmax(x)
        #expect(maxRelError(y, refSoftmax(x)) < 2e-6)
        let l = try logSoftmax(x)
        // Absolute for log values near 0, relative elsewhere.
        #expect(maxRelError(l, refLogSoftmax(x), floor: 1) < 2e-6)
    }

    @Test("float64 rows of every length match the reference within 1e-14 relative", arguments: rowLengths)
    func float64Rows(n: Int) throws {
        let x: [Double] = randomValues(n, seed: UInt64(n) + 1000)
        #expect(maxRelError(try softmax(x), refSoftmax(x)) < 1e-14)
        #expect(maxRelError(try logSoftmax(x), refLogSoftmax(x), floor: 1) < 1e-14)
    }

    @Test("temperature divides the logits", arguments: [0.25, 1.0, 3.0, 100.0])
    func temperature(t: Double) throws {
        let x: [Double] = randomValues(37, seed: 7)
        #expect(maxRelError(try softmax(x, temperature: t), refSoftmax(x, temperature: t)) < 1e-14)
        #expect(maxRelError(try logSoftmax(x, temperature: t), refLogSoftmax(x, temperature: t), floor: 1) < 1e-14)
        let xf = x.map(Float.init)
        #expect(maxRelError(try softmax(xf, temperature: Float(t)), refSoftmax(xf, temperature: Float(t))) < 2e-6)
    }

    @Test("a float32 row of 2^20 elements sums accurately (blocked double accumulation)")
    func wideRow() throws {
        let x: [Float] = randomValues(1 << 20, seed: 99, scale: 3)
        let y = try softmax(x)
        #expect(maxRelError(y, refSoftmax(x)) < 1e-5)
        let total = y.reduce(0.0) { $0 + Double($1) }
        #expect(abs(total - 1) < 1e-5)
    }
}

@Suite("softmax properties")
struct SoftmaxPropertyTests {
    @Test("rows sum to 1", arguments: rowLengths.filter { $0 > 0 })
    func rowsSumToOne(n: Int) throws {
        let x: [Float] = randomValues(n * 3, seed: 5, scale: 40)
        let y = try softmax(x, shape: [3, n])
        for r in 0..<3 {
            let s = y[(r * n)..<((r + 1) * n)].reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - 1) < 1e-5)
        }
    }

    @Test("adding a constant changes nothing", arguments: [-1000.0, -3.5, 0.0, 17.25, 1000.0])
    func shiftInvariance(c: Double) throws {
        let x: [Double] = randomValues(45, seed: 11)
        let a = try softmax(x), b = try softmax(x.map { $0 + c })
        for (u, v) in zip(a, b) { #expect(abs(u - v) <= 1e-12 * max(u, 1e-300) + 1e-300) }
    }

    @Test("exp(log_softmax) equals softmax", arguments: [1, 5, 16, 17, 33, 100])
    func expLogSoftmax(n: Int) throws {
        let x: [Float] = randomValues(n, seed: 3)
        let y = try softmax(x), l = try logSoftmax(x)
        for (p, q) in zip(y, l) { #expect(abs(Double(expf(q)) - Double(p)) <= 2e-6 * Double(p) + 1e-38) }
    }

    @Test("strided axes equal the transposed contiguous result", arguments: [(3, 7, 5), (2, 17, 16), (1, 40, 33), (4, 1, 19)])
    func stridedAxis(shape: (Int, Int, Int)) throws {
        let (o, n, i) = shape
        let x: [Double] = randomValues(o * n * i, seed: 21)
        let y = try softmax(x, shape: [o, n, i], axis: 1)
        let l = try logSoftmax(x, shape: [o, n, i], axis: -2)
        let lse = try logSumExp(x, shape: [o, n, i], axis: 1)
        for a in 0..<o {
            for c in 0..<i {
                let fibre = (0..<n).map { x[(a * n + $0) * i + c] }
                let want = refSoftmax(fibre), wantLog = refLogSoftmax(fibre)
                let got = (0..<n).map { y[(a * n + $0) * i + c] }
                let gotLog = (0..<n).map { l[(a * n + $0) * i + c] }
                #expect(maxRelError(got, want) < 1e-14)
                #expect(maxRelError(gotLog, wantLog, floor: 1) < 1e-14)
                let m = fibre.max()!
                let wantLse = Double(m) + log(fibre.map { exp($0 - m) }.reduce(0, +))
                #expect(abs(lse[a * i + c] - wantLse) <= 1e-13 * max(1, abs(wantLse)))
            }
        }
    }

    @Test("float32 strided columns: four-vector blocks, single vectors and partial tails",
          arguments: [(2, 9, 70), (1, 300, 64), (3, 5, 16), (2, 4, 3), (1, 513, 130)])
    func stridedFloat(shape: (Int, Int, Int)) throws {
        let (o, n, i) = shape
        var x: [Float] = randomValues(o * n * i, seed: 77, scale: 20)
        // A column holding -inf, and one that is all -inf (NaN by definition).
        for j in 0..<n { if j % 2 == 0 { x[j * i] = -.infinity } }
        for j in 0..<n { x[j * i + (i - 1)] = -.infinity }
        let y = try softmax(x, shape: [o, n, i], axis: 1)
        let l = try logSoftmax(x, shape: [o, n, i], axis: 1, temperature: 0.5)
        let lse = try logSumExp(x, shape: [o, n, i], axis: 1)
        for a in 0..<o {
            for c in 0..<i {
                let fibre = (0..<n).map { x[(a * n + $0) * i + c] }
                let got = (0..<n).map { y[(a * n + $0) * i + c] }
                let gotLog = (0..<n).map { l[(a * n + $0) * i + c] }
                if fibre.allSatisfy({ $0 == -.infinity }) {
                    #expect(got.allSatisfy { $0.isNaN } && gotLog.allSatisfy { $0.isNaN })
                    #expect(lse[a * i + c] == -.infinity)
                    continue
                }
                #expect(maxRelError(got, refSoftmax(fibre)) < 1e-5)
                let want = refLogSoftmax(fibre, temperature: 0.5)
                for (g, w) in zip(gotLog, want) where w.isFinite {
                    #expect(abs(Float80(g) - w) <= 1e-5 * max(1, abs(w)))
                }
                let wantLse = refLogSoftmax(fibre).first { $0.isFinite }.map { Float80(fibre[fibre.firstIndex { $0.isFinite }!]) - $0 }!
                #expect(abs(Float80(lse[a * i + c]) - wantLse) <= 1e-5 * max(1, abs(wantLse)))
            }
        }
    }

    @Test("in place gives the same result as out of place")
    func inPlace() throws {
        let x: [Float] = randomValues(100, seed: 8)
        let want = try softmax(x, shape: [4, 25])
        var buf = x
        try buf.withUnsafeMutableBufferPointer { (b) throws(SoftmaxKitError) in
            try softmax(UnsafeBufferPointer(b), into: b, extents: try Extents(outer: 4, n: 25))
        }
        #expect(buf == want)
    }

    // 2 x 4000 x 2001 x 4 bytes = 64 MB moved: past three quarters of a 48 MB
    // L3, so the call writes with streaming stores (rows of 2001 floats start
    // at every alignment: plain-store heads and tails, streamed middles). One
    // row at a time stays in cache and stores normally: the bits must agree.
    @Test("calls larger than the cache (streaming stores) give the bits of row-by-row calls")
    func streamingStoresSameBits() throws {
        let rows = 4000, n = 2001
        let x: [Float] = randomValues(rows * n, seed: 12, scale: 4)
        for log in [false, true] {
            let whole = log ? try logSoftmax(x, shape: [rows, n]) : try softmax(x, shape: [rows, n])
            var mismatched = 0
            for r in stride(from: 0, to: rows, by: 97) {
                let row = Array(x[r * n ..< (r + 1) * n])
                let one = log ? try logSoftmax(row) : try softmax(row)
                if Array(whole[r * n ..< (r + 1) * n]) != one { mismatched += 1 }
            }
            #expect(mismatched == 0, "log: \(log)")
        }
    }
}

@Suite("softmax edge cases of docs/DESIGN.md Numerics")
struct SoftmaxEdgeTests {
    @Test("worked example: softmax([0, 2, 4])")
    func seedExample() throws {
        let y = try softmax([0.0, 2.0, 4.0])
        #expect(abs(y[0] - 0.015876239976466765) < 1e-15)
        #expect(abs(y[1] - 0.11731042782619837) < 1e-15)
        #expect(abs(y[2] - 0.8668133321973349) < 1e-15)
    }

    @Test("log_softmax([1000, 1]) is [0, -999], never log(softmax)")
    func logSoftmaxNoUnderflow() throws {
        #expect(try logSoftmax([1000.0, 1.0]) == [0, -999])
        #expect(try logSoftmax([Float(1000), 1]) == [0, -999])
    }

    @Test("a NaN makes its row NaN and leaves other rows alone")
    func nanRow() throws {
        let x: [Float] = [1, .nan, 3, 1, 2, 3]
        let y = try softmax(x, shape: [2, 3])
        #expect(y[0..<3].allSatisfy { $0.isNaN })
        #expect(y[3..<6].allSatisfy { !$0.isNaN })
        #expect(try logSoftmax(x, shape: [2, 3])[0..<3].allSatisfy { $0.isNaN })
    }

    @Test("-inf entries get exactly 0, wherever they sit in the row", arguments: [3, 16, 17, 40, 64])
    func negativeInfinity(n: Int) throws {
        var x: [Float] = randomValues(n, seed: 4)
        // One whole vector and the tail of -inf when the row is long enough.
        for j in stride(from: 0, to: n, by: 2) { x[j] = -.infinity }
        if n >= 40 { for j in 16..<32 { x[j] = -.infinity } }
        let y = try softmax(x)
        let l = try logSoftmax(x)
        for j in 0..<n where x[j] == -.infinity {
            #expect(y[j] == 0)
            #expect(l[j] == -.infinity)
        }
        #expect(abs(y.reduce(0, +) - 1) < 1e-5)
    }

    @Test("an all -inf row is NaN (0/0), as PyTorch and JAX")
    func allNegativeInfinity() throws {
        let x = [Double](repeating: -.infinity, count: 20)
        #expect(try softmax(x).allSatisfy { $0.isNaN })
        #expect(try logSoftmax(x).allSatisfy { $0.isNaN })
        #expect(try logSumExp(x) == [-.infinity])
    }

    @Test("values at the exp limits do not overflow")
    func expLimits() throws {
        let f: [Float] = [88.7, -88.7, 88.0, -103.9, 0]
        #expect(maxRelError(try softmax(f), refSoftmax(f)) < 2e-6)
        let d: [Double] = [709.7, -709.7, 700, -745, 0]
        #expect(maxRelError(try softmax(d), refSoftmax(d), floor: 1e-300) < 1e-13)
        // exp(-100) is subnormal in float32: kept, not flushed to 0.
        let s = try softmax([Float(0), -100])
        #expect(s[1] > 0 && abs(Double(s[1]) - 3.720076e-44) < 2e-45)
    }

    @Test("logsumexp of empty, inf, -inf and NaN rows")
    func logSumExpEdges() throws {
        #expect(try logSumExp([Double]()) == [-.infinity])
        #expect(try logSumExp([Double.infinity, 1]) == [.infinity])
        #expect(try logSumExp([-Double.infinity, -.infinity]) == [-.infinity])
        #expect(try logSumExp([1, Double.nan])[0].isNaN)
        #expect(try logSumExp([-Double.infinity, .nan])[0].isNaN)
        #expect(try logSumExp([Double.infinity, .nan])[0].isNaN)
        #expect(try logSumExp([Float](repeating: 0, count: 0), shape: [3, 0], axis: 1) == [-.infinity, -.infinity, -.infinity])
    }

    @Test("rank 0 is one element: softmax 1, log_softmax 0")
    func rankZero() throws {
        #expect(try softmax([Float(5)], shape: []) == [1])
        #expect(try logSoftmax([5.0], shape: []) == [0])
    }

    @Test("empty tensors are not errors")
    func empty() throws {
        #expect(try softmax([Float](), shape: [0, 5]) == [])
        #expect(try softmax([Float](), shape: [5, 0]) == [])
        #expect(try logSoftmax([Double](), shape: [2, 0, 3], axis: 1) == [])
    }
}

@Suite("sigmoid and log_sigmoid")
struct SigmoidTests {
    @Test("saturate exactly and stay finite")
    func saturation() {
        #expect(sigmoid([Float(1000), -1000, 0]) == [1, 0, 0.5])
        #expect(sigmoid([Double(1e308), -1e308]) == [1, 0])
        #expect(logSigmoid([-1e4]) == [-1e4])
        #expect(logSigmoid([Float(-1e4)]) == [-1e4])
        #expect(sigmoid([Float.nan])[0].isNaN && logSigmoid([Double.nan])[0].isNaN)
    }

    @Test("match the reference", arguments: [1, 15, 16, 17, 100])
    func reference(n: Int) {
        let x: [Double] = randomValues(n, seed: 31, scale: 40)
        for (g, v) in zip(sigmoid(x), x) {
            let want = 1 / (1 + expl(-Float80(v)))
            #expect(abs(Float80(g) - want) <= 1e-15 * want)
        }
        for (g, v) in zip(logSigmoid(x), x) {
            let want = -log1pl(expl(-Float80(v)))
            #expect(abs(Float80(g) - want) <= 1e-15 * max(abs(want), 1e-300))
        }
        let xf = x.map(Float.init)
        for (g, v) in zip(sigmoid(xf), xf) {
            let want = 1 / (1 + expl(-Float80(v)))
            #expect(abs(Float80(g) - want) <= 3e-7 * want)
        }
    }
}

@Suite("argument errors")
struct ErrorTests {
    @Test("temperature must be finite and > 0", arguments: [0.0, -1.0, .nan, .infinity, -.infinity])
    func badTemperature(t: Double) {
        #expect(throws: SoftmaxKitError.self) { try softmax([1.0, 2.0], temperature: t) }
        #expect(throws: SoftmaxKitError.self) { try logSoftmax([Float(1)], temperature: Float(t)) }
    }

    @Test("extents reject negatives and overflow")
    func badExtents() {
        #expect(throws: SoftmaxKitError(.invalidArgument, "extents must be non-negative, got (-1, 2, 1)")) {
            try Extents(outer: -1, n: 2)
        }
        #expect { try Extents(outer: 1 << 40, n: 1 << 30) } throws: { ($0 as? SoftmaxKitError)?.kind == .sizeOverflow }
        #expect { try Extents(outer: 1 << 40, n: 0, inner: 1 << 40) } throws: { ($0 as? SoftmaxKitError)?.kind == .sizeOverflow }
        #expect { try Extents(shape: [2, 3], axis: 2) } throws: { ($0 as? SoftmaxKitError)?.kind == .invalidArgument }
        #expect { try Extents(shape: [2, 3], axis: -3) } throws: { ($0 as? SoftmaxKitError)?.kind == .invalidArgument }
    }

    @Test("short buffers and partial overlap are refused and nothing is written")
    func badBuffers() throws {
        var buf = [Float](repeating: 7, count: 10)
        try buf.withUnsafeMutableBufferPointer { b in
            let e = try Extents(outer: 1, n: 8)
            #expect { try softmax(UnsafeBufferPointer(rebasing: b[0..<8]), into: UnsafeMutableBufferPointer(rebasing: b[2..<10]), extents: e) }
                throws: { ($0 as? SoftmaxKitError)?.kind == .invalidArgument }
            #expect { try softmax(UnsafeBufferPointer(rebasing: b[0..<4]), into: UnsafeMutableBufferPointer(rebasing: b[4..<10]), extents: e) }
                throws: { ($0 as? SoftmaxKitError)?.kind == .shapeMismatch }
        }
        #expect(buf.allSatisfy { $0 == 7 })
    }
}
