import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

@Suite("partitioned rows, segment softmax, hierarchical softmax, ensemble mean")
struct PartitionedTests {
    @Test("each segment gets its own activation (robot arm: 4 actions + 1 force)", arguments: [1, 3])
    func segmentsOfARow(rows: Int) throws {
        let n = 9
        let x: [Double] = randomValues(rows * n, seed: 21, scale: 5)
        let layout = [PartitionSegment(width: 4, activation: .softmax), .init(width: 1, activation: .identity),
                      .init(width: 2, activation: .sigmoid), .init(width: 1, activation: .tanh),
                      .init(width: 1, activation: .logSoftmax)]
        let y = try partitioned(x, layout: layout, shape: [rows, n])
        for r in 0..<rows {
            let row = Array(x[(r * n)..<(r * n + n)]), out = Array(y[(r * n)..<(r * n + n)])
            #expect(maxRelError(Array(out[0..<4]), refSoftmax(Array(row[0..<4]))) < 1e-14)  // the softmax contract
            #expect(out[4] == row[4])
            #expect(abs(out[5] - 1 / (1 + exp(-row[5]))) < 1e-16 && abs(out[7] - tanh(row[7])) < 1e-16)
            #expect(out[8] == 0)
        }
        #expect(RowActivation.allCases.map(\.name) == ["identity", "softmax", "log_softmax", "sigmoid", "tanh"])
        #expect(RowActivation(name: "log_softmax") == .logSoftmax && RowActivation(name: "relu") == nil)
    }

    @Test("widths that do not sum to n, and negative widths, are refused")
    func badLayout() throws {
        #expect(throwsKind(.shapeMismatch, mentioning: "widths sum to 4") {
            _ = try partitioned([1.0, 2, 3, 4, 5], layout: [.init(width: 4, activation: .softmax)])
        })
        #expect(throwsKind(.invalidArgument, mentioning: "negative width") {
            _ = try partitioned([1.0, 2], layout: [.init(width: 3, activation: .softmax), .init(width: -1, activation: .identity)])
        })
    }

    @Test("segment softmax normalises each CSR group; empty groups allowed", arguments: [[0, 3, 3, 4, 10], [0, 10], [0, 0, 10]])
    func segments(offsets: [Int]) throws {
        let x: [Float] = randomValues(20, seed: 4, scale: 8)
        let y = try segmentSoftmax(x, offsets: offsets, shape: [2, 10])
        for r in 0..<2 { for g in 0..<(offsets.count - 1) where offsets[g + 1] > offsets[g] {
            let range = (r * 10 + offsets[g])..<(r * 10 + offsets[g + 1])
            #expect(maxRelError(Array(y[range]), refSoftmax(Array(x[range]))) < 2e-6)
        } }
    }

    @Test("offsets that are not a partition of n are refused", arguments: [[1, 10], [0, 9], [0, 6, 4, 10], []])
    func badOffsets(offsets: [Int]) throws {
        #expect(throwsKind(.indexOutOfRange, mentioning: "offsets") { _ = try segmentSoftmax([Double](repeating: 0, count: 10), offsets: offsets) })
    }

    @Test("hierarchical joint = P(k) P(j|k), rows sum to 1; conditional = per-group softmax")
    func hierarchical() throws {
        let sizes = [3, 1, 5]
        let coarse: [Double] = randomValues(2 * 3, seed: 8), fine: [Double] = randomValues(2 * 9, seed: 9)
        let joint = try hierarchicalSoftmax(coarse: coarse, fine: fine, sizes: sizes)
        let cond = try hierarchicalSoftmax(coarse: coarse, fine: fine, sizes: sizes, conditional: true)
        for b in 0..<2 {
            let pc = refSoftmax(Array(coarse[(b * 3)..<(b * 3 + 3)]))
            var start = 0
            for (k, s) in sizes.enumerated() {
                let pf = refSoftmax(Array(fine[(b * 9 + start)..<(b * 9 + start + s)]))
                for j in 0..<s {
                    // probabilities <= 1: a few ulp of 1.0 absolute
                    #expect(abs(Float80(joint[b * 9 + start + j]) - pc[k] * pf[j]) < 1e-15)
                    #expect(abs(Float80(cond[b * 9 + start + j]) - pf[j]) < 1e-15)
                }
                start += s
            }
            #expect(abs(joint[(b * 9)..<(b * 9 + 9)].reduce(0, +) - 1) < 1e-15)
        }
    }

    @Test("sizes that do not match the fine logits are refused")
    func badSizes() throws {
        #expect(throwsKind(.shapeMismatch, mentioning: "fine") {
            _ = try hierarchicalSoftmax(coarse: [0.0, 0], fine: [Double](repeating: 0, count: 5), sizes: [3, 3])
        })
        #expect(throwsKind(.invalidArgument, mentioning: "sizes[1]") {
            _ = try hierarchicalSoftmax(coarse: [0.0, 0], fine: [Double](repeating: 0, count: 3), sizes: [3, 0])
        })
    }

    @Test("ensemble modes: arithmetic, renormalised geometric, mean of logits")
    func ensemble() throws {
        let a: [Double] = [0.1, 0.9, 0.5, 0.5], b: [Double] = [0.3, 0.7, 0.2, 0.8]
        let ar = try ensembleMean([a, b], shape: [2, 2])
        #expect(zip(ar, [0.2, 0.8, 0.35, 0.65]).allSatisfy { abs($0 - $1) < 1e-16 })
        let g = try ensembleMean([a, b], shape: [2, 2], mode: .geometric)
        let g0 = (0.1 * 0.3).squareRoot(), g1 = (0.9 * 0.7).squareRoot()
        #expect(abs(g[0] - g0 / (g0 + g1)) < 1e-15)
        let l = try ensembleMean([a, b], shape: [2, 2], mode: .logits)
        #expect(abs(l[0] - 1 / (1 + exp(0.8 - 0.2))) < 1e-15)
        #expect(throwsKind(.shapeMismatch, mentioning: "members[1]") { _ = try ensembleMean([a, [0.5, 0.5]]) })
        #expect(throwsKind(.invalidArgument, mentioning: "at least one") { _ = try ensembleMean([[Double]]()) })
    }

    @Test("a layout buffer partly under y is refused and nothing is written")
    func layoutOverlappingOutput() throws {
        let e = try Extents(outer: 2, n: 5)
        let x = [Float](repeating: 1, count: e.count)
        let stride = MemoryLayout<PartitionSegment>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 2 * stride + 4 * e.count, alignment: 16)
        defer { raw.deallocate() }
        let layout = raw.bindMemory(to: PartitionSegment.self, capacity: 2)
        layout.initialize(to: PartitionSegment(width: 2, activation: .softmax))
        (layout + 1).initialize(to: PartitionSegment(width: 3, activation: .sigmoid))
        let before = Array(UnsafeRawBufferPointer(start: raw, count: 2 * stride))
        // y starts inside the second segment.
        let y = UnsafeMutableBufferPointer(start: (raw + stride + 8).assumingMemoryBound(to: Float.self), count: e.count)
        x.withUnsafeBufferPointer { x in
            #expect(throwsKind(.invalidArgument, mentioning: "overlap") {
                try partitioned(x, layout: UnsafeBufferPointer(start: layout, count: 2), into: y, extents: e)
            })
        }
        #expect(Array(UnsafeRawBufferPointer(start: raw, count: 2 * stride)) == before)
    }
}
