/// A multi-head network of dense layers, built once and immutable after:
/// `forward` may run on many threads at once (each call uses its own scratch).
///
/// Every layer is `activation(x W^T + b)` reading the input or an earlier
/// layer, so a shared trunk with several heads, separate branches from the
/// input and mixtures are all expressible. Inputs are `[batch, features]` or
/// `[batch, steps, features]`; every step is a row, so per-timestep heads
/// come out `[batch, steps, size]`. Runs in float32; float64 weights are
/// rounded once at build.
public final class Model: @unchecked Sendable {
    public let spec: ModelSpec
    /// The weights as given (their file precision), for saving.
    public let weights: [String: Tensor]
    public let features: Int
    public let heads: [CompiledHead]
    /// Output width of each layer, in spec order.
    public let layerWidths: [Int]
    let layerInputs: [Int]  // -1 is the model input
    let groups: [LayerGroup]
    /// The layers of a sequence model (``ModelSpec/isSequenceModel``); nil
    /// for a model of dense layers only, which runs block by block on rows.
    let sequence: SequenceNet?
    /// The vocabulary of an id input (`"input": {"vocabulary": V}`), else nil.
    public var vocabulary: Int? { spec.input.vocabulary }
    /// Weights and biases in the model.
    public let parameterCount: Int
    /// The model this one re-heads (``init(_:heads:)``), whose states it shares; nil for a built model.
    let original: Model?
    /// The identity streaming states are tied to: the original model's.
    var stateOwner: ObjectIdentifier { ObjectIdentifier(original ?? self) }

    /// The same network with other heads over the same layers (sampling
    /// reads heads' raw layer values through identity transforms).
    init(_ m: Model, heads: [CompiledHead]) {
        spec = m.spec; weights = m.weights; features = m.features; self.heads = heads
        layerWidths = m.layerWidths; layerInputs = m.layerInputs; groups = m.groups; sequence = m.sequence
        parameterCount = m.parameterCount; original = m.original ?? m
    }

    /// Builds a model from a spec and PyTorch-named tensors (`L.weight`
    /// `[out, in]`, optional `L.bias` `[out]`).
    /// - Throws: `.format` for a missing, unknown or inconsistent key or
    ///   tensor (naming it); `.shapeMismatch` for layers whose shapes do not
    ///   chain; `.outOfMemory`.
    public init(spec: ModelSpec, weights: [String: Tensor]) throws(SoftmaxKitError) {
        func fmt(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, m) }
        guard spec.version == ModelSpec.currentVersion else { throw fmt("spec.softmaxkit: schema version \(spec.version) is not supported") }
        guard spec.isSequenceModel || spec.input.features > 0 else { throw fmt("spec.input.features: must be > 0, got \(spec.input.features)") }
        guard !spec.layers.isEmpty else { throw fmt("spec.layers: a model needs at least one layer") }
        guard !spec.heads.isEmpty else { throw fmt("spec.heads: a model needs at least one head") }
        // Names compare as their UTF-8 bytes (String's == would match
        // canonically equivalent spellings), and none may hold NUL.
        var index: [NameKey: Int] = [:]
        index.reserveCapacity(spec.layers.count)
        for (k, l) in spec.layers.enumerated() {
            try checkName(l.name, "spec.layers[\(k)].name")
            guard !l.name.isEmpty, l.name != "input" else { throw fmt("spec.layers[\(k)].name: \"\(l.name)\" is reserved or empty") }
            // One hash per name (a duplicate is refused at once).
            guard index.updateValue(k, forKey: NameKey(l.name)) == nil else {
                throw fmt("spec.layers[\(k)].name: duplicate layer \"\(l.name)\"")
            }
        }
        // Each tensor by its name's bytes, with its slot in `isUsed`.
        var tensorKeys: [NameKey: (tensor: Tensor, slot: Int)] = [:]
        tensorKeys.reserveCapacity(weights.count)
        for (name, t) in weights {
            try checkName(name, "tensor name")
            tensorKeys[NameKey(name)] = (t, tensorKeys.count)
        }
        func tensor(_ name: String) -> Tensor? { tensorKeys[NameKey(name)]?.tensor }
        var isUsed = [Bool](repeating: false, count: tensorKeys.count)
        var usedCount = 0
        func markUsed(_ slot: Int) {
            guard !isUsed[slot] else { return }
            isUsed[slot] = true
            usedCount += 1
        }
        func use(_ name: String) {
            if let slot = tensorKeys[NameKey(name)]?.slot { markUsed(slot) }
        }
        var widths: [Int] = [], inputs: [Int] = [], inWidths: [Int] = [], wts: [[Float]] = [], biases: [[Float]] = []
        var params = 0
        var net: SequenceNet?
        if spec.isSequenceModel {
            let n = try SequenceNet(spec: spec, index: index, tensor: tensor, use: use)
            widths = n.widths; inputs = n.inputs; params = n.parameterCount
            net = n
        }
        for (k, l) in spec.layers.enumerated() where net == nil {
            let src = try layerInput(spec.layers, k, index: index)
            let inWidth = src < 0 ? spec.input.features : widths[src]
            let wName = l.name + ".weight", bName = l.name + ".bias"
            guard let (w, wSlot) = tensorKeys[NameKey(wName)] else { throw fmt("missing tensor \"\(wName)\" for layer \"\(l.name)\"") }
            guard w.shape.count == 2 else { throw .shape("tensor \"\(wName)\" has shape \(w.shape); a weight is [out, in]") }
            let out = w.shape[0]
            guard out > 0 else { throw .shape("tensor \"\(wName)\" has no output units") }
            guard w.shape[1] == inWidth else {
                throw .shape("tensor \"\(wName)\" is \(w.shape) but layer \"\(l.name)\" reads \(l.input) of width \(inWidth): shapes do not chain")
            }
            if let u = l.units, u != out {
                throw .shape("spec.layers[\(k)].units: \(u) does not match \"\(wName)\" \(w.shape)")
            }
            var bias: [Float] = []
            if let (b, bSlot) = tensorKeys[NameKey(bName)] {
                guard b.shape == [out] else { throw .shape("tensor \"\(bName)\" has shape \(b.shape), expected [\(out)]") }
                bias = try modelFloats(b, bName)
                markUsed(bSlot)
                params += out
            }
            markUsed(wSlot)
            params += w.count
            wts.append(try modelFloats(w, wName)); biases.append(bias); inWidths.append(inWidth)
            widths.append(out); inputs.append(src)
        }
        if usedCount < tensorKeys.count {
            let unused = tensorKeys.filter { !isUsed[$0.value.slot] }.map(\.key.name)
            if let name = unused.min() { throw fmt("tensor \"\(name)\" is not used by any layer of the spec") }
        }
        var heads: [CompiledHead] = []
        var headNames = Set<NameKey>()
        for (k, h) in spec.heads.enumerated() {
            let path = "spec.heads[\(k)]"
            try checkName(h.name, "\(path).name")
            guard !h.name.isEmpty, headNames.insert(NameKey(h.name)).inserted else { throw fmt("\(path).name: empty or duplicate head \"\(h.name)\"") }
            func reject(_ key: String, _ present: Bool) throws(SoftmaxKitError) {
                if present { throw fmt("\(path).\(key): not used by output \"\(h.output.rawValue)\"") }
            }
            try reject("temperature", h.temperature != nil && h.output != .softmax && h.output != .logSoftmax)
            try reject("mask", h.mask != nil && h.output != .maskedSoftmax)
            try reject("renormalize", h.renormalize != nil && h.output != .maskedSoftmax)
            try reject("segments", h.segments != nil && h.output != .partitioned)
            try reject("coarse", h.coarse != nil && h.output != .hierarchical)
            try reject("fine", h.fine != nil && h.output != .hierarchical)
            if h.output == .hierarchical {
                try reject("layer", h.layer != nil)
                guard let c = h.coarse else { throw fmt("\(path).coarse: missing") }
                guard let ci = index[NameKey(c)] else { throw fmt("\(path).coarse: unknown layer \"\(c)\"") }
                guard let fine = h.fine, !fine.isEmpty else { throw fmt("\(path).fine: missing or empty") }
                var fi: [Int] = []
                for f in fine {
                    guard let j = index[NameKey(f)] else { throw fmt("\(path).fine: unknown layer \"\(f)\"") }
                    fi.append(j)
                }
                guard widths[ci] == fine.count else {
                    throw .shape("\(path): coarse layer \"\(c)\" has \(widths[ci]) units but there are \(fine.count) fine layers")
                }
                var size = 0
                for j in fi {
                    let (s, o) = size.addingReportingOverflow(widths[j])
                    guard !o, s <= maxElementCount else { throw .overflow("\(path) (head \"\(h.name)\"): the fine layers' widths overflow 64 bits") }
                    size = s
                }
                let perStep = net?.perStep[ci] ?? true
                for j in fi where (net?.perStep[j] ?? true) != perStep {
                    throw .shape("\(path): coarse layer \"\(c)\" and fine layer \"\(spec.layers[j].name)\" differ in having a row per step")
                }
                heads.append(CompiledHead(name: h.name, size: size, spec: h, layer: fi[0], perStep: perStep,
                                          transform: .hierarchical(coarse: ci, fine: fi)))
                continue
            }
            guard let ln = h.layer else { throw fmt("\(path).layer: missing") }
            guard let li = index[NameKey(ln)] else { throw fmt("\(path).layer: unknown layer \"\(ln)\"") }
            let width = widths[li]
            let transform: HeadTransform
            switch h.output {
            case .identity: transform = .identity
            case .sigmoid: transform = .sigmoid
            case .softmax, .logSoftmax:
                // The model runs in float32: the temperature must be one the
                // kernels take there (a normal float > 0) and its stored
                // reciprocal finite.
                let t = h.temperature ?? 1
                let invT = Float(1 / t)
                guard t.isFinite, t > 0, Float(t).isNormal, invT.isFinite else {
                    throw fmt("\(path).temperature (head \"\(h.name)\"): must be finite and > 0 and a normal float32 (not subnormal, under \(Float.greatestFiniteMagnitude)), got \(t)")
                }
                transform = h.output == .softmax ? .softmax(invT: invT) : .logSoftmax(invT: invT)
            case .maskedSoftmax:
                guard let mask = h.mask else { throw fmt("\(path).mask: missing") }
                guard mask.count == width else { throw .shape("\(path).mask: \(mask.count) entries but layer \"\(ln)\" has \(width) units") }
                guard mask.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw fmt("\(path).mask: entries must be 0 or 1") }
                transform = .masked(mask: mask.map { UInt8($0) }, renormalize: h.renormalize ?? true)
            case .partitioned:
                guard let segs = h.segments, !segs.isEmpty else { throw fmt("\(path).segments: missing or empty") }
                guard segs.allSatisfy({ $0.width > 0 }) else { throw fmt("\(path).segments: widths must be > 0") }
                // Summed with a stop at the layer's width: widths near 2^63 neither wrap nor trap.
                var total = 0
                for (j, s) in segs.enumerated() {
                    let (sum, o) = total.addingReportingOverflow(s.width)
                    guard !o, sum <= width else {
                        throw .shape("\(path).segments (head \"\(h.name)\"): widths through segments[\(j)] sum past the \(width) units of layer \"\(ln)\"")
                    }
                    total = sum
                }
                guard total == width else { throw .shape("\(path).segments (head \"\(h.name)\"): widths sum to \(total) but layer \"\(ln)\" has \(width) units") }
                transform = .partitioned(segs)
            case .hierarchical: throw SoftmaxKitError(.internal, "\(path): hierarchical head reached the single-layer path")
            }
            heads.append(CompiledHead(name: h.name, size: width, spec: h, layer: li, perStep: net?.perStep[li] ?? true,
                                      transform: transform))
        }
        self.spec = spec; self.weights = weights; self.features = spec.input.features
        self.heads = heads; self.layerWidths = widths; self.layerInputs = inputs
        self.sequence = net
        self.groups = net != nil ? [] : try LayerGroup.fuse(inputs: inputs, activations: spec.layers.map(\.activation), widths: widths,
                                                            inWidths: inWidths, weights: wts, biases: biases)
        self.parameterCount = params
        self.original = nil
    }

    /// Loads a safetensors model file; `spec` replaces the file's own
    /// `"softmaxkit"` metadata when given (a side file).
    /// - Throws: `.io` (cannot read), `.format` (malformed file or spec), and
    ///   the errors of ``init(spec:weights:)``.
    public convenience init(contentsOf path: String, spec: ModelSpec? = nil) throws(SoftmaxKitError) {
        let file = try FilePrefix(path)
        let (s, w) = try Model.parse(SafeTensors.parse { (n) throws(SoftmaxKitError) in try file.prefix(n) }, spec: spec)
        try self.init(spec: s, weights: w)
    }

    /// Builds a model from the bytes of a safetensors file.
    public convenience init(safetensors data: UnsafeRawBufferPointer, spec: ModelSpec? = nil) throws(SoftmaxKitError) {
        let (s, w) = try Model.parse(try SafeTensors.parse(data), spec: spec)
        try self.init(spec: s, weights: w)
    }

    static func parse(_ file: SafeTensors, spec: ModelSpec?) throws(SoftmaxKitError) -> (ModelSpec, [String: Tensor]) {
        if let spec { return (spec, file.tensors) }
        guard let text = file.metadata["softmaxkit"] else {
            throw SoftmaxKitError(.format, "safetensors __metadata__ has no \"softmaxkit\" key: the file carries no architecture; give a spec")
        }
        // A spec's JSON tree takes tens of bytes a value: one holding far more
        // values than the model's weights could use is refused before it is
        // built. Every layer needs a weight, a mask or segment list is at
        // most its layer's width, so a real spec stays well inside this.
        var elements = 0
        for t in file.tensors.values { elements += t.count }
        let budget = 4 * elements + 64 * file.tensors.count + 4096
        let values = try JSONValue.valueCount(text, what: "model spec")
        guard values <= budget else {
            throw SoftmaxKitError(.format, "safetensors __metadata__.softmaxkit: the spec holds \(values) JSON values, more than a model of \(elements) weights can use (at most \(budget))")
        }
        return (try ModelSpec(json: text), file.tensors)
    }

    /// The model as safetensors bytes: its weights (in their precision, in
    /// spec order) and the spec under `__metadata__.softmaxkit`.
    public func serialized() -> [UInt8] {
        let names = tensorOrder
        return SafeTensors.serialize(tensors: weights, names: names, metadata: ["softmaxkit": spec.json])
    }

    /// The model's tensor names in spec order: each layer's, as its kind
    /// names them (`.weight`, `.bias`; a recurrent layer's `state_dict`
    /// names, layer by layer, forward before `_reverse`).
    public var tensorOrder: [String] {
        var names: [String] = []
        for l in spec.layers {
            switch l.kind {
            case .dense, .embedding:
                names.append(l.name + ".weight")
                if weights[l.name + ".bias"] != nil { names.append(l.name + ".bias") }
            case .lstm, .gru:
                for k in 0..<(l.numLayers ?? 1) {
                    for suffix in (l.bidirectional ?? false) ? ["", "_reverse"] : [""] {
                        for t in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                            let n = "\(l.name).\(t)_l\(k)\(suffix)"
                            if weights[n] != nil { names.append(n) }
                        }
                    }
                }
            }
        }
        return names
    }

    /// Writes ``serialized()`` to `path` (replacing the file).
    /// - Throws: `.io` naming the path when it cannot be written.
    public func save(to path: String) throws(SoftmaxKitError) {
        try writeFile(path, serialized())
    }

    /// The head whose name has the same UTF-8 bytes as `name`.
    public func head(named name: String) -> CompiledHead? { heads.first { $0.name.utf8.elementsEqual(name.utf8) } }
}

/// A name as its UTF-8 bytes: the key of every name lookup, so that names
/// differing only in Unicode normalization stay different.
struct NameKey: Hashable {
    let name: String
    init(_ s: String) { name = s }

    static func == (a: NameKey, b: NameKey) -> Bool {
        var x = a.name, y = b.name
        return x.withUTF8 { p in y.withUTF8 { q in p.elementsEqual(q) } }
    }

    func hash(into hasher: inout Hasher) {
        var s = name
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// A name shown in a message: NUL as \u0000 (a C string would end there).
func displayName(_ s: String) -> String {
    s.utf8.contains(0) ? s.replacingNUL() : s
}

extension String {
    fileprivate func replacingNUL() -> String {
        var out = ""
        for u in unicodeScalars { if u == "\u{0}" { out += "\\u0000" } else { out.unicodeScalars.append(u) } }
        return out
    }
}

/// Refuses a name holding NUL (C sees such a name cut short there).
func checkName(_ name: String, _ what: @autoclosure () -> String) throws(SoftmaxKitError) {
    if name.utf8.contains(0) {
        throw SoftmaxKitError(.format, "\(what()): \"\(displayName(name))\" holds a NUL character")
    }
}

/// A tensor's values in float32, refusing float64 values that are finite
/// but outside float32's range (they would round to infinity).
func modelFloats(_ t: Tensor, _ name: String) throws(SoftmaxKitError) -> [Float] {
    guard case .f64(let v) = t.storage else { return t.floats }
    var out = [Float](repeating: 0, count: v.count)
    for (i, d) in v.enumerated() {
        let f = Float(d)
        if f.isInfinite && d.isFinite {
            throw SoftmaxKitError(.format, "tensor \"\(displayName(name))\": value \(d) at index \(i) is outside float32's range")
        }
        out[i] = f
    }
    return out
}

// MARK: Forward

extension Model {
    /// The vocabulary of a model of token ids; `.invalidArgument` for a
    /// model of float features (the id calls' check, the C ABI's too).
    @_spi(CABI) public func idVocabulary() throws(SoftmaxKitError) -> Int {
        guard let v = vocabulary else { throw .invalid("the model takes \(features) float features, not token ids") }
        return v
    }

    /// Rows of a `[batch, features]` (steps 1) or `[batch, steps, features]`
    /// input: the forward calls' one check of their sizes (the C ABI's too).
    @_spi(CABI) public func rows(batch: Int, steps: Int, features f: Int) throws(SoftmaxKitError) -> Int {
        guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
        if let v = vocabulary { throw .invalid("the model's input is token ids (vocabulary \(v)), not float features") }
        guard f == features else { throw .shape("input has \(f) features but the model takes \(features)") }
        guard elementCount(batch, steps, max(features, 1)) != nil else {
            throw .overflow("input [\(batch), \(steps), \(f)] overflows 64 bits")
        }
        return batch * steps
    }

    /// Elements of head `h`'s output for `rows` rows.
    @_spi(CABI) public static func outputCount(_ h: CompiledHead, rows r: Int) throws(SoftmaxKitError) -> Int {
        guard let c = elementCount(r, h.size) else { throw .overflow("output of head \"\(h.name)\" overflows 64 bits") }
        return c
    }

    /// Runs every layer and head on `rows` rows of `x` (`[rows, features]`),
    /// writing head `h` to `outputs[h]` (`[rows, heads[h].size]`). Arguments
    /// and memory are checked before anything is written: a throwing call
    /// leaves the outputs untouched. NaN in the input propagates.
    /// - Throws: `.shapeMismatch` (feature count, buffer sizes, number of
    ///   outputs), `.sizeOverflow`, `.outOfMemory`, `.invalidArgument`.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                        into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        if let net = sequence {
            return try forwardFloats(net, x, batch: batch, steps: steps, features: f, lengths: nil, into: outputs)
        }
        let r = try rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * features)
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the model has \(heads.count) heads")
        }
        for (h, o) in zip(heads, outputs) {
            try checkCount("output of head \"\(h.name)\"", o.count, Model.outputCount(h, rows: r))
        }
        if r == 0 { return }
        try Model.checkDisjoint(x, rows: r, features: features, outputs, heads)
        try withLayers(x.baseAddress!, rows: r) { start, count, buffers in
            for (h, o) in zip(heads, outputs) {
                h.transform.apply(rows: count, layer: h.layer, widths: layerWidths, input: { UnsafePointer(buffers[$0]) },
                                  o.baseAddress! + start * h.size, size: h.size)
            }
        }
    }

    /// Outputs are written block by block while later blocks of `x` are
    /// still to be read, so no output may overlap the input or another output.
    static func checkDisjoint(_ x: UnsafeBufferPointer<Float>, rows r: Int, features: Int,
                              _ outputs: [UnsafeMutableBufferPointer<Float>], _ heads: [CompiledHead]) throws(SoftmaxKitError) {
        // (start, end, -1 for x or the head index); names are built only on failure.
        var spans: [(lo: UInt, hi: UInt, who: Int)] = []
        spans.reserveCapacity(heads.count + 1)
        if let p = x.baseAddress, r * features > 0 {
            spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(r * features * 4), -1))
        }
        for (k, (h, o)) in zip(heads, outputs).enumerated() {
            guard let p = o.baseAddress, r * h.size > 0 else { continue }
            spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(r * h.size * 4), k))
        }
        if spans.count < 2 { return }
        spans.sort { $0.lo < $1.lo }
        for k in spans.indices.dropFirst() where spans[k].lo < spans[k - 1].hi {
            func name(_ who: Int) -> String { who < 0 ? "x" : "output of head \"\(heads[who].name)\"" }
            throw .invalid("\(name(spans[k - 1].who)) and \(name(spans[k].who)) overlap: outputs must not overlap the input or each other")
        }
    }

    /// Rows per block: a block's layer buffers (a few hundred KB at most for
    /// the example networks) stay in L2 from one layer to the next, and the
    /// scratch is allocated once per call whatever the batch.
    static let blockRows = 256

    /// Runs the layers block by block and hands each block's first row, row
    /// count and `[count, width]` layer buffers to `body`.
    func withLayers(_ x: UnsafePointer<Float>, rows r: Int,
                    _ body: (Int, Int, [UnsafeMutablePointer<Float>]) -> Void) throws(SoftmaxKitError) {
        let block = min(r, Model.blockRows)
        // Every layer's buffer, one block for the widest fused product, then
        // the largest matrix-product workspace (packed rows, partial sums).
        // (Loops, not map/max: a batch-1 call is short enough that each
        // temporary array showed in its profile.)
        var widestFused = 0, total = 0
        for g in groups {
            if g.members.count > 1 { widestFused = max(widestFused, g.width) }
            total = max(total, g.packed.workspaceCount(rows: block))
        }
        for k in 0...layerWidths.count {  // every layer, then the fused product
            let w = k < layerWidths.count ? layerWidths[k] : widestFused
            // Each term is at most maxElementCount, so the sum cannot wrap.
            guard let c = elementCount(block, w), total + c <= maxElementCount else {
                throw .overflow("layer buffers for \(block) rows overflow 64 bits")
            }
            total += c
        }
        guard let scratch = rawAllocate(Float.self, total) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate \(total) floats of layer buffers")
        }
        defer { rawFree(scratch) }
        var buffers: [UnsafeMutablePointer<Float>] = []
        buffers.reserveCapacity(layerWidths.count)
        var p = scratch
        for w in layerWidths { buffers.append(p); p += block * w }
        let fused = p
        let workspace = fused + block * widestFused
        var start = 0
        while start < r {
            let count = min(block, r - start)
            let xb = x + start * features
            for g in groups {
                let input = g.input < 0 ? xb : UnsafePointer(buffers[g.input])
                let lda = g.input < 0 ? features : layerWidths[g.input]
                if g.members.count == 1 {
                    let l = g.members[0]
                    g.packed.apply(input, lda: lda, rows: count, buffers[l], ldy: layerWidths[l], activation: g.activation,
                                   workspace: workspace)
                    continue
                }
                g.packed.apply(input, lda: lda, rows: count, fused, ldy: g.width, activation: g.activation, workspace: workspace)
                for (m, c) in zip(g.members, g.columns) {
                    let w = layerWidths[m], dst = buffers[m]
                    for i in 0..<count { (dst + i * w).update(from: fused + i * g.width + c, count: w) }
                }
            }
            body(start, count, buffers)
            start += count
        }
    }

    /// Forward on an array shaped `[batch, features]` or `[batch, steps,
    /// features]`; returns each head's output by name (`[batch, (steps,) size]` flat).
    /// With `lengths` (one per row), steps `t >= lengths[b]` are padding
    /// (see ``forward(_:batch:steps:features:lengths:into:)``).
    public func callAsFunction(_ x: [Float], shape: [Int], lengths: [Int]? = nil) throws(SoftmaxKitError) -> [String: [Float]] {
        let (batch, steps, f) = try Model.splitShape(shape)
        let r = try rows(batch: batch, steps: steps, features: f)
        guard x.count >= r * features else { throw .shape("x holds \(x.count) values but shape \(shape) needs \(r * features)") }
        var total = 0
        for h in heads {
            let (t, o) = total.addingReportingOverflow(try Model.outputCount(h, batch: batch, steps: steps))
            guard !o else { throw .overflow("outputs of \(r) rows overflow 64 bits") }
            total = t
        }
        guard let block = rawAllocate(Float.self, total) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate the outputs of \(r) rows")
        }
        defer { rawFree(block) }
        var ptrs: [UnsafeMutableBufferPointer<Float>] = []
        var p = block
        for h in heads {
            let c = try Model.outputCount(h, batch: batch, steps: steps)
            ptrs.append(UnsafeMutableBufferPointer(start: p, count: c)); p += c
        }
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            let xs = UnsafeBufferPointer(rebasing: xb[0..<(r * features)])
            try (lengths ?? []).withUnsafeBufferPointer { (lb) throws(SoftmaxKitError) in
                try forward(xs, batch: batch, steps: steps, features: f, lengths: lengths == nil ? nil : lb, into: ptrs)
            }
        }
        let outs = ptrs.map { Array(UnsafeBufferPointer($0)) }
        var result: [String: [Float]] = [:]
        for (h, o) in zip(heads, outs) { result[h.name] = o }
        return result
    }

    static func splitShape(_ shape: [Int]) throws(SoftmaxKitError) -> (Int, Int, Int) {
        switch shape.count {
        case 2: return (shape[0], 1, shape[1])
        case 3: return (shape[0], shape[1], shape[2])
        default: throw .invalid("input shape \(shape) must be [batch, features] or [batch, steps, features]")
        }
    }
}
