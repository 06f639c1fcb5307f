import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

// The short-row path (rows of at most four vectors: 64 floats, 32 doubles)
// against Float80 references: lengths around one, two and four vectors of
// either type, row counts past each grouping (the driver takes rows four or
// two at a time and finishes an odd one alone), in place and not, with
// non-finite rows.

/// Lengths around every vector boundary of both types (16 floats, 8 doubles).
let shortLengths: [Int] = Array(1...17) + [23, 24, 25, 31, 32, 33, 47, 48, 49, 63, 64, 65]
let shortRowCounts = [1, 2, 3, 5, 6, 7, 8, 9]

/// Rows of `x` (`n` wide) as arrays.
func rowsOf<T>(_ x: [T], _ n: Int) -> [[T]] { stride(from: 0, to: x.count, by: n).map { Array(x[$0..<($0 + n)]) } }

/// Float32 results are measured against the reference of the float32 input: 2e-6 relative.
func bound<T: KernelScalar>(_: T.Type) -> Float80 { T.self == Float.self ? 2e-6 : 1e-14 }

@Suite("short rows: softmax and log-softmax")
struct ShortSoftmaxTests {
    func check<T: KernelScalar>(_: T.Type, n: Int, rows: Int) throws {
        // |x| <= 10: float32's own rounding of x - max stays within the bound
        // (as the row tests of SoftmaxTests.swift).
        let x: [T] = randomValues(rows * n, seed: UInt64(n * 31 + rows), scale: 10)
        let y = try softmax(x, shape: [rows, n]), l = try logSoftmax(x, shape: [rows, n], temperature: 0.7)
        for (r, row) in rowsOf(x, n).enumerated() {
            #expect(maxRelError(Array(y[(r * n)..<(r * n + n)]), refSoftmax(row)) < bound(T.self))
            #expect(maxRelError(Array(l[(r * n)..<(r * n + n)]), refLogSoftmax(row, temperature: 0.7), floor: 1) < bound(T.self))
        }
        // In place gives the same bits.
        var z = x
        try z.withUnsafeMutableBufferPointer { b in
            try softmax(UnsafeBufferPointer(b), into: b, extents: Extents(outer: rows, n: n))
        }
        #expect(z == y)
    }

    @Test("float32 rows of 1...65 match the reference", arguments: shortLengths)
    func float32(n: Int) throws { for rows in shortRowCounts { try check(Float.self, n: n, rows: rows) } }

    @Test("float64 rows of 1...65 match the reference", arguments: shortLengths)
    func float64(n: Int) throws { for rows in shortRowCounts { try check(Double.self, n: n, rows: rows) } }

    @Test("NaN, -inf, all -inf and +inf rows among finite rows", arguments: [3, 10, 16, 17, 33])
    func nonFinite(n: Int) throws {
        var x: [Float] = randomValues(5 * n, seed: 4, scale: 5)
        x[n] = .nan                                               // row 1: NaN
        x[2 * n] = -.infinity                                     // row 2: one -inf
        for j in 0..<n { x[3 * n + j] = -.infinity }              // row 3: all -inf
        x[4 * n + n - 1] = .infinity                              // row 4: +inf
        let y = try softmax(x, shape: [5, n]), l = try logSoftmax(x, shape: [5, n])
        let r = rowsOf(y, n), lr = rowsOf(l, n)
        #expect(maxRelError(r[0], refSoftmax(Array(x[0..<n]))) < 2e-6)
        #expect(r[1].allSatisfy { $0.isNaN } && lr[1].allSatisfy { $0.isNaN })
        #expect(r[2][0] == 0 && lr[2][0] == -.infinity)
        #expect(n == 1 || maxRelError(Array(r[2][1...]), refSoftmax(Array(x[(2 * n + 1)..<(3 * n)]))) < 2e-6)
        #expect(r[3].allSatisfy { $0.isNaN } && lr[3].allSatisfy { $0.isNaN })
        #expect(r[4].allSatisfy { $0.isNaN })
    }

    @Test("results do not depend on the thread count (bits)")
    func threads() throws {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for n in [10, 33] {
            let rows = (1 << 19) / n + 1   // past the parallel threshold
            let x: [Float] = randomValues(rows * n, seed: 8)
            Threading.threadCount = 1
            let a = try softmax(x, shape: [rows, n]), m1 = try maskedSoftmax(x, mask: x.map { $0 > -5 }, shape: [rows, n])
            Threading.threadCount = 2
            let b = try softmax(x, shape: [rows, n]), m2 = try maskedSoftmax(x, mask: x.map { $0 > -5 }, shape: [rows, n])
            #expect(a == b && m1 == m2)
        }
    }
}

@Suite("short rows: masked softmax")
struct ShortMaskedTests {
    func check<T: KernelScalar>(_: T.Type, n: Int, rows: Int) throws {
        let x: [T] = randomValues(rows * n, seed: UInt64(n + 100 * rows), scale: 15)
        // Full-shape mask with a fully masked row (row 1 when there is one).
        let full = (0..<(rows * n)).map { i in i / n != 1 && (i * 7) % 5 != 0 }
        let pattern = (0..<n).map { $0 % 3 != 1 }
        for (mask, isPattern) in [(full, false), (pattern, true)] {
            let y = try maskedSoftmax(x, mask: mask, shape: [rows, n])
            let l = try maskedLogSoftmax(x, mask: mask, shape: [rows, n])
            let plain = try maskedSoftmax(x, mask: mask, shape: [rows, n], renormalize: false)
            for r in 0..<rows {
                let keep = (0..<n).map { isPattern ? mask[$0] : mask[r * n + $0] }
                let row = Array(x[(r * n)..<(r * n + n)])
                let sel = zip(row, keep).filter { $0.1 }.map { $0.0 }
                let yr = Array(y[(r * n)..<(r * n + n)]), lr = Array(l[(r * n)..<(r * n + n)])
                let pr = Array(plain[(r * n)..<(r * n + n)])
                for j in 0..<n where !keep[j] { #expect(yr[j] == 0 && lr[j] == -.infinity && pr[j] == 0) }
                if sel.isEmpty { continue }
                #expect(maxRelError(zip(yr, keep).filter { $0.1 }.map { $0.0 }, refSoftmax(sel)) < bound(T.self))
                #expect(maxRelError(zip(lr, keep).filter { $0.1 }.map { $0.0 }, refLogSoftmax(sel), floor: 1) < bound(T.self))
                let all = refSoftmax(row)
                #expect(maxRelError(zip(pr, keep).filter { $0.1 }.map { $0.0 }, zip(all, keep).filter { $0.1 }.map { $0.0 }) < bound(T.self))
            }
        }
    }

    @Test("float32 full and pattern masks, fully masked rows", arguments: shortLengths)
    func float32(n: Int) throws { for rows in shortRowCounts { try check(Float.self, n: n, rows: rows) } }

    @Test("float64 full and pattern masks, fully masked rows", arguments: shortLengths)
    func float64(n: Int) throws { for rows in shortRowCounts { try check(Double.self, n: n, rows: rows) } }

    @Test("masked-out NaN and inf never leak; selected NaN poisons only the selection", arguments: [5, 16, 20])
    func nonFinite(n: Int) throws {
        var x = [Double](repeating: 1, count: 2 * n)
        x[0] = .nan; x[1] = .infinity; x[2] = -.infinity
        x[n] = .nan
        let mask = (0..<(2 * n)).map { $0 >= 3 && $0 != n + 1 }   // row 1 selects its NaN
        let y = try maskedSoftmax(x, mask: mask, shape: [2, n])
        #expect((0..<3).allSatisfy { y[$0] == 0 })
        #expect((3..<n).allSatisfy { abs(y[$0] - 1 / Double(n - 3)) < 1e-15 })
        #expect(y[n].isNaN && y[n + 1] == 0)
    }
}

@Suite("short rows: partitioned, segment and hierarchical")
struct ShortPartitionTests {
    /// Reference of one row under a layout, in Float80 / libm.
    func reference<T: KernelScalar>(_ row: [T], _ layout: [PartitionSegment]) -> [Float80] {
        var out: [Float80] = [], o = 0
        for s in layout {
            let seg = Array(row[o..<(o + s.width)])
            switch s.activation {
            case .identity: out += seg.map { Float80($0) }
            case .softmax: out += seg.isEmpty ? [] : refSoftmax(seg)
            case .logSoftmax: out += seg.isEmpty ? [] : refLogSoftmax(seg)
            case .sigmoid: out += seg.map { 1 / (1 + expl(-Float80($0))) }
            case .tanh: out += seg.map { tanhl(Float80($0)) }
            }
            o += s.width
        }
        return out
    }

    /// Layouts of `n` with zero-width segments and several normalized segments.
    func layouts(_ n: Int) -> [[PartitionSegment]] {
        let a = n / 3, b = n / 4
        return [
            [.init(width: n, activation: .softmax)],
            [.init(width: 0, activation: .softmax), .init(width: a, activation: .softmax), .init(width: b, activation: .sigmoid),
             .init(width: 0, activation: .logSoftmax), .init(width: n - a - b, activation: .identity)],
            [.init(width: b, activation: .logSoftmax), .init(width: a, activation: .tanh), .init(width: b, activation: .softmax),
             .init(width: n - a - 2 * b, activation: .softmax)],
        ]
    }

    func check<T: KernelScalar>(_: T.Type, n: Int, rows: Int) throws {
        let x: [T] = randomValues(rows * n, seed: UInt64(7 * n + rows), scale: 6)
        for layout in layouts(n) {
            let y = try partitioned(x, layout: layout, shape: [rows, n])
            // Log-softmax values absolutely near 0 (floor 1), the rest relatively.
            var floors: [Float80] = []
            for seg in layout { floors += Array(repeating: seg.activation == .logSoftmax ? 1 : 1e-30, count: seg.width) }
            for (r, row) in rowsOf(x, n).enumerated() {
                let want = reference(row, layout), got = Array(y[(r * n)..<(r * n + n)])
                for j in 0..<n {
                    #expect(abs(Float80(got[j]) - want[j]) <= 2 * bound(T.self) * max(abs(want[j]), floors[j]))
                }
            }
            var z = x
            try z.withUnsafeMutableBufferPointer { b in
                try partitioned(UnsafeBufferPointer(b), layout: layout, into: b, extents: Extents(outer: rows, n: n))
            }
            #expect(z == y)
        }
        // Segment softmax with empty groups.
        let offsets = [0, 0, n / 2, n / 2, n]
        let s = try segmentSoftmax(x, offsets: offsets, shape: [rows, n])
        let asLayout = (0..<4).map { PartitionSegment(width: offsets[$0 + 1] - offsets[$0], activation: .softmax) }
        for (r, row) in rowsOf(x, n).enumerated() {
            #expect(maxRelError(Array(s[(r * n)..<(r * n + n)]), reference(row, asLayout)) < 2 * bound(T.self))
        }
    }

    @Test("float32 layouts, zero-width segments, in place", arguments: shortLengths.filter { $0 >= 4 })
    func float32(n: Int) throws { for rows in shortRowCounts { try check(Float.self, n: n, rows: rows) } }

    @Test("float64 layouts, zero-width segments, in place", arguments: shortLengths.filter { $0 >= 4 })
    func float64(n: Int) throws { for rows in shortRowCounts { try check(Double.self, n: n, rows: rows) } }

    @Test("a softmax segment of all -inf is NaN, its neighbours unharmed")
    func nonFiniteSegment() throws {
        let x: [Float] = [-.infinity, -.infinity, 1, 2, .nan, 0.5]
        let y = try partitioned(x, layout: [.init(width: 2, activation: .softmax), .init(width: 2, activation: .softmax),
                                            .init(width: 1, activation: .sigmoid), .init(width: 1, activation: .identity)])
        #expect(y[0].isNaN && y[1].isNaN && y[4].isNaN && y[5] == 0.5)
        #expect(abs(Double(y[2]) - 1 / (1 + M_E)) < 1e-7)
    }

    @Test("hierarchical joint and conditional on short rows", arguments: [[1], [3, 1, 5], [2, 2, 2, 2, 2, 2, 2, 2, 2], [10, 7]])
    func hierarchical(sizes: [Int]) throws {
        let k = sizes.count, w = sizes.reduce(0, +)
        for rows in shortRowCounts {
            let coarse: [Double] = randomValues(rows * k, seed: 3), fine: [Double] = randomValues(rows * w, seed: 4)
            let joint = try hierarchicalSoftmax(coarse: coarse, fine: fine, sizes: sizes)
            let cond = try hierarchicalSoftmax(coarse: coarse, fine: fine, sizes: sizes, conditional: true)
            for b in 0..<rows {
                let pc = refSoftmax(Array(coarse[(b * k)..<(b * k + k)]))
                var o = 0
                for (g, s) in sizes.enumerated() {
                    let pf = refSoftmax(Array(fine[(b * w + o)..<(b * w + o + s)]))
                    for j in 0..<s {
                        #expect(abs(Float80(joint[b * w + o + j]) - pc[g] * pf[j]) < 1e-15)
                        #expect(abs(Float80(cond[b * w + o + j]) - pf[j]) < 1e-15)
                    }
                    o += s
                }
            }
        }
    }
}

@Suite("short rows: cross-entropy and fused softmax + top-k")
struct ShortLossSelectionTests {
    @Test("cross-entropy losses and gradients match a float64 reference", arguments: shortLengths)
    func crossEntropy(n: Int) throws {
        for rows in shortRowCounts {
            let x: [Double] = randomValues(rows * n, seed: UInt64(n + 5), scale: 8)
            let t = (0..<rows).map { $0 == 1 ? -100 : ($0 * 7) % n }   // row 1 ignored
            let w: [Double] = (0..<n).map { 0.5 + Double($0 % 3) }
            for smoothing in [0.0, 0.1] {
                var loss = [Double](repeating: 0, count: rows), grad = [Double](repeating: 0, count: rows * n)
                try x.withUnsafeBufferPointer { xb in
                    try t.withUnsafeBufferPointer { tb in
                        try w.withUnsafeBufferPointer { wb in
                            try loss.withUnsafeMutableBufferPointer { lb in
                                try grad.withUnsafeMutableBufferPointer { gb in
                                    try SoftmaxKit.crossEntropy(xb, targets: .indices(tb), weight: wb, loss: lb, gradient: gb,
                                                                extents: Extents(outer: rows, n: n),
                                                                options: LossOptions(labelSmoothing: smoothing, reduction: .none))
                                }
                            }
                        }
                    }
                }
                for r in 0..<rows {
                    let row = Array(x[(r * n)..<(r * n + n)])
                    if t[r] == -100 {
                        #expect(loss[r] == 0 && grad[(r * n)..<(r * n + n)].allSatisfy { $0 == 0 })
                        continue
                    }
                    let lsm = refLogSoftmax(row).map { Double($0) }, p = refSoftmax(row).map { Double($0) }
                    var q = (0..<n).map { smoothing / Double(n) * w[$0] }
                    q[t[r]] += (1 - smoothing) * w[t[r]]
                    let want = -zip(q, lsm).map { $0 * $1 }.reduce(0, +)
                    #expect(abs(loss[r] - want) <= 1e-13 * max(1, abs(want)))
                    let qs = q.reduce(0, +)
                    for c in 0..<n { #expect(abs(grad[r * n + c] - (qs * p[c] - q[c])) <= 1e-13) }
                }
            }
        }
        // float32, mean reduction, probability targets.
        let xf: [Float] = randomValues(3 * n, seed: 9, scale: 4)
        var pt = [Float](repeating: 0, count: 3 * n)
        for r in 0..<3 { pt[r * n] = 0.25; pt[r * n + n - 1] += 0.75 }
        var mean: [Float] = [0]
        try xf.withUnsafeBufferPointer { xb in
            try pt.withUnsafeBufferPointer { pb in
                try mean.withUnsafeMutableBufferPointer { lb in
                    try SoftmaxKit.crossEntropy(xb, targets: .probabilities(pb), loss: lb, extents: Extents(outer: 3, n: n))
                }
            }
        }
        var want = 0.0
        for r in 0..<3 {
            let lsm = refLogSoftmax(Array(xf[(r * n)..<(r * n + n)]))
            want -= (0..<n).map { Double(pt[r * n + $0]) * Double(lsm[$0]) }.reduce(0, +) / 3
        }
        #expect(abs(Double(mean[0]) - want) <= 2e-6 * max(1, abs(want)))
    }

    @Test("softmax_topk: order, ties to the lower index, probabilities of softmax", arguments: Array(1...17))
    func topK(n: Int) throws {
        for rows in shortRowCounts {
            // Few distinct values: many ties.
            let x: [Float] = randomValues(rows * n, seed: UInt64(n), scale: 3).map { ($0 * 2).rounded() / 2 }
            let k = min(n, 8)
            let (p, ix) = try softmaxTopK(x, k: k, shape: [rows, n], temperature: 0.8)
            for (r, row) in rowsOf(x, n).enumerated() {
                let order = (0..<n).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                #expect(Array(ix[(r * k)..<(r * k + k)]) == Array(order.prefix(k)))
                let ref = refSoftmax(row, temperature: 0.8)
                for j in 0..<k { #expect(abs(Float80(p[r * k + j]) - ref[order[j]]) <= 2e-6 * ref[order[j]]) }
            }
            let (pd, ixd) = try softmaxTopK(x.map(Double.init), k: k, shape: [rows, n])
            for (r, row) in rowsOf(x.map(Double.init), n).enumerated() {
                let order = (0..<n).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                #expect(Array(ixd[(r * k)..<(r * k + k)]) == Array(order.prefix(k)))
                let ref = refSoftmax(row)
                for j in 0..<k { #expect(abs(Float80(pd[r * k + j]) - ref[order[j]]) <= 1e-14 * ref[order[j]]) }
            }
        }
    }

    @Test("softmax_topk of NaN and all -inf rows: NaN probabilities, topk's order")
    func topKNonFinite() throws {
        let x: [Float] = [1, .nan, 3, 2, -.infinity, -.infinity, -.infinity, -.infinity, 5, -.infinity, 4, 4]
        let (p, ix) = try softmaxTopK(x, k: 3, shape: [3, 4])
        #expect(p[0..<6].allSatisfy { $0.isNaN })
        #expect(Array(ix[0..<3]) == [1, 2, 3] && Array(ix[3..<6]) == [0, 1, 2])
        #expect(Array(ix[6..<9]) == [0, 2, 3] && p[7] == p[8] && p[6] > p[7])
    }
}
