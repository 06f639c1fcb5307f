import Testing
@testable import SoftmaxKit

/// A model whose heads read one 10-unit layer: "action" softmax (temperature
/// 2), "raw" identity (the logits), "legal" masked_softmax, "gate" sigmoid.
private func samplingModel() throws -> Model {
    let spec = """
    {"softmaxkit": 1, "input": {"features": 6},
     "layers": [{"name": "fc1", "input": "input", "activation": "tanh"}, {"name": "out", "input": "fc1"}],
     "heads": [{"name": "action", "layer": "out", "output": "softmax", "temperature": 2},
               {"name": "raw", "layer": "out", "output": "identity"},
               {"name": "legal", "layer": "out", "output": "masked_softmax", "mask": [1, 1, 0, 1, 0, 1, 1, 1, 1, 0]},
               {"name": "gate", "layer": "out", "output": "sigmoid"}]}
    """
    var rng = LCG(state: 5)
    func t(_ shape: [Int], _ bound: Float) throws -> Tensor { try Tensor(shape: shape, rng.array(shape.reduce(1, *), bound)) }
    return try Model(spec: try ModelSpec(json: spec), weights: [
        "fc1.weight": try t([12, 6], 1), "fc1.bias": try t([12], 0.5),
        "out.weight": try t([10, 12], 2), "out.bias": try t([10], 1),
    ])
}

@Suite("model sampling")
struct ModelSamplingTests {
    let rows = 40

    @Test("sampled heads draw what sample() draws on their logits, with the head's stream rows")
    func equalsPlainSample() throws {
        let m = try samplingModel()
        var rng = LCG(state: 8)
        let x = rng.array(rows * 6, 2)
        let plain = try m(x, shape: [rows, 6])
        let logits = plain["raw"]!
        let opts = SamplingOptions(temperature: 0.8, topK: 5, topP: 0.95, numSamples: 2, rowOffset: 3)
        let r = try m(x, shape: [rows, 6], sample: ["action": opts, "legal": SamplingOptions(minP: 0.05)], seed: 21)
        #expect(r.outputs["raw"] == logits)
        #expect(r.outputs["gate"] == plain["gate"])
        #expect(r.outputs["action"] == nil && r.outputs["legal"] == nil)
        // action is head 0: temperature 0.8 * 2, row offset 3.
        let want = try sample(logits, shape: [rows, 10], temperature: 1.6, topK: 5, topP: 0.95, numSamples: 2, seed: 21, rowOffset: 3)
        #expect(r.indices["action"] == want.indices)
        #expect(r.logProbs["action"] == want.logProbs)
        // legal is head 2: its mask, stream rows from 2 * 2^48.
        let mask = [1, 1, 0, 1, 0, 1, 1, 1, 1, 0].map { $0 == 1 }
        let legal = try sample(logits, shape: [rows, 10], minP: 0.05, mask: mask, seed: 21, rowOffset: 2 << 48)
        #expect(r.indices["legal"] == legal.indices)
        #expect(!r.indices["legal"]!.contains { !mask[$0] })
        // Reproducible.
        let again = try m(x, shape: [rows, 6], sample: ["action": opts, "legal": SamplingOptions(minP: 0.05)], seed: 21)
        #expect(again.indices == r.indices)
    }

    @Test("sampled heads' outputs are written too when given a buffer")
    func outputsAlongside() throws {
        let m = try samplingModel()
        var rng = LCG(state: 9)
        let x = rng.array(rows * 6, 2)
        let plain = try m(x, shape: [rows, 6])
        var outs = m.heads.map { [Float](repeating: 0, count: rows * $0.size) }
        var idx = [[Int]](repeating: [Int](repeating: 0, count: rows), count: m.heads.count)
        let sampling: [SamplingOptions?] = [SamplingOptions(), nil, nil, nil]
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ob) throws(SoftmaxKitError) in
                try withMutableBuffers(&idx) { (ib) throws(SoftmaxKitError) in
                    try m.forward(xb, batch: rows, features: 6, sampling: sampling, seed: 4, into: ob, indices: ib,
                                  logProbs: [nil, nil, nil, nil])
                }
            }
        }
        #expect(outs[0] == plain["action"]!)
        #expect(idx[0] == (try sample(plain["raw"]!, shape: [rows, 10], temperature: 2, seed: 4).indices))
    }

    @Test("non-softmax heads, unknown names and bad options are errors")
    func errors() throws {
        let m = try samplingModel()
        let x = [Float](repeating: 0.5, count: 12)
        for head in ["raw", "gate"] {
            #expect(throws: SoftmaxKitError.self) { _ = try m(x, shape: [2, 6], sample: [head: SamplingOptions()], seed: 1) }
            do {
                _ = try m(x, shape: [2, 6], sample: [head: SamplingOptions()], seed: 1)
            } catch {
                #expect(error.kind == .unsupported)
                #expect(error.message.contains("head \"\(head)\""))
            }
        }
        do {
            _ = try m(x, shape: [2, 6], sample: ["nope": SamplingOptions()], seed: 1)
            Issue.record("an unknown head was accepted")
        } catch {
            #expect(error.kind == .invalidArgument && error.message.contains("no head named \"nope\""))
        }
        for bad in [SamplingOptions(temperature: -1), SamplingOptions(topP: 0), SamplingOptions(minP: 2),
                    SamplingOptions(numSamples: 0), SamplingOptions(numSamples: 11, replacement: false)] {
            do {
                _ = try m(x, shape: [2, 6], sample: ["action": bad], seed: 1)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.kind == .invalidArgument && error.message.contains("head \"action\""))
            }
        }
        // Temperature times the head's overflowing is an error, not inf.
        #expect(throws: SoftmaxKitError.self) {
            _ = try m(x, shape: [2, 6], sample: ["action": SamplingOptions(temperature: .greatestFiniteMagnitude)], seed: 1)
        }
    }

    @Test("an ensemble samples the log of its combined output")
    func ensemble() throws {
        let a = try samplingModel()
        let b = try Model(spec: a.spec, weights: a.weights.mapValues { t in
            (try? Tensor(shape: t.shape, t.floats.map { $0 * 0.7 + 0.01 })) ?? t
        })
        let e = try Ensemble(models: [a, b], mode: .arithmetic)
        var rng = LCG(state: 10)
        let x = rng.array(rows * 6, 2)
        let r = try e(x, shape: [rows, 6], sample: ["action": SamplingOptions(topK: 4)], seed: 2)
        let p = try e(x, shape: [rows, 6])["action"]!
        let want = try sample(p.map { Float.libmLog($0) }, shape: [rows, 10], topK: 4, seed: 2)
        #expect(r.indices["action"] == want.indices)
    }
}
