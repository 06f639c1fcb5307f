import Testing
import SoftmaxKit

@Suite("chunked normalizer: states, merge, finishing passes")
struct ChunkedNormalizerTests {
    /// Softmax of `rows` x `cols` computed in chunks split at `cuts`.
    func chunked(_ x: [Double], rows: Int, cols: Int, cuts: [Int], temperature: Double,
                 log: Bool) throws -> [Double] {
        let parts = cuts.count - 1
        var maxes = [Double](repeating: 0, count: parts * rows), sums = maxes
        var chunks: [[Double]] = []
        for p in 0..<parts {
            let w = cuts[p + 1] - cuts[p]
            var c = [Double]()
            for r in 0..<rows { c += x[(r * cols + cuts[p])..<(r * cols + cuts[p] + w)] }
            chunks.append(c)
            var m = [Double](repeating: 0, count: rows), s = m
            try c.withUnsafeBufferPointer { cb in
                try m.withUnsafeMutableBufferPointer { mb in
                    try s.withUnsafeMutableBufferPointer { sb in
                        try softmaxState(cb, max: mb, sum: sb, extents: Extents(outer: rows, n: w), temperature: temperature)
                    }
                }
            }
            for r in 0..<rows { maxes[p * rows + r] = m[r]; sums[p * rows + r] = s[r] }
        }
        var m = [Double](repeating: 0, count: rows), s = m
        try maxes.withUnsafeBufferPointer { mi in
            try sums.withUnsafeBufferPointer { si in
                try m.withUnsafeMutableBufferPointer { mo in
                    try s.withUnsafeMutableBufferPointer { so in
                        try mergeSoftmaxStates(max: mi, sum: si, parts: parts, count: rows, intoMax: mo, sum: so,
                                               temperature: temperature)
                    }
                }
            }
        }
        var y = [Double](repeating: 0, count: rows * cols)
        for p in 0..<parts {
            let w = cuts[p + 1] - cuts[p]
            var out = [Double](repeating: 0, count: rows * w)
            try chunks[p].withUnsafeBufferPointer { cb in
                try m.withUnsafeBufferPointer { mb in
                    try s.withUnsafeBufferPointer { sb in
                        try out.withUnsafeMutableBufferPointer { ob in
                            try softmaxFinish(cb, max: mb, sum: sb, into: ob, extents: Extents(outer: rows, n: w),
                                              temperature: temperature, log: log)
                        }
                    }
                }
            }
            for r in 0..<rows { for j in 0..<w { y[r * cols + cuts[p] + j] = out[r * w + j] } }
        }
        return y
    }

    @Test("a row in 1 to 8 chunks gives the whole-row softmax and log-softmax")
    func matchesWholeRows() throws {
        let rows = 3, cols = 29
        let x = (0..<(rows * cols)).map { Double(($0 * 7919) % 97 - 48) * 0.21 }
        for cuts in [[0, 29], [0, 1, 29], [0, 10, 11, 29], [0, 4, 8, 12, 16, 20, 24, 28, 29]] {
            for t in [1.0, 0.4] {
                let want = try softmax(x, shape: [rows, cols], axis: 1, temperature: t)
                let got = try chunked(x, rows: rows, cols: cols, cuts: cuts, temperature: t, log: false)
                for i in 0..<x.count { #expect(abs(got[i] - want[i]) <= 1e-14 * max(1, want[i])) }
                let lwant = try logSoftmax(x, shape: [rows, cols], axis: 1, temperature: t)
                let lgot = try chunked(x, rows: rows, cols: cols, cuts: cuts, temperature: t, log: true)
                for i in 0..<x.count { #expect(abs(lgot[i] - lwant[i]) <= 1e-13 * max(1, abs(lwant[i]))) }
            }
        }
    }

    @Test("bad arguments throw and write nothing")
    func refusals() throws {
        let x: [Float] = [1, 2, 3]
        var m: [Double] = [7], s: [Double] = [7]
        #expect(throws: SoftmaxKitError.self) {
            try x.withUnsafeBufferPointer { xb in
                try m.withUnsafeMutableBufferPointer { mb in
                    try s.withUnsafeMutableBufferPointer { sb in
                        try softmaxState(xb, max: mb, sum: sb, extents: Extents(outer: 1, n: 3), temperature: Float(0))
                    }
                }
            }
        }
        #expect(m == [7] && s == [7])
        var mo: [Double] = [0], so: [Double] = [0]
        #expect(throws: SoftmaxKitError.self) {
            try m.withUnsafeBufferPointer { mi in
                try s.withUnsafeBufferPointer { si in
                    try mo.withUnsafeMutableBufferPointer { mob in
                        try so.withUnsafeMutableBufferPointer { sob in
                            try mergeSoftmaxStates(max: mi, sum: si, parts: 0, count: 1, intoMax: mob, sum: sob)
                        }
                    }
                }
            }
        }
    }
}
