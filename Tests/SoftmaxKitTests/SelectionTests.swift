import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

/// Indices in rank order: larger first, NaN first, ties to the lower index.
func refOrder<T: BinaryFloatingPoint>(_ x: [T]) -> [Int] {
    x.indices.sorted { a, b in
        if x[a].isNaN != x[b].isNaN { return x[a].isNaN }
        if x[a] != x[b] && !x[a].isNaN { return x[a] > x[b] }
        return a < b
    }
}

@Suite("argmax, hardmax, top-k, fused softmax + top-k")
struct SelectionTests {
    @Test("argmax, hardmax and topk follow the rank order (ties, NaN)", arguments: [1, 5, 16, 17, 63, 64, 65, 300, 1025])
    func rankOrder(n: Int) throws {
        let raw: [Double] = randomValues(n, seed: UInt64(n), scale: 4)
        var x = raw.map { $0.rounded() }  // many ties
        if n > 40 { x[37] = .nan }
        let order = refOrder(x)
        #expect(try argmax(x) == [order[0]])
        let h = try hardmax(x)
        #expect(h[order[0]] == 1 && h.reduce(0, +) == 1)
        for k in Set([0, 1, min(n, 16), min(n, 70), n]) {
            let (v, i) = try topK(x, k: k)
            #expect(i == Array(order.prefix(k)))
            #expect(zip(v, i).allSatisfy { $0.isNaN ? x[$1].isNaN : $0 == x[$1] })
        }
    }

    /// Rows that exercise the short-row ranking (n <= 24), the admission
    /// floor (k <= 2w: from max(m0, m1) for k <= w/2, from both otherwise)
    /// and its -inf fallback: ties, runs of -inf, +inf, a NaN.
    @Test("topk and softmax_topk: short rows, admission floor, non-finite rows",
          arguments: Array(1...24) + [25, 31, 32, 33, 47, 100, 128, 200, 1000, 1500])
    func admissionFloor(n: Int) throws {
        func check<T: KernelScalar>(_: T.Type) throws {
            let rows = 5
            let raw: [T] = randomValues(rows * n, seed: UInt64(n) &* 7, scale: 4)
            var x: [T] = raw.map { (v: T) -> T in (v * 2).rounded() / 2 }
            for j in 0..<n where j % 3 != 0 { x[n + j] = -.infinity }  // row 1: mostly -inf
            x[2 * n + n / 2] = .infinity                                 // row 2: one +inf
            x[3 * n + (n * 2) / 3] = .nan                                // row 3: a NaN
            for j in 0..<n { x[4 * n + j] = T(j % 4) }                   // row 4: four values, many ties
            for k in Set([1, 2, 4, 7, 8, 9, 16, 17, 32, 33, n].filter { $0 <= n }) {
                let (v, ix) = try topK(x, k: k, shape: [rows, n])
                let (p, ixp) = try softmaxTopK(x, k: k, shape: [rows, n])
                for r in 0..<rows {
                    let row = Array(x[(r * n)..<(r * n + n)])
                    let want = Array(refOrder(row).prefix(k))
                    #expect(Array(ix[(r * k)..<(r * k + k)]) == want, "topk n=\(n) k=\(k) row \(r)")
                    #expect(Array(ixp[(r * k)..<(r * k + k)]) == want, "softmax_topk n=\(n) k=\(k) row \(r)")
                    for j in 0..<k {
                        let got = v[r * k + j], ref = row[want[j]]
                        #expect(got == ref || (got.isNaN && ref.isNaN))
                    }
                    let probs = p[(r * k)..<(r * k + k)]
                    if r == 2 || r == 3 {
                        #expect(probs.allSatisfy { $0.isNaN })  // inf - inf, or a NaN: as softmax
                    } else {
                        let s = try softmax(row)
                        let eps = Double(T.ulpOfOne), tiny = Double(T.leastNormalMagnitude)
                        for j in 0..<k {
                            let got = Double(probs[r * k + j]), ref = Double(s[want[j]])
                            #expect(abs(got - ref) <= 8 * eps * ref + tiny, "n=\(n) k=\(k) row \(r)")
                        }
                    }
                }
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test("fused softmax + top-k equals softmax then top-k", arguments: [1, 15, 64, 65, 1000, 1024, 1025, 5000])
    func fusedEqualsTwoStep(n: Int) throws {
        let x: [Double] = randomValues(n * 2, seed: UInt64(n) + 5, scale: 25)
        let k = min(n, 16)
        for t in [1.0, 0.7] {
            let (p, i) = try softmaxTopK(x, k: k, shape: [2, n], temperature: t)
            let full = try softmax(x, shape: [2, n], temperature: t)
            let (tv, ti) = try topK(full, k: k, shape: [2, n])
            #expect(i == ti)
            // |x - max| / T reaches ~70: the exponent's rounding bounds the error near 1e-14
            #expect(zip(p, tv).allSatisfy { abs($0 - $1) <= 5e-14 * $1 })
            let (pf, ifl) = try softmaxTopK(x.map(Float.init), k: k, shape: [2, n], temperature: Float(t))
            let ff = try softmax(x.map(Float.init), shape: [2, n], temperature: Float(t))
            #expect(zip(pf, ifl.enumerated()).allSatisfy { p, e in abs(p - ff[(e.offset / k) * n + e.element]) <= 1e-5 * p })
        }
    }

    @Test("NaN and all -inf rows give NaN probabilities, as softmax")
    func nonFiniteRows() throws {
        #expect(try softmaxTopK([1.0, .nan, 3], k: 2).probs.allSatisfy(\.isNaN))
        #expect(try softmaxTopK([Float](repeating: -.infinity, count: 40), k: 3).probs.allSatisfy(\.isNaN))
        let (p, i) = try softmaxTopK([-Double.infinity, 0, -.infinity, 1], k: 2)
        #expect(i == [3, 1] && abs(p[0] - 1 / (1 + exp(-1.0))) < 1e-15)
    }

    @Test("k < 0 or k > n and argmax of an empty axis are refused")
    func badArguments() throws {
        #expect(throwsKind(.invalidArgument, mentioning: "k must be") { _ = try topK([1.0, 2], k: 3) })
        #expect(throwsKind(.invalidArgument, mentioning: "k must be") { _ = try softmaxTopK([1.0, 2], k: -1) })
        #expect(throwsKind(.invalidArgument, mentioning: "empty") { _ = try argmax([Double](), shape: [3, 0]) })
        #expect(throwsKind(.invalidArgument, mentioning: "temperature") { _ = try softmaxTopK([1.0, 2], k: 1, temperature: 0) })
    }

    @Test("indices or values partly over x, or indices partly over values, are refused and nothing is written",
          arguments: [8, 24])
    func overlappingOutputs(shift: Int) throws {
        // One 512-byte block viewed as floats and as indices, as a C union would.
        let bytes = 512
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0x5A, count: bytes)
        let before = Array(UnsafeRawBufferPointer(start: raw, count: bytes))
        let e = try Extents(outer: 4, n: 4), k = 2
        let x = UnsafeBufferPointer(start: raw.assumingMemoryBound(to: Float.self), count: e.count)
        func floats(at offset: Int, _ count: Int) -> UnsafeMutableBufferPointer<Float> {
            UnsafeMutableBufferPointer(start: (raw + offset).assumingMemoryBound(to: Float.self), count: count)
        }
        func ints(at offset: Int, _ count: Int) -> UnsafeMutableBufferPointer<Int> {
            UnsafeMutableBufferPointer(start: (raw + offset).assumingMemoryBound(to: Int.self), count: count)
        }
        let apart = 256  // past x: a separate buffer
        // argmax: index over x (the union example: &b.i[2] on b.f).
        #expect(throwsKind(.invalidArgument, mentioning: "overlap") { try argmax(x, into: ints(at: shift, 4), extents: e) })
        // top-k and softmax top-k: indices over x, values over x, indices over values.
        let cases: [(UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Int>)] = [
            (floats(at: apart, 8), ints(at: shift, 8)),
            (floats(at: shift, 8), ints(at: apart, 8)),
            (floats(at: apart, 8), ints(at: apart + shift, 8)),
            (floats(at: apart + shift, 8), ints(at: apart, 8)),
        ]
        for (v, i) in cases {
            #expect(throwsKind(.invalidArgument, mentioning: "overlap") { try topK(x, k: k, values: v, indices: i, extents: e) })
            #expect(throwsKind(.invalidArgument, mentioning: "overlap") {
                try softmaxTopK(x, k: k, probs: v, indices: i, extents: e)
            })
        }
        #expect(Array(UnsafeRawBufferPointer(start: raw, count: bytes)) == before)
    }
}
