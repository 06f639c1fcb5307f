import Testing
import SoftmaxKit

@Suite("chunked kernels: top-k merge, masked passes, cross-entropy parts")
struct ChunkedPartsTests {
    @Test("merging each chunk's top-k gives the whole row's, ties and NaN in the selection order")
    func topKMerge() throws {
        let rows = 2, cols = 17, k = 5, cuts = [0, 3, 4, 11, 17]
        var x = (0..<(rows * cols)).map { Float(($0 * 31) % 7) - 3 }
        x[6] = .nan; x[20] = .nan
        let want = try topK(x, k: k, shape: [rows, cols], axis: 1)
        var cv = [Float](), ci = [Int64]()
        var per = [[(Float, Int64)]](repeating: [], count: rows)
        for p in 0..<(cuts.count - 1) {
            let w = cuts[p + 1] - cuts[p], kk = min(k, w)
            var chunk = [Float]()
            for r in 0..<rows { chunk += x[(r * cols + cuts[p])..<(r * cols + cuts[p] + w)] }
            let t = try topK(chunk, k: kk, shape: [rows, w], axis: 1)
            for r in 0..<rows { for j in 0..<kk { per[r].append((t.values[r * kk + j], Int64(t.indices[r * kk + j] + cuts[p]))) } }
        }
        for r in 0..<rows { for (v, i) in per[r] { cv.append(v); ci.append(i) } }
        let n = per[0].count
        var v = [Float](repeating: 0, count: rows * k), i = [Int64](repeating: 0, count: rows * k)
        try cv.withUnsafeBufferPointer { vb in
            try ci.withUnsafeBufferPointer { ib in
                try v.withUnsafeMutableBufferPointer { vo in
                    try i.withUnsafeMutableBufferPointer { io in
                        try mergeTopK(values: vb, indices: ib, intoValues: vo, indices: io,
                                      extents: Extents(outer: rows, n: n), k: k)
                    }
                }
            }
        }
        #expect(i.map { Int($0) } == want.indices)
        for j in 0..<v.count { #expect(v[j] == want.values[j] || (v[j].isNaN && want.values[j].isNaN)) }
    }

    @Test("masked state and finish over two chunks give maskedSoftmax; unselected exactly 0")
    func masked() throws {
        let x: [Double] = [1, .nan, 3, -2, 0.5, .infinity, 2, 4]
        let mask: [UInt8] = [1, 0, 1, 1, 0, 0, 1, 1]
        let want = try maskedSoftmax(x, mask: mask.map { $0 != 0 })
        var ms = [Double](repeating: 0, count: 2), ss = ms
        for (p, range) in [0..<4, 4..<8].enumerated() {
            let xc = Array(x[range]), mc = Array(mask[range])
            try xc.withUnsafeBufferPointer { xb in
                try mc.withUnsafeBufferPointer { mb in
                    try ms.withUnsafeMutableBufferPointer { mo in
                        try ss.withUnsafeMutableBufferPointer { so in
                            try maskedSoftmaxState(xb, mask: mb, max: UnsafeMutableBufferPointer(rebasing: mo[p..<p + 1]),
                                                   sum: UnsafeMutableBufferPointer(rebasing: so[p..<p + 1]),
                                                   extents: Extents(outer: 1, n: 4))
                        }
                    }
                }
            }
        }
        var m = [0.0], s = [0.0]
        try ms.withUnsafeBufferPointer { mi in
            try ss.withUnsafeBufferPointer { si in
                try m.withUnsafeMutableBufferPointer { mo in
                    try s.withUnsafeMutableBufferPointer { so in
                        try mergeSoftmaxStates(max: mi, sum: si, parts: 2, count: 1, intoMax: mo, sum: so)
                    }
                }
            }
        }
        var y = [Double]()
        for range in [0..<4, 4..<8] {
            let xc = Array(x[range]), mc = Array(mask[range])
            var out = [Double](repeating: 7, count: 4)
            try xc.withUnsafeBufferPointer { xb in
                try mc.withUnsafeBufferPointer { mb in
                    try m.withUnsafeBufferPointer { mm in
                        try s.withUnsafeBufferPointer { sm in
                            try out.withUnsafeMutableBufferPointer { ob in
                                try maskedSoftmaxFinish(xb, mask: mb, max: mm, sum: sm, into: ob, extents: Extents(outer: 1, n: 4))
                            }
                        }
                    }
                }
            }
            y += out
        }
        for j in 0..<8 {
            if mask[j] == 0 { #expect(y[j] == 0) } else { #expect(abs(y[j] - want[j]) <= 1e-15) }
        }
    }

    @Test("a target outside the classes throws and writes nothing")
    func crossEntropyRefusal() throws {
        let x: [Float] = [0, 1, 2, 3]
        let m: [Double] = [3, 3], s: [Double] = [1.5, 1.5]
        let t: [Int64] = [1, 9]
        var loss: [Double] = [7, 7]
        #expect(throws: SoftmaxKitError.self) {
            try x.withUnsafeBufferPointer { xb in
                try m.withUnsafeBufferPointer { mb in
                    try s.withUnsafeBufferPointer { sb in
                        try t.withUnsafeBufferPointer { tb in
                            try loss.withUnsafeMutableBufferPointer { lb in
                                try crossEntropyChunk(xb, max: mb, sum: sb, target: tb, probabilities: nil, weight: nil,
                                                      into: lb, extents: Extents(outer: 2, n: 2), offset: 0, classes: 4)
                            }
                        }
                    }
                }
            }
        }
        #expect(loss == [7, 7])
    }
}
