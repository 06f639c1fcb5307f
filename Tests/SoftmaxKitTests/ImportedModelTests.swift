import Foundation
import Testing
@testable import SoftmaxKit

// Models converted by the Python importers, in Tests/fixtures/import/:
// softmaxkit.from_onnx on torch.onnx exports (make_onnx_fixtures.py, with
// ONNX Runtime's outputs) and softmaxkit.from_keras on the example Keras
// networks (make_keras_fixtures.py, with Keras' predict outputs; the averaging
// network as an ensemble manifest). The converted files load unchanged here
// and agree within 1e-5 absolute.

private let importFixtures: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/SoftmaxKitTests/ImportedModelTests.swift
    return parts.joined(separator: "/") + "/Tests/fixtures/import"
}()

private func readFixture(_ name: String) throws -> [(name: String, shape: [Int], values: [Double])] {
    let text = try String(contentsOfFile: "\(importFixtures)/\(name).txt", encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    var tensors: [(name: String, shape: [Int], values: [Double])] = []
    var k = 0
    while k + 1 < lines.count {
        let head = lines[k].split(separator: " ")
        tensors.append((String(head[0]), head.dropFirst(2).map { Int($0)! }, lines[k + 1].split(separator: " ").map { Double($0)! }))
        k += 2
    }
    return tensors
}

@Suite struct ImportedModelTests {
    @Test(arguments: ["mlp_multihead", "mlp_gelu", "lstm_steps", "lstm_final", "gru_bidirectional", "embedding_tagger", "sklearn_mlp", "steps_folded",
                      "keras_multitask", "keras_timesteps", "keras_partitioned", "keras_masked", "keras_hierarchical"])
    func matchesSourceFramework(_ name: String) throws {
        let model = try Model(contentsOf: "\(importFixtures)/\(name).safetensors")
        let fx = try readFixture(name)
        let input = fx[0]
        let outputs: [String: [Float]]
        if input.name == "ids" {
            outputs = try model(ids: input.values.map { Int64($0) }, shape: input.shape, lengths: nil)
        } else {
            outputs = try model(input.values.map { Float($0) }, shape: input.shape)
        }
        #expect(model.heads.map(\.name) == fx.dropFirst().map { String($0.name.dropFirst(4)) })
        for h in model.heads {
            let want = try #require(fx.first { $0.name == "out.\(h.name)" })
            let got = try #require(outputs[h.name])
            #expect(got.count == want.values.count, "\(name) head \(h.name)")
            for (g, w) in zip(got, want.values) {
                #expect(abs(Double(g) - w) <= 1e-5, "\(name) head \(h.name): \(g) vs \(w)")
            }
        }
    }

    /// The Keras network averaging two models' softmax outputs, read from its manifest.
    @Test func kerasEnsembleManifestMatchesKeras() throws {
        let ensemble = try Ensemble(manifest: "\(importFixtures)/keras_ensemble.ensemble.json")
        #expect(ensemble.models.count == 2 && ensemble.mode == .arithmetic)
        let fx = try readFixture("keras_ensemble")
        let (x, want) = (fx[0], fx[1])
        let head = try #require(ensemble.models.first?.heads.first?.name)
        #expect(want.name == "out.\(head)")
        let got = try #require(try ensemble(x.values.map { Float($0) }, shape: x.shape)[head])
        #expect(got.count == want.values.count)
        for (g, w) in zip(got, want.values) { #expect(abs(Double(g) - w) <= 1e-5, "\(g) vs \(w)") }
    }

    @Test func dotDrawsLayersAndHeads() throws {
        let model = try Model(contentsOf: "\(importFixtures)/gru_bidirectional.safetensors")
        let dot = model.dot()
        #expect(dot.hasPrefix("digraph model {"))
        #expect(dot.hasSuffix("}\n"))
        #expect(dot.contains("gru 8 -> 12 x2 bidirectional"))
        #expect(dot.contains("final state"))
        #expect(dot.contains("\"head:tags\""))
        #expect(dot.contains("log_softmax [5]"))
        #expect(dotEscape("a\"b\\c\nd\u{1}") == "a\\\"b\\\\c\\nd")
    }
}
