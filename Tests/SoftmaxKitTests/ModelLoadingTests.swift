import Testing
@testable import SoftmaxKit

/// What the loaders' fast paths (names compared in place, a header's name
/// table reused for its tensors, JSON written as bytes) must keep exactly.
@Suite struct ModelLoadingTests {
    static func error(_ body: () throws -> Void) -> SoftmaxKitError? {
        do { try body(); return nil } catch { return error as? SoftmaxKitError }
    }

    @Test func jsonWritesEveryEscapeAsBefore() throws {
        let s = JSONValue.string("a\"b\\c/\n\r\t\u{1}\u{1f}\u{0}\u{7f}é😀")
        #expect(s.serialized == #""a\"b\\c/\n\r\t\u0001\u001f\u0000\#u{7f}é😀""#)
        let v = JSONValue.object([("k\"\u{0}", .array([.number(3), .number(-2), .number(2.5), .number(1e15), .number(-0.0),
                                                      .number(.infinity), .bool(true), .bool(false), .null])), ("", .object([]))])
        #expect(v.serialized == #"{"k\"\u0000":[3,-2,2.5,1000000000000000.0,0,null,true,false,null],"":{}}"#)
        #expect(try JSONValue.parse(s.serialized) == s)
    }

    @Test(arguments: [3, 15, 16, 17, 40])
    func jsonRefusesDuplicateKeysInShortAndLongObjects(members: Int) throws {
        let keys = (0..<members).map { "k\($0)" }
        let body = keys.map { "\"\($0)\": 0" }.joined(separator: ", ")
        #expect(try JSONValue.parse("{\(body)}")["k\(members - 1)"] == .number(0))
        for dup in [keys[0], keys[members / 2], keys[members - 1]] {
            let e = Self.error { _ = try JSONValue.parse("{\(body), \"\(dup)\": 1}") }
            #expect(e?.message.contains("duplicate key \"\(dup)\"") == true)
        }
        // Keys equal as Strings (canonically equivalent) are one key here, as before.
        let e = Self.error { _ = try JSONValue.parse("{\(body), \"\u{e9}\": 1, \"e\u{301}\": 2}") }
        #expect(e?.message.contains("duplicate key") == true)
    }

    @Test func specObjectsLookUpTheirKeysInPlace() throws {
        let s = try ModelSpec(json: #"{"heads": [{"output": "softmax", "layer": "b", "name": "h", "temperature": 2}], "layers": [{"input": "input", "name": "a", "activation": "relu", "units": 3}, {"name": "b", "input": "a"}], "input": {"features": 4}, "softmaxkit": 1}"#)
        #expect(s.layers.map(\.name) == ["a", "b"])
        #expect(s.layers[0].activation == .relu && s.layers[0].units == 3 && s.layers[1].input == "a")
        #expect(s.heads[0].temperature == 2 && s.heads[0].layer == "b")
        let e = Self.error { _ = try ModelSpec(json: #"{"softmaxkit": 1, "input": {"features": 4}, "layers": [{"name": "a", "colour": 1}], "heads": []}"#) }
        #expect(e?.message == "spec.layers[0].colour: unknown key (expected one of activation, bidirectional, input, kind, name, num_layers, proj_size, sequence, step, units)")
    }

    @Test func theFirstUnusedTensorByNameIsReported() throws {
        let eye = try Tensor(shape: [2, 2], [1, 0, 0, 1] as [Float])
        let spec = ModelSpec(features: 2, layers: [LayerSpec(name: "l")], heads: [HeadSpec(name: "h", layer: "l", output: .identity)])
        var weights = ["l.weight": eye]
        for n in ["zz", "m.weight", "b.extra", "q"] { weights[n] = eye }
        let e = Self.error { _ = try Model(spec: spec, weights: weights) }
        #expect(e?.message == "tensor \"b.extra\" is not used by any layer of the spec")
        // A duplicate layer name is refused naming its second place.
        let dup = ModelSpec(features: 2, layers: [LayerSpec(name: "l"), LayerSpec(name: "x", input: "l"), LayerSpec(name: "l", input: "x")],
                            heads: [HeadSpec(name: "h", layer: "l", output: .identity)])
        #expect(Self.error { _ = try Model(spec: dup, weights: ["l.weight": eye, "x.weight": eye]) }?.message
                == "spec.layers[2].name: duplicate layer \"l\"")
    }

    @Test func everyTensorOfAFileKeepsItsOwnValues() throws {
        var tensors: [String: Tensor] = [:], names: [String] = []
        for k in 0..<300 {
            let n = "t\((k * 7919) % 300)"
            names.append(n)
            tensors[n] = try Tensor(shape: [k % 3 + 1], [Float](repeating: Float(k), count: k % 3 + 1))
        }
        let bytes = SafeTensors.serialize(tensors: tensors, names: names, metadata: ["a": "b"])
        let f = try bytes.withUnsafeBytes { (p) throws(SoftmaxKitError) in try SafeTensors.parse(p) }
        #expect(f.names == names)
        #expect(f.tensors == tensors)
        #expect(f.metadata == ["a": "b"])
    }

    @Test func specTextIsItsJSONValueSerialized() throws {
        var a = ModelSpec(features: 3, layers: [
            LayerSpec(name: "e\"\u{0}é", input: "input", activation: .relu, units: 4),
            LayerSpec(name: "r", input: "e\"\u{0}é", kind: .lstm, numLayers: 2, bidirectional: true, sequence: false),
            LayerSpec(name: "g", input: "r", activation: .geluTanh, kind: .gru, bidirectional: false, sequence: true, step: -1),
        ], heads: [
            HeadSpec(name: "s", layer: "g", output: .softmax, temperature: 0.5),
            HeadSpec(name: "m", layer: "g", output: .maskedSoftmax, mask: [1, 0], renormalize: false),
            HeadSpec(name: "p", layer: "g", output: .partitioned, segments: [Segment(width: 2, activation: RowActivation.allCases[0])]),
            HeadSpec(name: "h", layer: nil, output: .hierarchical, coarse: "r", fine: ["g", "e"]),
        ])
        #expect(a.json == a.jsonValue.serialized)
        #expect(try ModelSpec(json: a.json) == a)
        a.input = InputSpec(vocabulary: 7)
        a.input.paddingID = 0
        #expect(a.json == a.jsonValue.serialized)
        a.input.paddingID = nil
        #expect(a.json == a.jsonValue.serialized)
        let robot = try ModelSpec(json: robotSpecText)
        #expect(robot.json == robot.jsonValue.serialized)
    }
}
