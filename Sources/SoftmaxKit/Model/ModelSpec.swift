/// The architecture of a model: the JSON stored under the key `"softmaxkit"`
/// of a safetensors file's `__metadata__` (schema version 1):
///
///     {"softmaxkit": 1, "input": {"features": 10},
///      "layers": [{"name": "fc1", "input": "input", "activation": "relu"}, ...],
///      "heads": [{"name": "action", "layer": "action_output", "output": "softmax"}, ...]}
///
/// The Codable keys are the file's keys, so a Foundation user may also
/// decode it with `JSONDecoder`; the core reads it with ``init(json:)``,
/// which names the offending key in every error.
public struct ModelSpec: Codable, Equatable, Sendable {
    /// The schema version this library reads and writes.
    public static let currentVersion = 1

    public var version: Int
    public var input: InputSpec
    public var layers: [LayerSpec]
    public var heads: [HeadSpec]

    enum CodingKeys: String, CodingKey {
        case version = "softmaxkit", input, layers, heads
    }

    public init(features: Int, layers: [LayerSpec], heads: [HeadSpec]) {
        self.version = ModelSpec.currentVersion
        self.input = InputSpec(features: features)
        self.layers = layers
        self.heads = heads
    }
}

/// The model's input: `{"features": F}` (float rows, `[batch, (steps,) F]`)
/// or `{"vocabulary": V}` (integer token ids `[batch, steps]` in `[0, V)`,
/// read by embedding layers). `features` is 0 for an id input.
/// `{"vocabulary": V, "padding_id": P}`: id P (in `[0, V)`) marks padding,
/// as a source framework's masked embedding did (Keras `mask_zero=True`:
/// 0); ``Model/paddingLengths(ids:batch:steps:)`` gives the lengths it
/// implies. The library does not apply it by itself in C and Swift; the
/// Python binding does for a call on ids without lengths.
public struct InputSpec: Codable, Equatable, Sendable {
    public var features: Int
    public var vocabulary: Int?
    public var paddingID: Int?
    public init(features: Int) { self.features = features }
    public init(vocabulary: Int) { self.features = 0; self.vocabulary = vocabulary }

    enum CodingKeys: String, CodingKey { case features, vocabulary, paddingID = "padding_id" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabulary = try c.decodeIfPresent(Int.self, forKey: .vocabulary)
        paddingID = try c.decodeIfPresent(Int.self, forKey: .paddingID)
        features = try c.decodeIfPresent(Int.self, forKey: .features) ?? 0
    }
}

/// What a layer computes.
public enum LayerKind: String, Codable, CaseIterable, Sendable {
    /// `activation(x W^T + b)`, per row (per step of a sequence).
    case dense
    /// PyTorch's `nn.LSTM` (`batch_first=True`), gates i, f, g, o.
    case lstm
    /// PyTorch's `nn.GRU` (`batch_first=True`), gates r, z, n.
    case gru
    /// A table lookup `weight[id]` of the model's token ids.
    case embedding
}

/// A layer reading `input` (`"input"` or an earlier layer's name).
///
/// - `dense` (the default): `activation(x W^T + b)`, weights `name.weight`
///   `[units, in]` and optionally `name.bias` `[units]`. After a sequence
///   layer it runs on every step, or on the one step `step` selects
///   (`rnn[:, step, :]`, negative counting from the end).
/// - `lstm` / `gru`: PyTorch's `nn.LSTM` / `nn.GRU` with `batch_first=True`
///   and their `state_dict` names (`name.weight_ih_l0`, ..., `_reverse`);
///   `numLayers`, `bidirectional`, and `sequence` (every step's output, or
///   the final hidden state).
/// - `embedding`: `name.weight` `[vocabulary, dim]`, reading the model's ids.
public struct LayerSpec: Codable, Equatable, Sendable {
    public var name: String
    public var input: String
    public var activation: Activation
    /// When present, must equal the weight's first dimension (the hidden
    /// size H of a recurrent layer).
    public var units: Int?
    public var kind: LayerKind
    /// Stacked recurrent layers (default 1).
    public var numLayers: Int?
    /// A backward direction beside the forward one (default false).
    public var bidirectional: Bool?
    /// A recurrent layer's output: every step `[B, T, H * directions]`
    /// (true, the default) or the final state `[B, H * directions]`.
    public var sequence: Bool?
    /// The one step of a sequence layer a dense layer reads.
    public var step: Int?

    public init(name: String, input: String = "input", activation: Activation = .identity, units: Int? = nil,
                kind: LayerKind = .dense, numLayers: Int? = nil, bidirectional: Bool? = nil, sequence: Bool? = nil,
                step: Int? = nil) {
        self.name = name; self.input = input; self.activation = activation; self.units = units
        self.kind = kind; self.numLayers = numLayers; self.bidirectional = bidirectional
        self.sequence = sequence; self.step = step
    }

    enum CodingKeys: String, CodingKey {
        case name, input, activation, units, kind, bidirectional, sequence, step
        case numLayers = "num_layers"
    }

    /// `input` defaults to `"input"`, `activation` to `identity` and `kind`
    /// to `dense`, as in ``ModelSpec/init(json:)``.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        input = try c.decodeIfPresent(String.self, forKey: .input) ?? "input"
        activation = try c.decodeIfPresent(Activation.self, forKey: .activation) ?? .identity
        units = try c.decodeIfPresent(Int.self, forKey: .units)
        kind = try c.decodeIfPresent(LayerKind.self, forKey: .kind) ?? .dense
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
        bidirectional = try c.decodeIfPresent(Bool.self, forKey: .bidirectional)
        sequence = try c.decodeIfPresent(Bool.self, forKey: .sequence)
        step = try c.decodeIfPresent(Int.self, forKey: .step)
    }
}

/// Element-wise activations of dense layers.
public enum Activation: String, Codable, CaseIterable, Sendable {
    case identity, relu, tanh, sigmoid
    /// `x * Phi(x)` with the exact normal CDF (PyTorch's default GELU).
    case gelu
    /// The tanh approximation of GELU (`approximate="tanh"`).
    case geluTanh = "gelu_tanh"
    /// `x * sigmoid(x)`.
    case silu
}

/// What a head does to its layer's values.
public enum OutputKind: String, Codable, CaseIterable, Sendable {
    case identity, softmax, sigmoid
    case logSoftmax = "log_softmax"
    case maskedSoftmax = "masked_softmax"
    case partitioned, hierarchical
}

/// One consecutive segment of a partitioned head: `[width, activation]` in JSON.
public struct Segment: Codable, Equatable, Sendable {
    public var width: Int
    public var activation: RowActivation

    public init(width: Int, activation: RowActivation) {
        self.width = width; self.activation = activation
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        width = try c.decode(Int.self)
        activation = try c.decode(RowActivation.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(width)
        try c.encode(activation)
    }
}

/// A named output of the model. Fields other than `name` and `output` are
/// used by the kinds that need them: `layer` by all but `hierarchical`;
/// `temperature` by softmax/log_softmax; `mask`, `renormalize` by
/// masked_softmax; `segments` by partitioned; `coarse`, `fine` by hierarchical.
public struct HeadSpec: Codable, Equatable, Sendable {
    public var name: String
    public var output: OutputKind
    public var layer: String?
    public var temperature: Double?
    public var mask: [Int]?
    public var renormalize: Bool?
    public var segments: [Segment]?
    public var coarse: String?
    public var fine: [String]?

    public init(name: String, layer: String?, output: OutputKind, temperature: Double? = nil,
                mask: [Int]? = nil, renormalize: Bool? = nil, segments: [Segment]? = nil,
                coarse: String? = nil, fine: [String]? = nil) {
        self.name = name; self.layer = layer; self.output = output; self.temperature = temperature
        self.mask = mask; self.renormalize = renormalize; self.segments = segments
        self.coarse = coarse; self.fine = fine
    }
}

// MARK: Reading the JSON (no Foundation)

extension ModelSpec {
    /// Reads a spec from its JSON text. Unknown keys, missing keys, wrong
    /// types and unknown names are `.format` errors naming the key path.
    public init(json text: String) throws(SoftmaxKitError) {
        try self.init(json: try JSONValue.parse(text, what: "model spec"))
    }

    /// The keys a layer object and a head object may hold.
    static let layerKeys = ["name", "input", "activation", "units", "kind", "num_layers", "bidirectional", "sequence", "step", "proj_size"]
    static let headKeys = ["name", "layer", "output", "temperature", "mask", "renormalize", "segments", "coarse", "fine"]

    public init(json v: JSONValue) throws(SoftmaxKitError) {
        let o = try SpecObject(v, path: "spec", allowed: ["softmaxkit", "input", "layers", "heads"])
        version = try o.int("softmaxkit")
        guard version == ModelSpec.currentVersion else {
            throw SoftmaxKitError(.format, "spec.softmaxkit: schema version \(version) is not supported (this library reads \(ModelSpec.currentVersion))")
        }
        let inp = try SpecObject(try o.required("input"), path: "spec.input", allowed: ["features", "vocabulary", "padding_id"])
        if let v = try inp.optionalInt("vocabulary") {
            guard inp["features"] == nil else {
                throw SoftmaxKitError(.format, "spec.input: give \"features\" (float inputs) or \"vocabulary\" (token ids), not both")
            }
            input = InputSpec(vocabulary: v)
            if let p = try inp.optionalInt("padding_id") {
                guard p >= 0, p < v else {
                    throw SoftmaxKitError(.format, "spec.input.padding_id: \(p) is outside the vocabulary [0, \(v))")
                }
                input.paddingID = p
            }
        } else {
            guard inp["padding_id"] == nil else {
                throw SoftmaxKitError(.format, "spec.input.padding_id: only an input of token ids (\"vocabulary\") has a padding id")
            }
            input = InputSpec(features: try inp.int("features"))
        }
        layers = []
        for (k, lv) in try o.array("layers").enumerated() {
            let l = try SpecObject(lv, path: "spec.layers[\(k)]", allowed: ModelSpec.layerKeys)
            if l["proj_size"] != nil {
                throw SoftmaxKitError(.format, "spec.layers[\(k)].proj_size: LSTM projections (proj_size) are not supported")
            }
            layers.append(LayerSpec(
                name: try l.string("name"),
                input: try l.optionalString("input") ?? "input",
                activation: try l.enumValue("activation", Activation.self) ?? .identity,
                units: try l.optionalInt("units"),
                kind: try l.enumValue("kind", LayerKind.self) ?? .dense,
                numLayers: try l.optionalInt("num_layers"),
                bidirectional: try l.optionalBool("bidirectional"),
                sequence: try l.optionalBool("sequence"),
                step: try l.optionalInt("step")))
        }
        heads = []
        for (k, hv) in try o.array("heads").enumerated() {
            let h = try SpecObject(hv, path: "spec.heads[\(k)]", allowed: ModelSpec.headKeys)
            var segments: [Segment]?
            if let sv = h["segments"] {
                guard case let .array(items) = sv else { throw h.typeError("segments", "an array of [width, activation]") }
                segments = []
                for (j, item) in items.enumerated() {
                    let p = "\(h.path).segments[\(j)]"
                    guard case let .array(pair) = item, pair.count == 2,
                          case let .number(w) = pair[0], case let .string(a) = pair[1] else {
                        throw SoftmaxKitError(.format, "\(p): must be [width, activation]")
                    }
                    guard let width = exactInt(w) else { throw SoftmaxKitError(.format, "\(p): width \(w) is not an integer") }
                    guard let act = RowActivation(name: a) else {
                        throw SoftmaxKitError(.format, "\(p): unknown activation \"\(a)\" (expected one of \(RowActivation.allCases.map(\.name).joined(separator: ", ")))")
                    }
                    segments!.append(Segment(width: width, activation: act))
                }
            }
            var mask: [Int]?
            if h["mask"] != nil {
                mask = try h.intArray("mask")
            }
            var fine: [String]?
            if let fv = h["fine"] {
                guard case let .array(items) = fv else { throw h.typeError("fine", "an array of layer names") }
                fine = []
                for item in items {
                    guard case let .string(s) = item else { throw h.typeError("fine", "an array of layer names") }
                    fine!.append(s)
                }
            }
            guard let output = try h.enumValue("output", OutputKind.self) else {
                throw SoftmaxKitError(.format, "\(h.path).output: missing")
            }
            heads.append(HeadSpec(
                name: try h.string("name"), layer: try h.optionalString("layer"), output: output,
                temperature: try h.optionalDouble("temperature"), mask: mask,
                renormalize: try h.optionalBool("renormalize"), segments: segments,
                coarse: try h.optionalString("coarse"), fine: fine))
        }
    }

    /// The spec as JSON (the form stored in model files).
    public var jsonValue: JSONValue {
        var members: [(String, JSONValue)] = [
            ("softmaxkit", .number(Double(version))),
            ("input", .object([input.vocabulary.map { ("vocabulary", .number(Double($0))) }
                               ?? ("features", .number(Double(input.features)))]
                              + (input.paddingID.map { [("padding_id", .number(Double($0)))] } ?? []))),
        ]
        members.append(("layers", .array(layers.map { l in
            var m: [(String, JSONValue)] = [("name", .string(l.name)), ("input", .string(l.input)),
                                            ("activation", .string(l.activation.rawValue))]
            if let u = l.units { m.append(("units", .number(Double(u)))) }
            if l.kind != .dense { m.append(("kind", .string(l.kind.rawValue))) }
            if let n = l.numLayers { m.append(("num_layers", .number(Double(n)))) }
            if let b = l.bidirectional { m.append(("bidirectional", .bool(b))) }
            if let q = l.sequence { m.append(("sequence", .bool(q))) }
            if let t = l.step { m.append(("step", .number(Double(t)))) }
            return .object(m)
        })))
        members.append(("heads", .array(jsonValueHeads)))
        return .object(members)
    }

    /// The heads as ``jsonValue`` writes them.
    var jsonValueHeads: [JSONValue] {
        heads.map { h in
            var m: [(String, JSONValue)] = [("name", .string(h.name))]
            if let l = h.layer { m.append(("layer", .string(l))) }
            m.append(("output", .string(h.output.rawValue)))
            if let t = h.temperature { m.append(("temperature", .number(t))) }
            if let mk = h.mask { m.append(("mask", .array(mk.map { .number(Double($0)) }))) }
            if let r = h.renormalize { m.append(("renormalize", .bool(r))) }
            if let s = h.segments {
                m.append(("segments", .array(s.map { .array([.number(Double($0.width)), .string($0.activation.name)]) })))
            }
            if let c = h.coarse { m.append(("coarse", .string(c))) }
            if let f = h.fine { m.append(("fine", .array(f.map { .string($0) }))) }
            return .object(m)
        }
    }

    /// Whether the model has recurrent or embedding layers, step selection
    /// or an id input: it runs on whole sequences `[batch, steps, ...]`.
    public var isSequenceModel: Bool {
        input.vocabulary != nil || layers.contains { $0.kind != .dense || $0.step != nil }
    }

    /// Compact JSON text of ``jsonValue``, written straight from the spec
    /// (a large spec's tree would cost several allocations a layer).
    public var json: String {
        var out: [UInt8] = []
        func key(_ k: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out += "\":".utf8
        }
        func number(_ d: Double) { JSONValue.number(d).write(to: &out) }
        func string(_ s: String) { JSONValue.writeString(s, to: &out) }
        func bool(_ b: Bool) { out += (b ? "true" : "false").utf8 }
        out.append(UInt8(ascii: "{"))
        key("softmaxkit", first: true); number(Double(version))
        key("input"); out.append(UInt8(ascii: "{"))
        if let v = input.vocabulary { key("vocabulary", first: true); number(Double(v)) } else { key("features", first: true); number(Double(input.features)) }
        if let p = input.paddingID { key("padding_id"); number(Double(p)) }
        out.append(UInt8(ascii: "}"))
        key("layers"); out.append(UInt8(ascii: "["))
        for (k, l) in layers.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            key("name", first: true); string(l.name)
            key("input"); string(l.input)
            key("activation"); string(l.activation.rawValue)
            if let u = l.units { key("units"); number(Double(u)) }
            if l.kind != .dense { key("kind"); string(l.kind.rawValue) }
            if let n = l.numLayers { key("num_layers"); number(Double(n)) }
            if let b = l.bidirectional { key("bidirectional"); bool(b) }
            if let q = l.sequence { key("sequence"); bool(q) }
            if let t = l.step { key("step"); number(Double(t)) }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        // Heads are few: written through their JSON values.
        key("heads")
        JSONValue.array(Array(jsonValueHeads)).write(to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

func exactInt(_ d: Double) -> Int? {
    guard d.isFinite, d == d.rounded(), abs(d) <= 9.0e15 else { return nil }
    return Int(d)
}

/// An object of the spec being read, with typed accessors that name the key.
/// Its keys are all among `allowed` and unique, so it holds a handful of
/// members: they are looked up in place, and no table is built per object
/// (a spec may hold hundreds of thousands of layer objects).
struct SpecObject {
    let members: [(String, JSONValue)]
    let path: String

    init(_ v: JSONValue, path: String, allowed: [String]) throws(SoftmaxKitError) {
        guard case let .object(m) = v else {
            throw SoftmaxKitError(.format, "\(path): must be an object, got \(v.typeName)")
        }
        for (k, _) in m where !allowed.contains(k) {
            throw SoftmaxKitError(.format, "\(path).\(k): unknown key (expected one of \(allowed.sorted().joined(separator: ", ")))")
        }
        members = m; self.path = path
    }

    /// The member `key`, nil when absent.
    subscript(key: String) -> JSONValue? {
        for (k, v) in members where k == key { return v }
        return nil
    }

    func typeError(_ key: String, _ expected: String) -> SoftmaxKitError {
        SoftmaxKitError(.format, "\(path).\(key): must be \(expected), got \(self[key]?.typeName ?? "nothing")")
    }

    func required(_ key: String) throws(SoftmaxKitError) -> JSONValue {
        guard let v = self[key] else { throw SoftmaxKitError(.format, "\(path).\(key): missing") }
        return v
    }

    func int(_ key: String) throws(SoftmaxKitError) -> Int {
        guard let v = try optionalInt(key) else { throw SoftmaxKitError(.format, "\(path).\(key): missing") }
        return v
    }

    func optionalInt(_ key: String) throws(SoftmaxKitError) -> Int? {
        guard let v = self[key] else { return nil }
        guard case let .number(d) = v, let i = exactInt(d) else { throw typeError(key, "an integer") }
        return i
    }

    func optionalDouble(_ key: String) throws(SoftmaxKitError) -> Double? {
        guard let v = self[key] else { return nil }
        guard case let .number(d) = v else { throw typeError(key, "a number") }
        return d
    }

    func optionalBool(_ key: String) throws(SoftmaxKitError) -> Bool? {
        guard let v = self[key] else { return nil }
        guard case let .bool(b) = v else { throw typeError(key, "true or false") }
        return b
    }

    func string(_ key: String) throws(SoftmaxKitError) -> String {
        guard let v = try optionalString(key) else { throw SoftmaxKitError(.format, "\(path).\(key): missing") }
        return v
    }

    func optionalString(_ key: String) throws(SoftmaxKitError) -> String? {
        guard let v = self[key] else { return nil }
        guard case let .string(s) = v else { throw typeError(key, "a string") }
        return s
    }

    func array(_ key: String) throws(SoftmaxKitError) -> [JSONValue] {
        guard case let .array(a) = try required(key) else { throw typeError(key, "an array") }
        return a
    }

    func intArray(_ key: String) throws(SoftmaxKitError) -> [Int] {
        var out: [Int] = []
        for v in try array(key) {
            guard case let .number(d) = v, let i = exactInt(d) else { throw typeError(key, "an array of integers") }
            out.append(i)
        }
        return out
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(SoftmaxKitError) -> E? where E.RawValue == String {
        guard let s = try optionalString(key) else { return nil }
        guard let e = E(rawValue: s) else {
            throw SoftmaxKitError(.format, "\(path).\(key): unknown value \"\(s)\" (expected one of \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return e
    }
}
