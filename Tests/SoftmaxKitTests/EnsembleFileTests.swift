#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import SoftmaxKit

/// A GRU tagger over `input` (float features or token ids) with a per-step
/// softmax head "p", a per-step identity head "v" and a head "last" on step 1.
private func sequenceMember(_ seed: UInt64, ids: Bool = false) throws -> Model {
    let input = ids ? "{\"vocabulary\": 9}" : "{\"features\": 3}"
    let first = ids ? "{\"name\": \"emb\", \"kind\": \"embedding\", \"input\": \"input\"}, " : ""
    let rnnInput = ids ? "emb" : "input"
    let spec = """
    {"softmaxkit": 1, "input": \(input),
     "layers": [\(first){"name": "rnn", "kind": "gru", "input": "\(rnnInput)", "units": 4, "sequence": true},
                {"name": "out", "input": "rnn"}, {"name": "at1", "input": "rnn", "step": 1}],
     "heads": [{"name": "p", "layer": "out", "output": "softmax"}, {"name": "v", "layer": "out", "output": "identity"},
               {"name": "last", "layer": "at1", "output": "log_softmax"}]}
    """
    var rng = LCG(state: seed)
    func t(_ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, rng.array(shape.reduce(1, *), 1)) }
    var w: [String: Tensor] = [
        "rnn.weight_ih_l0": try t([12, 3]), "rnn.weight_hh_l0": try t([12, 4]), "rnn.bias_ih_l0": try t([12]),
        "rnn.bias_hh_l0": try t([12]), "out.weight": try t([5, 4]), "at1.weight": try t([6, 4]),
    ]
    if ids { w["emb.weight"] = try t([9, 3]) }
    return try Model(spec: try ModelSpec(json: spec), weights: w)
}

/// Head `h`'s draws as the plain sample call gives them on the log of `values`.
private func expectedDraws(_ values: [Float], width: Int, head: Int, seed: UInt64, rowOffset: UInt64 = 0,
                           log: Bool = true) throws -> [Int] {
    let z = log ? values.map { Float.libmLog($0) } : values
    return try sample(z, shape: [values.count / width, width], seed: seed,
                      rowOffset: UInt64(head) &* Model.sampleHeadStride &+ rowOffset).indices
}

private let scratch: String = {
    let dir = "/tmp/smk-ensemble-file-tests-\(getpid())"
    mkdir(dir, 0o700)
    return dir
}()

@Suite("Ensembles: sampling sequences, files, DOT")
struct EnsembleFileTests {
    @Test("SHA-256 against known digests, around the block edges")
    func sha256() {
        func hex(_ s: String) -> String { Array(s.utf8).withUnsafeBytes { Ensemble.sha256Hex($0) } }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(String(repeating: "a", count: 64)) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
        #expect(hex(String(repeating: "a", count: 55)) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(hex(String(repeating: "a", count: 56)) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
    }

    @Test("sampling with lengths draws from the combined output; padding gives -1")
    func lengths() throws {
        for mode in EnsembleMode.allCases {
            let e = try Ensemble(models: [try sequenceMember(1), try sequenceMember(2)], mode: mode)
            var rng = LCG(state: 3)
            let x = rng.array(3 * 4 * 3, 2)
            let lengths = [4, 1, 0]
            let plain = try e(x, shape: [3, 4, 3], lengths: lengths)
            let r = try e(x, shape: [3, 4, 3], lengths: lengths, sample: ["p": SamplingOptions(temperature: 0.8)], seed: 9)
            var want = try sample(plain["p"]!.map { Float.libmLog($0) }, shape: [12, 5], temperature: 0.8, seed: 9).indices
            for b in 0..<3 { for t in lengths[b]..<4 { want[b * 4 + t] = -1 } }
            #expect(r.indices["p"] == want)
            #expect(r.outputs["v"] == plain["v"])
            #expect(r.logProbs["p"]!.enumerated().allSatisfy { $0.element.isNaN == (want[$0.offset] == -1) })
            // The per-sequence log_softmax head: its values are the logits.
            let last = try e(x, shape: [3, 4, 3], lengths: lengths, sample: ["last": SamplingOptions(rowOffset: 5)], seed: 9)
            #expect(last.indices["last"] == (try expectedDraws(plain["last"]!, width: 6, head: 2, seed: 9, rowOffset: 5, log: false)))
        }
    }

    @Test("sampling an ensemble of token ids")
    func ids() throws {
        let e = try Ensemble(models: [try sequenceMember(4, ids: true), try sequenceMember(5, ids: true)], mode: .geometric)
        let ids: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8]
        let plain = try e(ids: ids, shape: [2, 4], lengths: [4, 2])
        let r = try e(ids: ids, shape: [2, 4], lengths: [4, 2], sample: ["p": SamplingOptions()], seed: 4)
        var want = try expectedDraws(plain["p"]!, width: 5, head: 0, seed: 4)
        want[6] = -1; want[7] = -1
        #expect(r.indices["p"] == want)
        #expect(throws: SoftmaxKitError.self) { _ = try e(ids: [9, 1], shape: [1, 2], sample: ["p": SamplingOptions()], seed: 1) }
        let floats = try Ensemble(models: [try sequenceMember(1)])
        #expect(throws: SoftmaxKitError.self) { _ = try floats(ids: [1, 1], shape: [1, 2], sample: ["p": SamplingOptions()], seed: 1) }
    }

    @Test("a sampled step draws from the step's combined output; a head not ready gives -1")
    func step() throws {
        let e = try Ensemble(models: [try sequenceMember(1), try sequenceMember(2)], mode: .arithmetic)
        let s = try e.makeState(batch: 2), ref = try e.makeState(batch: 2)
        var rng = LCG(state: 8)
        for t in 0..<3 {
            let x = rng.array(2 * 3, 2)
            let o = SamplingOptions(rowOffset: UInt64(2 * t))
            let r = try e.step(x, state: s, sample: ["p": o, "last": o], seed: 5)
            let plain = try e.step(x, state: ref)
            #expect(r.indices["p"] == (try expectedDraws(plain["p"]!, width: 5, head: 0, seed: 5, rowOffset: UInt64(2 * t))))
            #expect(r.outputs["v"] == plain["v"])
            if t == 1 {
                #expect(r.indices["last"]!.allSatisfy { $0 >= 0 })
            } else {
                #expect(r.indices["last"] == [-1, -1])  // not the tick of step 1: nothing to draw from
            }
        }
        // A refused option neither writes nor advances the state.
        let fresh = try e.makeState(batch: 2)
        #expect(throws: SoftmaxKitError.self) {
            _ = try e.step([Float](repeating: 0, count: 6), state: fresh, sample: ["p": SamplingOptions(topP: 2)], seed: 1)
        }
        #expect(fresh.steps == 0)
        #expect(throws: SoftmaxKitError.self) { _ = try e.step([Float](repeating: 0, count: 6), state: fresh, sample: ["v": SamplingOptions()], seed: 1) }
    }

    @Test("save and load a manifest; a padding id survives")
    func roundTrip() throws {
        let a = try sequenceMember(4, ids: true), b = try sequenceMember(5, ids: true)
        let e = try Ensemble(models: [a, b], mode: .logits, paddingID: 0)
        let path = "\(scratch)/t.ensemble.json"
        let written = try e.save(to: path)
        #expect(written == ["\(scratch)/t.member0.safetensors", "\(scratch)/t.member1.safetensors", path])
        let again = try Ensemble(manifest: path)
        #expect(again.mode == .logits && again.paddingID == 0 && again.models.count == 2)
        let ids: [Int32] = [1, 2, 3, 0]
        #expect(try again(ids: ids, shape: [1, 4]) == (try e(ids: ids, shape: [1, 4])))
        #expect(throws: SoftmaxKitError.self) { _ = try Ensemble(models: [a], paddingID: 9) }
        #expect(throws: SoftmaxKitError.self) { _ = try Ensemble(models: [try sequenceMember(1)], paddingID: 0) }
    }

    @Test("hostile manifests are clear errors", arguments: [
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"../x.safetensors\"]}", SoftmaxKitError.Kind.format, "leaves the manifest's folder"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"/etc/passwd\"]}", .format, "is absolute"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"a/./../../b\"]}", .format, "leaves"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"missing.safetensors\"]}", .io, "members[0] \"missing.safetensors\""),
        ("{\"softmaxkit_ensemble\": 1, \"members\": []}", .format, "non-empty list"),
        ("{\"softmaxkit_ensemble\": 2, \"members\": [\"a\"]}", .format, "version 2"),
        ("{\"softmaxkit_ensemble\": 1, \"mode\": 3, \"members\": [\"a\"]}", .format, "mode 3 is unknown"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [{\"path\": \"a\", \"size\": 1}]}", .format, "must be a path"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"a\"], \"padding_id\": 1.5}", .format, "non-negative integer"),
        ("[1, 2]", .format, "no \"softmaxkit_ensemble\" key"),
        ("{\"softmaxkit_ensemble\": 1, \"members\": [\"fifo\"]}", .io, "not a regular file"),
    ])
    func hostile(_ text: String, _ kind: SoftmaxKitError.Kind, _ message: String) throws {
        let dir = "\(scratch)/hostile"
        mkdir(dir, 0o700)
        mkfifo("\(dir)/fifo", 0o600)
        // One manifest per case: the cases run in parallel.
        let path = "\(dir)/m\(UInt(bitPattern: text.utf8.reduce(0) { $0 &* 31 &+ Int($1) })).json"
        try writeFile(path, Array(text.utf8))
        do {
            _ = try Ensemble(manifest: path)
            Issue.record("loaded \(text)")
        } catch {
            #expect(error.kind == kind, "\(error.message)")
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.message.hasPrefix(path), "\(error.message)")
        }
    }

    @Test("a member whose bytes changed is refused by its SHA-256")
    func digest() throws {
        let e = try Ensemble(models: [try sequenceMember(1), try sequenceMember(2)])
        let path = "\(scratch)/d.json"
        try e.save(to: path)
        try writeFile("\(scratch)/d.member0.safetensors", try sequenceMember(2).serialized())
        #expect(throws: SoftmaxKitError.self) { _ = try Ensemble(manifest: path) }
        do { _ = try Ensemble(manifest: path) } catch { #expect(error.message.contains("SHA-256 differs")) }
    }

    @Test("a model file keeps its padding id; paddingLengths")
    func padding() throws {
        let m = try sequenceMember(4, ids: true)
        var spec = m.spec
        spec.input.paddingID = 0
        let padded = try Model(spec: spec, weights: m.weights)
        let bytes = padded.serialized()
        let again = try bytes.withUnsafeBytes { (b) throws(SoftmaxKitError) in try Model(safetensors: b) }
        #expect(again.paddingID == 0 && m.paddingID == nil)
        // An ensemble takes its members' common padding id; a given one wins.
        #expect(try Ensemble(models: [padded, again]).paddingID == 0)
        #expect(try Ensemble(models: [padded, m]).paddingID == nil)
        #expect(try Ensemble(models: [padded, m], paddingID: 3).paddingID == 3)
        let ids: [Int64] = [3, 4, 0, 0, 5, 6, 7, 8]
        #expect(try ids.withUnsafeBufferPointer { try paddingLengths($0, batch: 2, steps: 4, paddingID: 0) } == [2, 4])
        #expect(throws: SoftmaxKitError.self) {
            _ = try ids.withUnsafeBufferPointer { try paddingLengths($0, batch: 1, steps: 8, paddingID: 0) }
        }
        spec.input.paddingID = 9
        #expect(throws: SoftmaxKitError.self) { _ = try ModelSpec(json: spec.json) }
    }

    @Test("the DOT graph: one cluster per member, the shared input, the combined heads")
    func dot() throws {
        let e = try Ensemble(models: [try sequenceMember(1), try sequenceMember(2)], mode: .geometric)
        let d = e.dot()
        #expect(d.hasPrefix("digraph ensemble {\n") && d.hasSuffix("}\n"))
        #expect(d.components("subgraph cluster_member") == 2)
        #expect(d.components("\"input\" [shape=oval") == 1)
        #expect(d.contains("\"input\" -> \"m1:layer:rnn\";"))
        #expect(d.contains("\"m0:layer:rnn\" -> \"m0:layer:at1\" [label=\"step 1\"];"))
        #expect(d.contains("\"ensemble:p\" [shape=ellipse, label=\"p\\ngeometric mean [5]\"];"))
        #expect(d.contains("\"m1:head:last\" -> \"ensemble:last\";"))
        #expect(d == e.dot())
    }
}

extension String {
    fileprivate func components(_ needle: String) -> Int { ranges(of: needle).count }
}
