import Foundation
import Testing
import SoftmaxKit
@testable import smk

// `smk info` and `smk run` on the bundled sequence models: recurrent layers
// shown with their structure, [batch, steps, features] and token-id inputs,
// --lengths, and the errors of each.

private let repository: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/smkTests/SequenceCommandTests.swift
    return parts.joined(separator: "/")
}()

private func model(_ name: String) -> ModelOptions { ModelOptions(model: "\(repository)/examples/models/\(name).safetensors") }
private func input(_ name: String) -> String { "\(repository)/examples/models/\(name).input.npy" }

/// The table rows of `text` whose first cell is `first`.
private func row(_ text: String, _ first: String) -> String? {
    text.split(separator: "\n").map(String.init).first { $0.hasPrefix(first + " ") }
}

@Suite("smk on sequence models")
struct SequenceCommandTests {
    @Test("parse --lengths")
    func parseLengths() throws {
        let run = try parseArguments(["run", "m", "--input", "x.npy", "--lengths", "3,0, 2"], version: "1")
        #expect(run == .run(RunOptions(model: ModelOptions(model: "m"), input: "x.npy", json: false, lengths: [3, 0, 2])))
        for bad in ["3,-1", "a", "3,,2", "2.5", ""] {
            #expect(throws: UsageError.self) { try parseArguments(["run", "m", "--input", "x", "--lengths=\(bad)"], version: "1") }
        }
        guard case .help(let text) = try parseArguments(["help", "run"], version: "1") else { Issue.record("help run"); return }
        #expect(text.contains("--lengths N,N,..."))
    }

    @Test("info shows the LSTM trunk, its units and sequence output, and the step each head reads")
    func infoTimesteps() throws {
        let text = try Info(options: model("timesteps")).render()
        #expect(text.contains("16 features ([batch, steps, 16]"))
        let lstm = try #require(row(text, "lstm"))
        let lstmParameters: Int = 4 * 64 * (16 + 64) + 8 * 64
        let parts: [String] = ["lstm", "16 -> 64", "units 64", "layers 1", "sequence (every step)", String(lstmParameters)]
        for part in parts {
            #expect(lstm.contains(part), "\(lstm)")
        }
        #expect(!lstm.contains("bidirectional"))
        let dense = try #require(row(text, "dense_2"))
        #expect(dense.contains("step 2") && dense.contains("64 -> 10") && dense.contains("650"), "\(dense)")
        let head = try #require(row(text, "output_1"))
        #expect(head.contains("per sequence [batch, 10]"), "\(head)")
    }

    @Test("info shows a vocabulary input and the embedding")
    func infoTagger() throws {
        let text = try Info(options: model("tagger")).render()
        #expect(text.contains("token ids, vocabulary 100"))
        let emb = try #require(row(text, "embedding"))
        #expect(emb.contains("vocabulary 100, width 16") && emb.contains("1600"), "\(emb)")
        let head = try #require(row(text, "tags"))
        #expect(text.contains("per step [batch, steps, 5]"), "\(head)")
    }

    @Test("run a [batch, steps, features] input: per-sequence heads print one row per sequence")
    func runSteps() throws {
        let text = try Run(options: model("timesteps"), input: input("timesteps"), json: false).render()
        #expect(text.contains("output_0 (softmax, 2 x 10)"))
        let json = try Run(options: model("timesteps"), input: input("timesteps"), json: true).render()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [[Double]]])
        #expect(parsed["output_2"]?.count == 2 && parsed["output_2"]?[0].count == 10)
        #expect(abs((parsed["output_2"]?[1].reduce(0, +) ?? 0) - 1) < 1e-5)
    }

    @Test("run token ids with --lengths: padding steps are 0, valid ones sum to 1")
    func runIdsWithLengths() throws {
        let json = try Run(options: model("tagger"), input: input("tagger"), json: true, lengths: [3, 6]).render()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [[[Double]]]])
        let tags = try #require(parsed["tags"])
        #expect(tags.count == 2 && tags[0].count == 6 && tags[0][0].count == 5)
        for t in 0..<6 {
            #expect(abs(tags[1][t].reduce(0, +) - 1) < 1e-5)
            #expect(t < 3 ? abs(tags[0][t].reduce(0, +) - 1) < 1e-5 : tags[0][t].allSatisfy { $0 == 0 })
        }
        let table = try Run(options: model("tagger"), input: input("tagger"), json: false).render()
        #expect(table.contains("tags (softmax, 2 x 6 x 5)") && table.contains("1,5"))
    }

    @Test("bad lengths, float ids and ids outside the vocabulary are errors naming the problem")
    func runErrors() throws {
        func message(_ r: Run) -> String {
            do { _ = try r.render(); return "" } catch { return "\(error)" }
        }
        #expect(message(Run(options: model("tagger"), input: input("tagger"), json: false, lengths: [3, 7])).contains("7"))
        #expect(message(Run(options: model("tagger"), input: input("tagger"), json: false, lengths: [3])).contains("length"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smk-seq-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let floats = dir.appendingPathComponent("ids.csv").path
        try "1,2.5,3\n".write(toFile: floats, atomically: true, encoding: .utf8)
        #expect(message(Run(options: model("tagger"), input: floats, json: false)).contains("not an integer"))
        let outside = dir.appendingPathComponent("outside.csv").path
        try "1,100,3\n".write(toFile: outside, atomically: true, encoding: .utf8)
        let m = message(Run(options: model("tagger"), input: outside, json: false))
        #expect(m.contains("100") && m.contains("vocabulary"), "\(m)")
        // A CSV of whole numbers is one sequence of ids.
        let ok = dir.appendingPathComponent("ok.csv").path
        try "1,2,3\n".write(toFile: ok, atomically: true, encoding: .utf8)
        #expect(try Run(options: model("tagger"), input: ok, json: false).render().contains("tags (softmax, 1 x 3 x 5)"))
    }
}
