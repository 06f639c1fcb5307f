import Foundation
import Testing
@testable import SoftmaxKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Well-formed model files whose meaning is hostile: spec numbers that wrap,
/// temperatures float32 cannot take, names that hide bytes, file types that
/// block, and files far larger than the model in them.
@Suite struct HostileModelTests {
    /// A 2-feature model with one 4-unit layer "out" and the given heads.
    static func spec(heads: String, layers: String = #"[{"name": "out"}]"#) -> String {
        #"{"softmaxkit": 1, "input": {"features": 2}, "layers": \#(layers), "heads": \#(heads)}"#
    }

    static let outWeight = try! Tensor(shape: [4, 2], [Float]([1, 2, 3, 4, 5, 6, 7, 8]))

    static func build(_ specText: String, _ weights: [String: Tensor] = ["out.weight": outWeight]) throws -> Model {
        try Model(spec: try ModelSpec(json: specText), weights: weights)
    }

    static func error(_ body: () throws -> Any) -> SoftmaxKitError? {
        do { _ = try body(); return nil } catch { return error as? SoftmaxKitError }
    }

    /// The safetensors bytes of `header` (a JSON object text) and `data`.
    static func file(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) }
        out += h
        return out + data
    }

    static func load(_ bytes: [UInt8]) throws -> Model {
        try bytes.withUnsafeBytes { (p) throws(SoftmaxKitError) in try Model(safetensors: p) }
    }

    @Test func partitionWidthsThatWrapPast64BitsAreRefusedNamingTheHead() throws {
        // 2049 x 9e15 + rest = 2^64 + 4 on a 4-unit layer: wrapping addition sums to 4.
        var segs = Array(repeating: #"[9e15, "softmax"]"#, count: 2049)
        segs.append(#"[5744073709551620, "identity"]"#)
        let text = Self.spec(heads: #"[{"name": "wrap", "layer": "out", "output": "partitioned", "segments": [\#(segs.joined(separator: ","))]}]"#)
        let e = Self.error { try Self.build(text) }
        #expect(e?.kind == .shapeMismatch)
        #expect(e?.message.contains("head \"wrap\"") == true)
        // Int.max and 1: overflow in one step.
        let two = Self.spec(heads: #"[{"name": "p", "layer": "out", "output": "partitioned", "segments": [[1, "softmax"], [3, "identity"]]}]"#)
        _ = try Self.build(two)
        var s = try ModelSpec(json: two)
        s.heads[0].segments = [Segment(width: Int.max, activation: .softmax), Segment(width: 5, activation: .identity)]
        #expect(Self.error { try Model(spec: s, weights: ["out.weight": Self.outWeight]) }?.kind == .shapeMismatch)
    }

    @Test(arguments: ["1e-39", "1e-45", "1e-300", "1e-40", "1e300", "3.5e38", "1.1e-38"])
    func headTemperaturesFloat32CannotTakeAreRefused(t: String) {
        for output in ["softmax", "log_softmax"] {
            let text = Self.spec(heads: #"[{"name": "h", "layer": "out", "output": "\#(output)", "temperature": \#(t)}]"#)
            let e = Self.error { try Self.build(text) }
            #expect(e?.kind == .format, "temperature \(t) \(output)")
            #expect(e?.message.contains("head \"h\"") == true)
        }
    }

    @Test func smallestNormalTemperatureGivesFiniteOutputs() throws {
        let text = Self.spec(heads: #"[{"name": "h", "layer": "out", "output": "softmax", "temperature": 1.2e-38}]"#)
        let y = try Self.build(text)([0.5, -0.25], shape: [1, 2])["h"]!
        #expect(y.allSatisfy { $0.isFinite })
    }

    @Test func kernelsRefuseSubnormalTemperatures() throws {
        let x: [Float] = [1, 2, 3], xd: [Double] = [1, 2, 3]
        var y = [Float](repeating: 0, count: 3), yd = [Double](repeating: 0, count: 3)
        let e = try Extents(outer: 1, n: 3, inner: 1)
        for t in [Float.leastNormalMagnitude / 2, Float.leastNonzeroMagnitude] {
            #expect(Self.error { try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try softmax(xp, into: $0, extents: e, temperature: t) } } }?.kind == .invalidArgument)
            #expect(Self.error { try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try logSoftmax(xp, into: $0, extents: e, temperature: t) } } }?.kind == .invalidArgument)
            #expect(Self.error { try softmaxTopK(x, k: 2, temperature: t) }?.kind == .invalidArgument)
        }
        #expect(Self.error { try xd.withUnsafeBufferPointer { xp in try yd.withUnsafeMutableBufferPointer { try softmax(xp, into: $0, extents: e, temperature: Double.leastNormalMagnitude / 2) } } }?.kind == .invalidArgument)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try softmax(xp, into: $0, extents: e, temperature: Float.leastNormalMagnitude) } }
        #expect(y.allSatisfy { $0.isFinite })
    }

    @Test func float64WeightsOutsideFloat32AreRefusedNamingTheTensor() throws {
        let text = Self.spec(heads: #"[{"name": "h", "layer": "out", "output": "identity"}]"#)
        for v in [1e39, -1e300, Double.greatestFiniteMagnitude] {
            let w = try Tensor(shape: [4, 2], [1, 2, 3, v, 5, 6, 7, 8] as [Double])
            let e = Self.error { try Self.build(text, ["out.weight": w]) }
            #expect(e?.kind == .format)
            #expect(e?.message.contains("out.weight") == true)
            let b = try Tensor(shape: [4], [0, v, 0, 0] as [Double])
            #expect(Self.error { try Self.build(text, ["out.weight": Self.outWeight, "out.bias": b]) }?.message.contains("out.bias") == true)
        }
        // Just inside float32's range: kept.
        let w = try Tensor(shape: [4, 2], [1, 2, 3, 3.4e38, 5, 6, 7, 8] as [Double])
        _ = try Self.build(text, ["out.weight": w])
    }

    @Test func namesHoldingNULAreRefused() throws {
        let heads = Self.spec(heads: #"[{"name": "a\u0000x", "layer": "out", "output": "identity"}, {"name": "a\u0000y", "layer": "out", "output": "identity"}]"#)
        #expect(Self.error { try Self.build(heads) }?.kind == .format)
        let layer = Self.spec(heads: #"[{"name": "h", "layer": "o\u0000ut", "output": "identity"}]"#, layers: #"[{"name": "o\u0000ut"}]"#)
        #expect(Self.error { try Self.build(layer) }?.kind == .format)
        let ok = Self.spec(heads: #"[{"name": "h", "layer": "out", "output": "identity"}]"#)
        let evil = Self.error { try Self.build(ok, ["out.weight": Self.outWeight, "out.weight\u{0}evil": Self.outWeight]) }
        #expect(evil?.kind == .format)
        #expect(evil?.message.contains("\\u0000") == true)
        // In a file's header.
        let bytes = Self.file(#"{"out.weight\u0000evil": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}"#)
        #expect(Self.error { try bytes.withUnsafeBytes { (p) throws(SoftmaxKitError) in try SafeTensors.parse(p) } }?.kind == .format)
    }

    @Test func namesCompareAsBytesNotUnicodeEquivalence() throws {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        #expect(nfc == nfd)  // Swift's String equality: canonical equivalence
        let text = Self.spec(heads: #"[{"name": "h", "layer": "\#(nfc)", "output": "identity"}]"#, layers: #"[{"name": "\#(nfc)"}]"#)
        _ = try Self.build(text, ["\(nfc).weight": Self.outWeight])
        let e = Self.error { try Self.build(text, ["\(nfd).weight": Self.outWeight]) }
        #expect(e?.kind == .format)
        #expect(e?.message.contains("missing tensor") == true)
        // A head looked up by a canonically equivalent name is not found.
        let m = try Self.build(text, ["\(nfc).weight": Self.outWeight])
        #expect(m.head(named: "h") != nil)
        let hn = Self.spec(heads: #"[{"name": "\#(nfc)", "layer": "out", "output": "identity"}]"#)
        #expect(try Self.build(hn).head(named: nfd) == nil)
        // Two header names differing only in normalization cannot both be kept.
        let two = Self.file(#"{"\#(nfc)": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "\#(nfd)": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}"#)
        let e2 = Self.error { try two.withUnsafeBytes { (p) throws(SoftmaxKitError) in try SafeTensors.parse(p) } }
        #expect(e2?.kind == .format)
        #expect(e2?.message.contains("normalization") == true)
    }

    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let path = "/tmp/softmaxkit-fifo-\(getpid())"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        #expect(Self.error { try Model(contentsOf: path) }?.kind == .io)
        #expect(Self.error { try SafeTensors.load(path: path) }?.kind == .io)
    }

    @Test func layerFusionVisitsEachLayerOnce() {
        // A chain (each layer reads the one before) and a star (all read the input).
        for n in [10, 1000, 100_000] {
            let chain = Array(-1..<(n - 1))
            let acts = [Activation](repeating: .relu, count: n)
            let (lists, visits) = LayerGroup.memberLists(inputs: chain, activations: acts)
            #expect(lists.count == n)
            #expect(visits <= 2 * n, "chain of \(n): \(visits) visits")
            let star = [Int](repeating: -1, count: n)
            let s = LayerGroup.memberLists(inputs: star, activations: acts)
            #expect(s.lists == [Array(0..<n)])
            #expect(s.visits <= 2 * n)
        }
        // Groups keep spec order and split by activation.
        let g = LayerGroup.memberLists(inputs: [-1, -1, 0, -1, 0], activations: [.relu, .tanh, .relu, .relu, .relu]).lists
        #expect(g == [[0, 3], [1], [2, 4]])
    }

    @Test func aLongChainLoadsAndRuns() throws {
        let n = 2000
        var layers: [LayerSpec] = [], weights: [String: Tensor] = [:]
        for k in 0..<n {
            layers.append(LayerSpec(name: "l\(k)", input: k == 0 ? "input" : "l\(k - 1)"))
            weights["l\(k).weight"] = try Tensor(shape: [2, 2], [1, 0, 0, 1] as [Float])
        }
        let m = try Model(spec: ModelSpec(features: 2, layers: layers, heads: [HeadSpec(name: "h", layer: "l\(n - 1)", output: .identity)]), weights: weights)
        #expect(m.groups.count == n)
        #expect(try m([3, -4], shape: [1, 2])["h"] == [3, -4])
    }

    @Test func onlyTheBytesTheHeaderPointsAtAreRead() throws {
        let text = Self.spec(heads: #"[{"name": "h", "layer": "out", "output": "softmax"}]"#)
        let model = try Self.build(text)
        let bytes = model.serialized()
        let path = "/tmp/softmaxkit-tail-\(getpid()).safetensors"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        // A 1 GB sparse tail after the model.
        #expect(ftruncate(fd, off_t(bytes.count + (1 << 30))) == 0)
        close(fd)
        let file = try FilePrefix(path)
        let st = try SafeTensors.parse { (n) throws(SoftmaxKitError) in try file.prefix(n) }
        #expect(st.names.count == 1)
        #expect(file.bytesRead == bytes.count)
        let again = try Model(contentsOf: path)
        #expect(try again([1, 2], shape: [1, 2]) == model([1, 2], shape: [1, 2]))
        // With a side spec (smk_model_load_spec): the same reads.
        let sided = try Model(contentsOf: path, spec: try ModelSpec(json: text))
        #expect(try sided([1, 2], shape: [1, 2]) == model([1, 2], shape: [1, 2]))
        let file2 = try FilePrefix(path)
        _ = try Model.parse(try SafeTensors.parse { (n) throws(SoftmaxKitError) in try file2.prefix(n) }, spec: try ModelSpec(json: text))
        #expect(file2.bytesRead == bytes.count)
    }

    @Test func headersThatAreNotTensorTablesAreRefused() throws {
        let zeros = "[" + Array(repeating: "0", count: 100_000).joined(separator: ",") + "]"
        for header in [zeros, #"{"a": \#(zeros)}"#, #"{"__metadata__": {"k": \#(zeros)}}"#,
                       #"{"a": {"dtype": "F32", "shape": \#(zeros), "data_offsets": [0, 0]}}"#,
                       #"{"__metadata__": {"softmaxkit": "\#(zeros)"}}"#] {
            let e = Self.error { try Self.load(Self.file(header)) }
            #expect(e?.kind == .format)
        }
        // A spec with far more JSON values than its model's weights could use.
        let spec = #"{\"softmaxkit\": 1, \"input\": {\"features\": 2}, \"layers\": [{\"name\": \"out\"}], \"heads\": [{\"name\": \"h\", \"layer\": \"out\", \"output\": \"identity\", \"junk\": \#(zeros)}]}"#
        let big = Self.file(#"{"__metadata__": {"softmaxkit": "\#(spec)"}, "out.weight": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]}}"#, [UInt8](repeating: 0, count: 32))
        let e = Self.error { try Self.load(big) }
        #expect(e?.kind == .format)
        #expect(e?.message.contains("JSON values") == true)
        // Unknown keys in a tensor entry are checked and skipped.
        let ok = Self.file(#"{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": {"a": [1, [2, {}]]}}}"#, [UInt8](repeating: 0, count: 8))
        let st = try ok.withUnsafeBytes { (p) throws(SoftmaxKitError) in try SafeTensors.parse(p) }
        #expect(st.tensors["x"]?.shape == [2])
        let broken = Self.file(#"{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": [1,]}}"#, [UInt8](repeating: 0, count: 8))
        #expect(Self.error { try broken.withUnsafeBytes { (p) throws(SoftmaxKitError) in try SafeTensors.parse(p) } }?.kind == .format)
    }
}
