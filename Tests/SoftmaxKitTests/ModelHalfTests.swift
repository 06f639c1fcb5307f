import Foundation
import Testing
@testable import SoftmaxKit

// Model and ensemble forwards on float16 / bfloat16 inputs and outputs:
// a half input gives bit for bit the float32 outputs of its widening, a
// half output is bit for bit the float32 output rounded to nearest even
// (Swift's Float16(Float) and BFloat16(Float) as the references), on dense,
// sequence (with lengths) and streaming models and on ensembles.

private let root: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/SoftmaxKitTests/ModelHalfTests.swift
    return parts.joined(separator: "/")
}()

private func example(_ name: String) throws -> Model { try Model(contentsOf: "\(root)/examples/models/\(name).safetensors") }
private func recurrent(_ name: String) throws -> Model { try Model(contentsOf: "\(root)/Tests/fixtures/recurrent/\(name).safetensors") }

/// A half type with its reference rounding from Float.
private protocol TestHalf: HalfFloat {
    init(rounding: Float)
    var widened: Float { get }
    var bits: UInt16 { get }
}
extension BFloat16: TestHalf {
    init(rounding v: Float) { self.init(v) }
    var widened: Float { floatValue }
    var bits: UInt16 { bitPattern }
}
extension Float16: TestHalf {
    init(rounding v: Float) { self.init(v) }
    var widened: Float { Float(self) }
    var bits: UInt16 { bitPattern }
}

/// Half inputs in [-3, 3) and their exact float32 widening.
private func halfInput<H: TestHalf>(_: H.Type, _ count: Int, seed: UInt64) -> ([H], [Float]) {
    var g = LCG(state: seed)
    let h = g.array(count, 3).map { H(rounding: $0) }
    return (h, h.map(\.widened))
}

/// Runs `body` on fresh output buffers of `E` (filled with `fill`), returned as arrays.
private func outputs<E>(_ sizes: [Int], _ fill: E, _ body: ([UnsafeMutableBufferPointer<E>]) throws -> Void) rethrows -> [[E]] {
    let bufs = sizes.map { n -> UnsafeMutableBufferPointer<E> in
        let b = UnsafeMutableBufferPointer<E>.allocate(capacity: n)
        b.initialize(repeating: fill)
        return b
    }
    defer { bufs.forEach { $0.deallocate() } }
    try body(bufs)
    return bufs.map { Array($0) }
}

private func sizes(_ heads: [CompiledHead], batch: Int, steps: Int) -> [Int] {
    heads.map { $0.perStep ? batch * steps * $0.size : batch * $0.size }
}

private func floatBits(_ v: [[Float]]) -> [[UInt32]] { v.map { $0.map(\.bitPattern) } }
private func halfBits<H: TestHalf>(_ v: [[H]]) -> [[UInt16]] { v.map { $0.map(\.bits) } }
private func rounded<H: TestHalf>(_ v: [[Float]], _: H.Type) -> [[UInt16]] { v.map { $0.map { H(rounding: $0).bits } } }

/// The three half forms of one forward against the float32 forward.
private func checkForward<H: TestHalf>(_: H.Type, _ model: Model, batch: Int, steps: Int, lengths: [Int]? = nil) throws {
    let f = model.features
    let (xh, xf) = halfInput(H.self, batch * steps * f, seed: 7)
    let n = sizes(model.heads, batch: batch, steps: steps)
    try (lengths ?? []).withUnsafeBufferPointer { lb in
        let lens = lengths == nil ? nil : lb
        let want = try xf.withUnsafeBufferPointer { x in
            try outputs(n, Float.nan) { try model.forward(x, batch: batch, steps: steps, features: f, lengths: lens, into: $0) }
        }
        let fromHalf = try xh.withUnsafeBufferPointer { x in
            try outputs(n, Float.nan) { try model.forward(x, batch: batch, steps: steps, features: f, lengths: lens, into: $0) }
        }
        #expect(floatBits(fromHalf) == floatBits(want))
        let toHalf = try xf.withUnsafeBufferPointer { x in
            try outputs(n, H(rounding: 0)) { try model.forward(x, batch: batch, steps: steps, features: f, lengths: lens, into: $0) }
        }
        #expect(halfBits(toHalf) == rounded(want, H.self))
        let halfToHalf = try xh.withUnsafeBufferPointer { x in
            try outputs(n, H(rounding: 0)) { try model.forward(x, batch: batch, steps: steps, features: f, lengths: lens, into: $0) }
        }
        #expect(halfBits(halfToHalf) == rounded(want, H.self))
    }
}

@Suite struct ModelHalfTests {
    @Test(arguments: ["robot_arm", "multitask", "digits", "masked", "hierarchical", "controller"])
    func denseModels(_ name: String) throws {
        let model = try example(name)
        try checkForward(Float16.self, model, batch: 5, steps: 1)
        try checkForward(BFloat16.self, model, batch: 5, steps: 1)
        try checkForward(BFloat16.self, model, batch: 0, steps: 1)
    }

    @Test(arguments: ["lstm_l1_uni_seq", "gru_l2_bi_final", "lstm_l2_bi_seq_lengths"])
    func sequenceModels(_ name: String) throws {
        let model = try recurrent(name)
        try checkForward(Float16.self, model, batch: 3, steps: 4)
        try checkForward(BFloat16.self, model, batch: 3, steps: 4, lengths: [4, 0, 2])
    }

    @Test func logSoftmaxPaddingStaysMinusInfinity() throws {
        // Padding steps of per-step heads are exact 0 (-inf for log_softmax) in half too.
        try checkForward(Float16.self, try recurrent("lstm_l2_bi_seq_lengths"), batch: 2, steps: 3, lengths: [1, 3])
    }

    @Test func ensembles() throws {
        for mode in [EnsembleMode.arithmetic, .geometric, .logits] {
            let e = try Ensemble(models: [try example("ensemble_a"), try example("ensemble_b")], mode: mode)
            let f = e.features, n = sizes(e.heads, batch: 4, steps: 1)
            let (xh, xf) = halfInput(Float16.self, 4 * f, seed: 3)
            let want = try xf.withUnsafeBufferPointer { x in try outputs(n, Float.nan) { try e.forward(x, batch: 4, features: f, into: $0) } }
            let a = try xh.withUnsafeBufferPointer { x in try outputs(n, Float.nan) { try e.forward(x, batch: 4, features: f, into: $0) } }
            #expect(floatBits(a) == floatBits(want))
            let b = try xh.withUnsafeBufferPointer { x in
                try outputs(n, BFloat16(0)) { try e.forward(x, batch: 4, features: f, into: $0) }
            }
            #expect(halfBits(b) == rounded(want, BFloat16.self))
        }
        // A sequence ensemble with lengths.
        let s = try Ensemble(models: [try recurrent("lstm_l1_uni_seq"), try recurrent("lstm_l1_uni_seq")])
        let f = s.features, n = sizes(s.heads, batch: 2, steps: 3)
        let (xh, xf) = halfInput(BFloat16.self, 2 * 3 * f, seed: 5)
        let lens = [3, 1]
        try lens.withUnsafeBufferPointer { lb in
            let want = try xf.withUnsafeBufferPointer { x in
                try outputs(n, Float.nan) { try s.forward(x, batch: 2, steps: 3, features: f, lengths: lb, into: $0) }
            }
            let got = try xh.withUnsafeBufferPointer { x in
                try outputs(n, Float16(0)) { try s.forward(x, batch: 2, steps: 3, features: f, lengths: lb, into: $0) }
            }
            #expect(halfBits(got) == rounded(want, Float16.self))
        }
    }

    @Test func streamingSteps() throws {
        let model = try recurrent("lstm_l1_uni_seq")
        let f = model.features, n = sizes(model.heads, batch: 2, steps: 1)
        let a = try model.makeState(batch: 2), b = try model.makeState(batch: 2)
        let e = try Ensemble(models: [model, model])
        let ea = try e.makeState(batch: 2), eb = try e.makeState(batch: 2)
        for t in 0..<4 {
            let (xh, xf) = halfInput(Float16.self, 2 * f, seed: UInt64(11 + t))
            let want = try xf.withUnsafeBufferPointer { x in try outputs(n, Float.nan) { try model.step(x, state: a, features: f, into: $0) } }
            let got = try xh.withUnsafeBufferPointer { x in
                try outputs(n, BFloat16(0)) { try model.step(x, state: b, features: f, into: $0) }
            }
            #expect(halfBits(got) == rounded(want, BFloat16.self))
            let ewant = try xf.withUnsafeBufferPointer { x in try outputs(n, Float.nan) { try e.step(x, state: ea, features: f, into: $0) } }
            let egot = try xh.withUnsafeBufferPointer { x in try outputs(n, Float.nan) { try e.step(x, state: eb, features: f, into: $0) } }
            #expect(floatBits(egot) == floatBits(ewant))
        }
    }

    @Test func refusesBadBuffers() throws {
        let model = try example("multitask")
        let f = model.features, n = sizes(model.heads, batch: 2, steps: 1)
        let (xh, _) = halfInput(Float16.self, 2 * f, seed: 1)
        func kind(_ body: () throws(SoftmaxKitError) -> Void) -> SoftmaxKitError.Kind? {
            do throws(SoftmaxKitError) { try body(); return nil } catch { return error.kind }
        }
        try xh.withUnsafeBufferPointer { x in
            // A short input, a short output, a missing output.
            let short = UnsafeBufferPointer(rebasing: x[0..<(2 * f - 1)])
            _ = try outputs(n, Float16(0)) { outs in
                #expect(kind { () throws(SoftmaxKitError) in try model.forward(short, batch: 2, features: f, into: outs) } == .shapeMismatch)
                #expect(kind { () throws(SoftmaxKitError) in try model.forward(x, batch: 2, features: f, into: Array(outs.dropLast())) } == .shapeMismatch)
                var cut = outs
                cut[0] = UnsafeMutableBufferPointer(rebasing: cut[0][0..<(cut[0].count - 1)])
                #expect(kind { () throws(SoftmaxKitError) in try model.forward(x, batch: 2, features: f, into: cut) } == .shapeMismatch)
                #expect(kind { () throws(SoftmaxKitError) in try model.forward(x, batch: 2, features: f + 1, into: outs) } == .shapeMismatch)
            }
        }
        // An output overlapping the half input, and two overlapping outputs: refused, nothing written.
        var block = [Float16](repeating: 0, count: 2 * f + n.reduce(0, +) + 8)
        for k in 0..<(2 * f) { block[k] = xh[k] }
        let before = block.map(\.bitPattern)
        block.withUnsafeMutableBufferPointer { b in
            let x = UnsafeBufferPointer(rebasing: b[0..<(2 * f)])
            var outs: [UnsafeMutableBufferPointer<Float16>] = []
            var at = 2 * f - 1  // the first output starts on x's last element
            for c in n { outs.append(UnsafeMutableBufferPointer(rebasing: b[at..<(at + c)])); at += c }
            #expect(kind { () throws(SoftmaxKitError) in try model.forward(x, batch: 2, features: f, into: outs) } == .invalidArgument)
            outs = []
            at = 2 * f
            for c in n { outs.append(UnsafeMutableBufferPointer(rebasing: b[at..<(at + c)])); at += c - 1 }
            if outs.count > 1 {
                #expect(kind { () throws(SoftmaxKitError) in try model.forward(x, batch: 2, features: f, into: outs) } == .invalidArgument)
            }
        }
        #expect(block.map(\.bitPattern) == before)
        // A model of token ids takes no float input, half or not.
        let tagger = try example("tagger")
        let none: [Float16] = []
        try none.withUnsafeBufferPointer { x in
            _ = try outputs(sizes(tagger.heads, batch: 0, steps: 1), Float(0)) { outs in
                #expect(kind { () throws(SoftmaxKitError) in try tagger.forward(x, batch: 0, features: 0, into: outs) } == .invalidArgument)
            }
        }
    }
}
