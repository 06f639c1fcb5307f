import Foundation
import Testing
@testable import SoftmaxKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deterministic values in [-bound, bound).
struct LCG {
    var state: UInt64
    mutating func next(_ bound: Float = 1) -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return bound * (Float((state >> 40) & 0xFFFFFF) / 8388608 - 1)
    }
    mutating func array(_ n: Int, _ bound: Float = 1) -> [Float] { (0..<n).map { _ in next(bound) } }
}

func referenceActivation(_ a: Activation, _ z: Double) -> Double {
    switch a {
    case .identity: return z
    case .relu: return max(z, 0)
    case .tanh: return Glibc.tanh(z)
    case .sigmoid: return 1 / (1 + exp(-z))
    case .silu: return z / (1 + exp(-z))
    case .gelu: return 0.5 * z * (1 + erf(z / 2.0.squareRoot()))
    case .geluTanh: return 0.5 * z * (1 + Glibc.tanh((2 / Double.pi).squareRoot() * (z + 0.044715 * z * z * z)))
    }
}

// MARK: JSON and spec

@Test func jsonParsesEscapesNumbersAndNesting() throws {
    let v = try JSONValue.parse(#"{"a": [1, -2.5e3, true, null], "b": "x\u00e9\n\ud83d\ude00"}"#)
    #expect(v["a"] == .array([.number(1), .number(-2500), .bool(true), .null]))
    #expect(v["b"] == .string("xé\n😀"))
    #expect(try JSONValue.parse(v.serialized) == v)
}

@Test(arguments: [
    (#"{"a": 1, "a": 2}"#, "duplicate key"),
    (#"{"a": 01}"#, "leading zero"),
    (#"[1, 2"#, "unterminated"),
    (#"{"a": "\ud800"}"#, "surrogate"),
    (String(repeating: "[", count: 5000), "nested deeper"),
    (#"{"a": 1} x"#, "after the JSON value"),
])
func jsonRejectsMalformedText(text: String, message: String) {
    #expect { try JSONValue.parse(text) } throws: { ($0 as? SoftmaxKitError)?.message.contains(message) == true }
}

@Test func jsonRejectsInvalidUTF8() {
    let bytes: [UInt8] = [0x7B, 0xFF, 0x7D]
    #expect(throws: SoftmaxKitError.self) {
        try bytes.withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in _ = try JSONValue.parse(b) }
    }
}

let robotSpecText = #"""
{"softmaxkit": 1, "input": {"features": 10},
 "layers": [{"name": "fc1", "input": "input", "activation": "relu"},
            {"name": "fc2", "input": "fc1", "activation": "relu"},
            {"name": "action_output", "input": "fc2"},
            {"name": "force_output", "input": "fc2"}],
 "heads": [{"name": "action", "layer": "action_output", "output": "softmax"},
           {"name": "force", "layer": "force_output", "output": "identity"}]}
"""#

@Test func specRoundTripsThroughJSON() throws {
    let spec = try ModelSpec(json: robotSpecText)
    #expect(spec.layers.count == 4 && spec.layers[2].activation == .identity)
    #expect(try ModelSpec(json: spec.json) == spec)
}

@Test(arguments: [
    (#"{"softmaxkit": 1, "input": {"features": 2}, "layers": [], "heads": [], "x": 1}"#, "spec.x: unknown key"),
    (#"{"softmaxkit": 1, "input": {}, "layers": [], "heads": []}"#, "spec.input.features: missing"),
    (#"{"softmaxkit": 1, "input": {"features": 2}, "layers": [{"name": "a", "activation": "elu"}], "heads": []}"#, "spec.layers[0].activation"),
    (#"{"softmaxkit": 1, "input": {"features": 2}, "layers": [], "heads": [{"name": "h", "output": "x"}]}"#, "spec.heads[0].output"),
])
func specErrorsNameTheKey(text: String, key: String) {
    #expect { try ModelSpec(json: text) } throws: { ($0 as? SoftmaxKitError)?.message.contains(key) == true }
}

// MARK: safetensors

@Test func safetensorsRoundTripsAndValidates() throws {
    let a = try Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6] as [Float])
    let b = try Tensor(shape: [2], [0.5, -1] as [Double])
    let bytes = SafeTensors.serialize(tensors: ["a": a, "b": b], names: ["a", "b"], metadata: ["k": "v"])
    let file = try bytes.withUnsafeBufferPointer { (p) throws(SoftmaxKitError) in try SafeTensors.parse(UnsafeRawBufferPointer(p)) }
    #expect(file.tensors["a"] == a && file.tensors["b"] == b && file.metadata["k"] == "v")
    // Every strict prefix is rejected, never read past its end.
    for cut in 0..<bytes.count {
        let prefix = Array(bytes[0..<cut])
        #expect(throws: SoftmaxKitError.self) {
            try prefix.withUnsafeBufferPointer { (p) throws(SoftmaxKitError) in _ = try SafeTensors.parse(UnsafeRawBufferPointer(p)) }
        }
    }
}

@Test func halfPrecisionConvertsExactly() {
    #expect(halfToFloat(0x3C00) == 1)
    #expect(halfToFloat(0xC000) == -2)
    #expect(halfToFloat(0x0001) == Float(bitPattern: 0x3380_0000))  // smallest subnormal 2^-24
    #expect(halfToFloat(0x7C00) == .infinity)
    #expect(halfToFloat(0x7E00).isNaN)
    #expect(halfToFloat(0x7BFF) == 65504)
}

// MARK: the packed matrix product

// k = 300 spans two k blocks (partial sums in the workspace); m = 150 with
// n = 100, k = 300 is large enough to be split across threads; n = 49, 97
// leave a 16-wide last panel after 48-wide ones.
@Test(arguments: [1, 2, 3, 7, 8, 9, 15, 150], [1, 4, 16, 17, 31, 32, 33, 49, 97, 100])
func packedProductMatchesFloat64(m: Int, n: Int) throws {
    var rng = LCG(state: UInt64(m * 1000 + n))
    for k in [1, 10, 64, 300] {
        try checkPackedProduct(m: m, n: n, k: k, activations: Activation.allCases, &rng)
    }
}

// From 256 columns X's rows are packed per call (one row never is): the
// packed micro-kernels, whole and partial tiles, one and two k blocks (m = 60,
// k = 300: split across threads).
@Test(arguments: [1, 2, 9, 60])
func packedRowsProductMatchesFloat64(m: Int) throws {
    var rng = LCG(state: UInt64(m))
    for k in [7, 300] {
        try checkPackedProduct(m: m, n: 260, k: k, activations: [.identity, .relu, .gelu], &rng)
    }
}

// A model hands the product a workspace at an offset its layer widths
// decide (only 4-byte aligned): the partial sums of k > kBlock, moved as
// whole vectors, crashed on a misaligned one (fault tests after the merge).
@Test(arguments: [1, 2, 3, 15])
func packedProductTakesAnyWorkspaceOffset(offset: Int) throws {
    var rng = LCG(state: UInt64(offset))
    for (m, n) in [(9, 33), (60, 260)] {
        let k = 300
        let w = rng.array(n * k), b = rng.array(n), x = rng.array(m * k, 2)
        let pw = try PackedWeights(weight: w, bias: b, n: n, k: k)
        var want = [Float](repeating: 0, count: m * n), got = want
        var space = [Float](repeating: 0, count: pw.workspaceCount(rows: m) + offset)
        try x.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
            try want.withUnsafeMutableBufferPointer { (yp) throws(SoftmaxKitError) in
                try pw.apply(xp.baseAddress!, lda: k, rows: m, yp.baseAddress!, ldy: n, activation: .relu)
            }
            got.withUnsafeMutableBufferPointer { yp in
                space.withUnsafeMutableBufferPointer { sp in
                    pw.apply(xp.baseAddress!, lda: k, rows: m, yp.baseAddress!, ldy: n, activation: .relu,
                             workspace: sp.baseAddress! + offset)
                }
            }
        }
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern))
    }
}

func checkPackedProduct(m: Int, n: Int, k: Int, activations: [Activation], _ rng: inout LCG) throws {
    let w = rng.array(n * k), b = rng.array(n), x = rng.array(m * k, 2)
    let pw = try PackedWeights(weight: w, bias: b, n: n, k: k)
    #expect(pw.packs(rows: m) == (m > 1 && n >= PackedWeights.packMinColumns))
    for act in activations {
        // Rows of y are ldy = n + 3 apart: the padding must stay untouched.
        var y = [Float](repeating: 7, count: m * (n + 3))
        try x.withUnsafeBufferPointer { (xp) throws(SoftmaxKitError) in
            try y.withUnsafeMutableBufferPointer { (yp) throws(SoftmaxKitError) in
                try pw.apply(xp.baseAddress!, lda: k, rows: m, yp.baseAddress!, ldy: n + 3, activation: act)
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(b[j]), magnitude = abs(Double(b[j]))
                for p in 0..<k {
                    s += Double(x[i * k + p]) * Double(w[j * k + p])
                    magnitude += abs(Double(x[i * k + p]) * Double(w[j * k + p]))
                }
                let want = referenceActivation(act, s)
                // float32 sums of k products err by about sqrt(k) ulp of
                // the sum of magnitudes; every activation has slope <= 1.13.
                worst = max(worst, abs(want - Double(y[i * (n + 3) + j])) / max(1, magnitude))
            }
            for j in n..<(n + 3) { #expect(y[i * (n + 3) + j] == 7) }
        }
        #expect(worst < 2e-6, "m \(m) n \(n) k \(k) \(act): \(worst)")
    }
}

// MARK: models

func robotModel(seed: UInt64 = 1) throws -> Model {
    var rng = LCG(state: seed)
    func t(_ shape: [Int], _ bound: Float) throws -> Tensor { try Tensor(shape: shape, rng.array(shape.reduce(1, *), bound)) }
    return try Model(spec: try ModelSpec(json: robotSpecText), weights: [
        "fc1.weight": try t([128, 10], 0.6), "fc1.bias": try t([128], 0.3),
        "fc2.weight": try t([64, 128], 0.17), "fc2.bias": try t([64], 0.1),
        "action_output.weight": try t([4, 64], 0.5), "action_output.bias": try t([4], 0.1),
        "force_output.weight": try t([1, 64], 0.5), "force_output.bias": try t([1], 0.1),
    ])
}

@Test func robotArmMatchesFloat64Reference() throws {
    let model = try robotModel()
    var rng = LCG(state: 99)
    let rows = 19
    let x = rng.array(rows * 10, 3)
    let out = try model(x, shape: [rows, 10])
    let w = model.weights.mapValues { $0.floats }
    func dense(_ v: [Double], _ name: String, relu: Bool) -> [Double] {
        let wt = w[name + ".weight"]!, bs = w[name + ".bias"]!
        let n = bs.count, k = v.count
        return (0..<n).map { j in
            var s = Double(bs[j])
            for p in 0..<k { s += v[p] * Double(wt[j * k + p]) }
            return relu ? max(s, 0) : s
        }
    }
    var worst = 0.0
    for r in 0..<rows {
        let h = dense(dense(x[(r * 10)..<(r * 10 + 10)].map(Double.init), "fc1", relu: true), "fc2", relu: true)
        let logits = dense(h, "action_output", relu: false)
        let m = logits.max()!
        let e = logits.map { exp($0 - m) }
        let s = e.reduce(0, +)
        for j in 0..<4 { worst = max(worst, abs(e[j] / s - Double(out["action"]![r * 4 + j]))) }
        let f = dense(h, "force_output", relu: false)[0]
        worst = max(worst, abs(f - Double(out["force"]![r])) / max(1, abs(f)))
    }
    #expect(worst < 1e-5)
}

@Test func perTimestepInputIsOneRowPerStep() throws {
    let model = try robotModel()
    var rng = LCG(state: 5)
    let x = rng.array(2 * 3 * 10)
    let seq = try model(x, shape: [2, 3, 10])
    let flat = try model(x, shape: [6, 10])
    #expect(seq == flat)
    #expect(seq["action"]!.count == 2 * 3 * 4)
}

@Test func forwardChecksBeforeWriting() throws {
    let model = try robotModel()
    let x = [Float](repeating: 0, count: 20)
    var a = [Float](repeating: 42, count: 8), f = [Float](repeating: 42, count: 2)
    x.withUnsafeBufferPointer { xp in
        a.withUnsafeMutableBufferPointer { ap in
            f.withUnsafeMutableBufferPointer { fp in
                #expect(throws: SoftmaxKitError.self) { try model.forward(xp, batch: 2, features: 11, into: [ap, fp]) }
                #expect(throws: SoftmaxKitError.self) { try model.forward(xp, batch: 2, features: 10, into: [ap]) }
                let short = UnsafeMutableBufferPointer(rebasing: fp[0..<1])
                #expect(throws: SoftmaxKitError.self) { try model.forward(xp, batch: 2, features: 10, into: [ap, short]) }
            }
        }
    }
    #expect(a.allSatisfy { $0 == 42 } && f.allSatisfy { $0 == 42 })
}

@Test func concurrentForwardsAgreeWithSerial() async throws {
    let model = try robotModel()
    var rng = LCG(state: 11)
    let x = rng.array(300 * 10, 2)
    let serial = try model(x, shape: [300, 10])
    try await withThrowingTaskGroup(of: Bool.self) { group in
        for _ in 0..<8 {
            group.addTask { try (0..<10).allSatisfy { _ in try model(x, shape: [300, 10]) == serial } }
        }
        for try await ok in group { #expect(ok) }
    }
}

@Test func layerGraphErrors() throws {
    var spec = try ModelSpec(json: robotSpecText)
    let weights = try robotModel().weights
    spec.layers[0].input = "fc2"
    #expect { try Model(spec: spec, weights: weights) } throws: { ($0 as? SoftmaxKitError)?.message.contains("earlier layer") == true }
    spec = try ModelSpec(json: robotSpecText)
    var missing = weights
    missing["fc1.weight"] = nil
    #expect { try Model(spec: spec, weights: missing) } throws: { ($0 as? SoftmaxKitError)?.kind == .format }
    var wrong = weights
    wrong["fc2.weight"] = try Tensor(shape: [64, 100], [Float](repeating: 0, count: 6400))
    #expect { try Model(spec: spec, weights: wrong) } throws: { ($0 as? SoftmaxKitError)?.kind == .shapeMismatch }
}

@Test func saveAndReloadGiveIdenticalOutputs() throws {
    let model = try robotModel()
    let bytes = model.serialized()
    let again = try bytes.withUnsafeBufferPointer { (p) throws(SoftmaxKitError) in try Model(safetensors: UnsafeRawBufferPointer(p)) }
    var g = LCG(state: 3)
    let xs = g.array(40)
    #expect(try model(xs, shape: [4, 10]) == again(xs, shape: [4, 10]))
}

@Test(arguments: EnsembleMode.allCases)
func ensembleOfCopiesEqualsTheModel(mode: EnsembleMode) throws {
    let model = try robotModel()
    let ens = try Ensemble(models: [model, model, model], mode: mode)
    var rng = LCG(state: 4)
    let x = rng.array(5 * 10)
    let want = try model(x, shape: [5, 10])
    var a = [Float](repeating: 0, count: 20), f = [Float](repeating: 0, count: 5)
    try x.withUnsafeBufferPointer { xp in
        try a.withUnsafeMutableBufferPointer { ap in
            try f.withUnsafeMutableBufferPointer { fp in try ens.forward(xp, batch: 5, features: 10, into: [ap, fp]) }
        }
    }
    for (p, q) in zip(a, want["action"]!) { #expect(abs(p - q) < 1e-6) }
    for (p, q) in zip(f, want["force"]!) { #expect(abs(p - q) < 1e-5 * max(1, abs(q))) }
}

@Test(arguments: EnsembleMode.allCases)
func ensembleKeepsANaNRowNaN(mode: EnsembleMode) throws {
    // A NaN logit makes the softmax row NaN; the ensemble of the model with
    // itself must give that row too (the geometric mode once gave zeros).
    let spec = #"{"softmaxkit": 1, "input": {"features": 2}, "layers": [{"name": "a"}], "heads": [{"name": "p", "layer": "a", "output": "softmax"}]}"#
    let model = try Model(spec: try ModelSpec(json: spec), weights: ["a.weight": try Tensor(shape: [3, 2], [1, 0, 0, 1, 1, 1] as [Float])])
    let x: [Float] = [.nan, 0.25, 1, 2]
    let want: [Float] = try model(x, shape: [2, 2])["p"]!
    let ens = try Ensemble(models: [model, model], mode: mode)
    var y = [Float](repeating: 0, count: 6)
    try x.withUnsafeBufferPointer { xp in
        try y.withUnsafeMutableBufferPointer { yp in try ens.forward(xp, batch: 2, features: 2, into: [yp]) }
    }
    #expect(want[0..<3].allSatisfy { $0.isNaN })
    #expect(y[0..<3].allSatisfy { $0.isNaN })
    for j in 3..<6 { #expect(abs(y[j] - want[j]) < 1e-6) }
}

@Test func saveToFileAndLoadBack() throws {
    let model = try robotModel(seed: 8)
    let path = "/tmp/softmaxkit-model-test-\(getpid()).safetensors"
    defer { unlink(path) }
    try model.save(to: path)
    let again = try Model(contentsOf: path)
    let x = [Float](repeating: 0.25, count: 30)
    #expect(try model(x, shape: [3, 10]) == again(x, shape: [3, 10]))
    #expect { try model.save(to: "/nonexistent-dir/m.safetensors") } throws: { ($0 as? SoftmaxKitError)?.kind == .io }
    #expect { try Model(contentsOf: "/nonexistent-dir/m.safetensors") } throws: { ($0 as? SoftmaxKitError)?.kind == .io }
}

@Test func ensembleArithmeticIsTheMeanOfTheModels() throws {
    let a = try robotModel(seed: 1), b = try robotModel(seed: 2)
    var rng = LCG(state: 6)
    let x = rng.array(7 * 10)
    let ya = try a(x, shape: [7, 10]), yb = try b(x, shape: [7, 10])
    let y = try Ensemble(models: [a, b], mode: .arithmetic)(x, shape: [7, 10])
    for k in ["action", "force"] {
        for (i, v) in y[k]!.enumerated() {
            let want = (ya[k]![i] + yb[k]![i]) / 2
            #expect(abs(v - want) <= 1e-6 * max(1, abs(want)))
        }
    }
}

@Test func codableDecodingMatchesTheHandWrittenReader() throws {
    // A Foundation user decodes the same file format with JSONDecoder.
    let decoded = try JSONDecoder().decode(ModelSpec.self, from: Data(robotSpecText.utf8))
    #expect(decoded == (try ModelSpec(json: robotSpecText)))
    let encoded = try JSONEncoder().encode(decoded)
    #expect(try ModelSpec(json: String(decoding: encoded, as: UTF8.self)) == decoded)
}
