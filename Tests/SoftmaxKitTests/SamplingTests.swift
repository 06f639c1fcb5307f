import Foundation
import Testing
@testable import SoftmaxKit

// Sampling from the Swift API: the committed fixture of draws (shared with
// the C and Python tests), Philox's known answers, greedy against argmax,
// distinct draws, rows with nothing to draw from, and every bad option.
// The chi-square fits over 10^6 draws live in the Python suite
// (bindings/python/tests/test_sampling.py), which has scipy's chi-square law.

private let samplingRepository: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/SoftmaxKitTests/SamplingTests.swift
    return parts.joined(separator: "/")
}()

private let fixtureSeed: UInt64 = 20261206

/// The fixture's logits: element q of the flat tensor (exact in Double).
private func fixtureLogits(_ count: Int) -> [Double] {
    (0..<count).map { (q: Int) -> Double in
        let step: Int = (q * 7919 + 104729) % 1000
        return Double(step) / 100.0 - 5.0
    }
}

@Suite("sampling")
struct SamplingTests {
    @Test("Philox-4x32-10 gives Random123's known answers")
    func philoxKnownAnswers() {
        let a = Philox.block(counter: (0, 0, 0, 0), key: (0, 0))
        #expect([a.0, a.1, a.2, a.3] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])
        let b = Philox.block(counter: (.max, .max, .max, .max), key: (.max, .max))
        #expect([b.0, b.1, b.2, b.3] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD])
        let c = Philox.block(counter: (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), key: (0xA4093822, 0x299F31D0))
        #expect([c.0, c.1, c.2, c.3] == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1])
    }

    @Test("the committed fixture of draws (same as from C and Python)")
    func fixture() throws {
        let text = try String(contentsOfFile: "\(samplingRepository)/Tests/fixtures/sampling_draws.txt", encoding: .utf8)
        var want: [String: [Int]] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            want[String(f[0])] = f.dropFirst().map { Int($0)! }
        }
        let pattern = (0..<37).map { $0 % 3 != 0 }
        let x32 = fixtureLogits(3 * 37).map { Float($0) }
        #expect(try sample(x32, shape: [3, 37], temperature: 0.7, numSamples: 6, seed: fixtureSeed).indices == want["plain"])
        #expect(try sample(x32, shape: [3, 37], topK: 5, topP: 0.9, numSamples: 6, seed: fixtureSeed).indices == want["topk_topp"])
        #expect(try sample(x32, shape: [3, 37], temperature: 1.3, minP: 0.05, mask: pattern, numSamples: 6,
                           seed: fixtureSeed).indices == want["minp_mask"])
        #expect(try sample(x32, shape: [3, 37], numSamples: 4, replacement: false, seed: fixtureSeed).indices == want["distinct"])
        let x64 = fixtureLogits(2 * 37 * 3)
        #expect(try sample(x64, shape: [2, 37, 3], axis: 1, topP: 0.8, numSamples: 5, seed: fixtureSeed,
                           rowOffset: 7).indices == want["strided_f64"])
    }

    @Test("greedy is argmax; distinct draws; rows with nothing to draw from")
    func greedyDistinctAndBadRows() throws {
        let x: [Float] = [1, 5, 2, 5, 0, 3,
                          -.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity,
                          1, .nan, 2, 3, 4, 5]
        let g = try sample(x, shape: [3, 6], temperature: 0, seed: 1)
        #expect(g.indices == [1, -1, -1])
        #expect(g.logProbs[0] == 0 && g.logProbs[1].isNaN && g.logProbs[2].isNaN)
        #expect(try argmax(Array(x[0..<6])) == [g.indices[0]])
        let d = try sample(x, shape: [3, 6], numSamples: 6, replacement: false, seed: 2)
        #expect(Set(d.indices[0..<6]).count == 6)
        #expect(d.indices[6...].allSatisfy { $0 == -1 })
        let masked = try sample([Float](repeating: 0, count: 12), shape: [2, 6],
                                mask: [false, false, false, false, false, false, true, false, true, false, false, false],
                                numSamples: 50, seed: 3)
        #expect(masked.indices[0..<50].allSatisfy { $0 == -1 })
        #expect(masked.indices[50...].allSatisfy { $0 == 0 || $0 == 2 })
    }

    @Test("log-probabilities of a subnormal tail drawn without replacement stay at or below 0")
    func subnormalTailLogProbs() throws {
        // Every position drawn without replacement reaches weights of e^-97,
        // float32 subnormals: the log of the weight's exponent alone, against a
        // total summed from the coarse subnormal weights, gave up to +1.9e-4.
        let x: [Float] = [-32, -32, -32, 87.6979141, 60.96875, -8.89583302, 96.625, -22.78125, -93.6666641,
                          70.6458359, 6.95833349, -70.28125, -92.9583359, 104.114586, -53.7083321, -60.1354179,
                          -89.8541641, 93.0520859, -62.75, -94.4583359, -14.677083]
        for seed in UInt64(0)..<20 {
            let d = try sample(x, numSamples: x.count, replacement: false, seed: seed)
            let drawn = d.indices.indices.filter { d.indices[$0] >= 0 }
            #expect(Set(drawn.map { d.indices[$0] }).count == 7)  // the last, e^-97, a subnormal
            #expect(drawn.allSatisfy { d.logProbs[$0] <= 0 })
            #expect(d.logProbs[drawn.last!] == 0)
            #expect(d.indices.indices.filter { d.indices[$0] < 0 }.allSatisfy { d.logProbs[$0].isNaN })
        }
    }

    @Test("a row alone with its row offset draws what it draws in a batch")
    func rowOffset() throws {
        let x: [Double] = randomValues(40 * 50, seed: 9, scale: 2)
        let batch = try sample(x, shape: [40, 50], topK: 20, topP: 0.95, numSamples: 3, seed: 77)
        let alone = try sample(Array(x[(17 * 50)..<(18 * 50)]), topK: 20, topP: 0.95, numSamples: 3, seed: 77, rowOffset: 17)
        #expect(alone.indices == Array(batch.indices[(17 * 3)..<(18 * 3)]))
        #expect(alone.logProbs == Array(batch.logProbs[(17 * 3)..<(18 * 3)]))
    }

    @Test("every bad option is a clear error")
    func badOptions() {
        let x: [Float] = [1, 2, 3, 4]
        func fails(_ words: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("no error for \(words)")
            } catch let error as SoftmaxKitError {
                #expect(error.kind == .invalidArgument && error.message.contains(words), "\(error.message)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        fails("temperature") { _ = try sample(x, temperature: -1, seed: 0) }
        fails("temperature") { _ = try sample(x, temperature: .nan, seed: 0) }
        fails("temperature") { _ = try sample(x, temperature: 1e-300, seed: 0) }
        fails("top_k") { _ = try sample(x, topK: -2, seed: 0) }
        fails("top_p") { _ = try sample(x, topP: 0, seed: 0) }
        fails("top_p") { _ = try sample(x, topP: 1.01, seed: 0) }
        fails("min_p") { _ = try sample(x, minP: -1, seed: 0) }
        fails("num_samples") { _ = try sample(x, numSamples: 0, seed: 0) }
        fails("num_samples") { _ = try sample(x, numSamples: 5, replacement: false, seed: 0) }
        fails("num_samples") { _ = try sample(x, topK: 2, numSamples: 3, replacement: false, seed: 0) }
        fails("axis") { _ = try sample(x, axis: 1, seed: 0) }
    }
}
