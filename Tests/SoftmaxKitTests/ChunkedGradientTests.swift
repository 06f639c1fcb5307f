import Testing
import SoftmaxKit

@Suite("chunked cross-entropy gradient")
struct ChunkedGradientTests {
    /// The whole-row state (max, sum) of `x`'s rows of `n` classes.
    func state(_ x: [Double], rows: Int, n: Int) throws -> ([Double], [Double]) {
        var m = [Double](repeating: 0, count: rows), s = m
        try x.withUnsafeBufferPointer { xb in
            try m.withUnsafeMutableBufferPointer { mb in
                try s.withUnsafeMutableBufferPointer { sb in
                    try softmaxState(xb, max: mb, sum: sb, extents: Extents(outer: rows, n: n))
                }
            }
        }
        return (m, s)
    }

    @Test("chunk parts from the merged state make the in-memory gradient (weights, smoothing, ignored, mean)")
    func partsMakeTheGradient() throws {
        let rows = 3, n = 7, cuts = [0, 2, 3, 7]
        let x = (0..<(rows * n)).map { Double(($0 * 37) % 11) * 0.4 - 2 }
        let w = (0..<n).map { 0.5 + 0.25 * Double($0) }
        let t: [Int] = [6, -100, 1]
        let opts = LossOptions(labelSmoothing: 0.2, reduction: .mean)
        var loss = [0.0], want = [Double](repeating: 0, count: rows * n)
        try x.withUnsafeBufferPointer { xb in
            try w.withUnsafeBufferPointer { wb in
                try t.withUnsafeBufferPointer { tb in
                    try loss.withUnsafeMutableBufferPointer { lb in
                        try want.withUnsafeMutableBufferPointer { gb in
                            try crossEntropy(xb, targets: .indices(tb), weight: wb, loss: lb, gradient: gb,
                                             extents: Extents(outer: rows, n: n), options: opts)
                        }
                    }
                }
            }
        }
        let (m, s) = try state(x, rows: rows, n: n)
        let t64 = t.map(Int64.init), divisor = w[6] + w[1]
        var got = [Double](repeating: .nan, count: rows * n)
        for (a, b) in zip(cuts, cuts.dropFirst()) {
            let c = b - a
            let part = (0..<rows).flatMap { r in x[(r * n + a)..<(r * n + b)] }
            var g = [Double](repeating: 9, count: rows * c)
            try part.withUnsafeBufferPointer { xb in
                try m.withUnsafeBufferPointer { mb in
                    try s.withUnsafeBufferPointer { sb in
                        try t64.withUnsafeBufferPointer { tb in
                            try w.withUnsafeBufferPointer { wb in
                                try g.withUnsafeMutableBufferPointer { gb in
                                    try crossEntropyGradientChunk(xb, max: mb, sum: sb, target: tb, weight: wb, into: gb,
                                                                  extents: Extents(outer: rows, n: c), offset: a,
                                                                  classes: n, labelSmoothing: 0.2, divisor: divisor)
                                }
                            }
                        }
                    }
                }
            }
            for r in 0..<rows { for j in 0..<c { got[r * n + a + j] = g[r * c + j] } }
        }
        for i in 0..<(rows * n) { #expect(abs(got[i] - want[i]) <= 1e-13, "element \(i)") }
        #expect(got[n..<(2 * n)].allSatisfy { $0 == 0 })
    }

    @Test("a zero divisor or a target outside the classes throws and writes nothing")
    func refusals() throws {
        let x: [Float] = [0, 1, 2, 3]
        let m: [Double] = [3], s: [Double] = [1.5]
        for (t, d) in [(Int64(9), 1.0), (Int64(1), 0.0), (Int64(1), Double.nan)] {
            var g: [Float] = [7, 7, 7, 7]
            #expect(throws: SoftmaxKitError.self) {
                try x.withUnsafeBufferPointer { xb in
                    try m.withUnsafeBufferPointer { mb in
                        try s.withUnsafeBufferPointer { sb in
                            try [t].withUnsafeBufferPointer { tb in
                                try g.withUnsafeMutableBufferPointer { gb in
                                    try crossEntropyGradientChunk(xb, max: mb, sum: sb, target: tb, weight: nil, into: gb,
                                                                  extents: Extents(outer: 1, n: 4), offset: 0, classes: 4,
                                                                  divisor: d)
                                }
                            }
                        }
                    }
                }
            }
            #expect(g == [7, 7, 7, 7])
        }
    }
}
