/// The index of the layer that `layers[k]` reads (-1: the model input),
/// which must come before it.
/// - Throws: `.format` naming `spec.layers[k].input` for an unknown layer or
///   one that is not earlier (a cycle or a forward reference).
func layerInput(_ layers: [LayerSpec], _ k: Int, index: [NameKey: Int]) throws(SoftmaxKitError) -> Int {
    let l = layers[k]
    if l.input == "input" { return -1 }
    // A chain's layer reads the one before: its name's bytes, no lookup.
    if k > 0, NameKey(l.input) == NameKey(layers[k - 1].name) { return k - 1 }
    guard let j = index[NameKey(l.input)] else {
        throw SoftmaxKitError(.format, "spec.layers[\(k)].input: unknown layer \"\(l.input)\"")
    }
    guard j < k else {
        throw SoftmaxKitError(.format, "spec.layers[\(k)].input: \"\(l.input)\" is not an earlier layer of \"\(l.name)\" (a cycle or a forward reference)")
    }
    return j
}

/// The layers of a sequence model (one with recurrent or embedding layers,
/// step selection or an id input), run on whole sequences: every layer's
/// output is either per step (`[batch, steps, width]`) or per sequence
/// (`[batch, width]`, a recurrent layer's final state or a selected step).
/// Dense layers on a per-step layer run on every step as one matrix product.
final class SequenceNet: @unchecked Sendable {
    enum Op {
        case dense(PackedWeights, Activation, step: Int?)
        case embedding(table: [Float], vocabulary: Int)
        case recurrent(RecurrentLayer)
    }

    let ops: [Op]
    /// The layer each reads (-1: the model input).
    let inputs: [Int]
    let widths: [Int]
    /// Whether each layer's output has one row per step.
    let perStep: [Bool]
    let names: [String]
    let features: Int
    let vocabulary: Int?
    let parameterCount: Int

    init(spec: ModelSpec, index: [NameKey: Int], tensor: (String) -> Tensor?, use: (String) -> Void) throws(SoftmaxKitError) {
        func fmt(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, m) }
        let vocabulary = spec.input.vocabulary
        if let v = vocabulary {
            guard v > 0, v <= Int(Int32.max) else { throw fmt("spec.input.vocabulary: must be in [1, \(Int32.max)], got \(v)") }
        } else {
            guard spec.input.features > 0 else { throw fmt("spec.input.features: must be > 0, got \(spec.input.features)") }
        }
        var ops: [Op] = [], inputs: [Int] = [], widths: [Int] = [], perStep: [Bool] = []
        var params = 0
        for (k, l) in spec.layers.enumerated() {
            let path = "spec.layers[\(k)]"
            let src = try layerInput(spec.layers, k, index: index)
            if src < 0 && vocabulary != nil && l.kind != .embedding {
                throw fmt("\(path).input: layer \"\(l.name)\" is \(l.kind.rawValue) but the model's input is token ids: only an embedding layer reads them")
            }
            let inWidth = src < 0 ? spec.input.features : widths[src]
            let inPerStep = src < 0 ? true : perStep[src]
            func reject(_ key: String, _ present: Bool) throws(SoftmaxKitError) {
                if present { throw fmt("\(path).\(key): not used by a \(l.kind.rawValue) layer (\"\(l.name)\")") }
            }
            try reject("step", l.step != nil && l.kind != .dense)
            try reject("num_layers", l.numLayers != nil && (l.kind == .dense || l.kind == .embedding))
            try reject("bidirectional", l.bidirectional != nil && (l.kind == .dense || l.kind == .embedding))
            try reject("sequence", l.sequence != nil && (l.kind == .dense || l.kind == .embedding))
            try reject("activation", l.activation != .identity && l.kind != .dense)
            switch l.kind {
            case .dense:
                if l.step != nil && !inPerStep {
                    throw fmt("\(path).step: layer \"\(l.name)\" selects a step of \"\(l.input)\", which has one row per sequence")
                }
                let wName = l.name + ".weight", bName = l.name + ".bias"
                guard let w = tensor(wName) else { throw fmt("missing tensor \"\(wName)\" for layer \"\(l.name)\"") }
                guard w.shape.count == 2 else { throw .shape("tensor \"\(wName)\" has shape \(w.shape); a weight is [out, in]") }
                let out = w.shape[0]
                guard out > 0 else { throw .shape("tensor \"\(wName)\" has no output units") }
                guard w.shape[1] == inWidth else {
                    throw .shape("tensor \"\(wName)\" is \(w.shape) but layer \"\(l.name)\" reads \(l.input) of width \(inWidth): shapes do not chain")
                }
                if let u = l.units, u != out { throw .shape("\(path).units: \(u) does not match \"\(wName)\" \(w.shape)") }
                var bias: [Float] = []
                if let b = tensor(bName) {
                    guard b.shape == [out] else { throw .shape("tensor \"\(bName)\" has shape \(b.shape), expected [\(out)]") }
                    bias = try modelFloats(b, bName)
                    use(bName)
                    params += out
                }
                use(wName)
                params += w.count
                ops.append(.dense(try PackedWeights(weight: try modelFloats(w, wName), bias: bias, n: out, k: inWidth),
                                  l.activation, step: l.step))
                widths.append(out)
                perStep.append(l.step == nil && inPerStep)
            case .embedding:
                guard src < 0, let v = vocabulary else {
                    throw fmt("\(path).input: embedding layer \"\(l.name)\" reads the model's token ids: its input must be \"input\" and spec.input must give \"vocabulary\"")
                }
                let wName = l.name + ".weight"
                guard let w = tensor(wName) else { throw fmt("missing tensor \"\(wName)\" for embedding layer \"\(l.name)\"") }
                guard w.shape.count == 2, w.shape[0] == v, w.shape[1] > 0 else {
                    throw .shape("tensor \"\(wName)\" has shape \(w.shape), expected [\(v), dim] (the vocabulary of spec.input)")
                }
                if let u = l.units, u != w.shape[1] { throw .shape("\(path).units: \(u) does not match \"\(wName)\" \(w.shape)") }
                if tensor(l.name + ".bias") != nil { throw fmt("tensor \"\(l.name).bias\": an embedding layer has no bias") }
                use(wName)
                params += w.count
                ops.append(.embedding(table: try modelFloats(w, wName), vocabulary: v))
                widths.append(w.shape[1])
                perStep.append(true)
            case .lstm, .gru:
                guard inPerStep else {
                    throw fmt("\(path).input: \(l.kind.rawValue) layer \"\(l.name)\" reads \"\(l.input)\", which has one row per sequence, not a sequence")
                }
                let r = try RecurrentLayer(name: l.name, path: path, cell: l.kind == .lstm ? .lstm : .gru, inputWidth: inWidth,
                                           units: l.units, numLayers: l.numLayers ?? 1, bidirectional: l.bidirectional ?? false,
                                           sequence: l.sequence ?? true, tensor: tensor, use: use)
                params += r.parameterCount
                ops.append(.recurrent(r))
                widths.append(r.width)
                perStep.append(r.sequence)
            }
            inputs.append(src)
        }
        self.ops = ops; self.inputs = inputs; self.widths = widths; self.perStep = perStep
        self.names = spec.layers.map(\.name); self.features = spec.input.features
        self.vocabulary = vocabulary; self.parameterCount = params
    }

    /// The model input: float rows `[batch * steps, features]` or token ids
    /// `[batch * steps]` (already checked to lie in `[0, vocabulary)`).
    enum Input {
        case floats(UnsafePointer<Float>)
        case ids(UnsafePointer<Int>)
    }

    /// The step layer `k` reads for a run of `steps` steps.
    func selectedStep(_ k: Int, steps t: Int) throws(SoftmaxKitError) -> Int? {
        guard case .dense(_, _, let s?) = ops[k] else { return nil }
        guard s >= -t, s < t else {
            throw .shape("layer \"\(displayName(names[k]))\" reads step \(s) but the input has \(t) steps (valid: \(-t) to \(t - 1))")
        }
        return s < 0 ? t + s : s
    }

    /// Whether layer `k` has a value at the tick that consumes step `tick`
    /// (0 for the first step after a reset) when the model runs step by step:
    /// a layer reading selected step `i >= 0` only at tick `i`, one reading
    /// step -1 (the newest) at every tick, and every layer only when what it
    /// reads has a value.
    func readyAtTick(_ tick: Int) -> [Bool] {
        var ready: [Bool] = []
        for (k, op) in ops.enumerated() {
            var r = inputs[k] < 0 ? true : ready[inputs[k]]
            if case .dense(_, _, let s?) = op { r = r && (s < 0 || s == tick) }
            ready.append(r)
        }
        return ready
    }

    /// Runs every layer, then hands `body` each layer's buffer (rows of
    /// `perStep` layers `batch * steps`, of the others `batch`).
    ///
    /// With `state`, the run is one tick of streaming (`steps` is 1) and
    /// selected steps follow ``readyAtTick(_:)`` at `state.steps`: a layer
    /// without a value at this tick is not computed and its buffer holds NaN.
    func run(_ input: Input, batch b: Int, steps t: Int, lengths: UnsafePointer<Int>?, state: ModelState? = nil,
             _ body: ([UnsafeMutablePointer<Float>]) -> Void) throws(SoftmaxKitError) {
        let ready = state.map { readyAtTick($0.steps) }
        if state == nil { for k in ops.indices { _ = try selectedStep(k, steps: t) } }
        guard let bt = elementCount(b, t) else { throw .overflow("[\(b), \(t)] overflows 64 bits") }
        var total = 0
        func add(_ n: Int?) throws(SoftmaxKitError) {
            guard let n else { throw .overflow("layer buffers for [\(b), \(t)] overflow 64 bits") }
            let (s, o) = total.addingReportingOverflow(n)
            guard !o else { throw .overflow("layer buffers for [\(b), \(t)] overflow 64 bits") }
            total = s
        }
        var work = 0
        for (k, op) in ops.enumerated() {
            try add(elementCount(perStep[k] ? bt : b, widths[k]))
            switch op {
            case .dense(let w, _, _): work = max(work, w.workspaceCount(rows: perStep[k] ? bt : b))
            case .recurrent(let r):
                guard let c = r.scratchCount(batch: b, steps: t) else { throw .overflow("recurrent scratch for [\(b), \(t)] overflows 64 bits") }
                work = max(work, c)
            case .embedding: break
            }
            // a dense layer reading one step of a padded sequence gathers it
            if case .dense(_, _, _?) = op, lengths != nil { try add(elementCount(b, inputWidth(k))) }
        }
        try add(work)
        guard let scratch = rawAllocate(Float.self, max(total, 1)) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate \(total) floats of layer buffers")
        }
        defer { rawFree(scratch) }
        var buffers: [UnsafeMutablePointer<Float>] = []
        var p = scratch
        for k in ops.indices { buffers.append(p); p += (perStep[k] ? bt : b) * widths[k] }
        var gathers: [Int: UnsafeMutablePointer<Float>] = [:]
        for (k, op) in ops.enumerated() {
            if case .dense(_, _, _?) = op, lengths != nil { gathers[k] = p; p += b * inputWidth(k) }
        }
        let workspace = p
        for (k, op) in ops.enumerated() {
            let src = inputs[k]
            let inW = src < 0 ? features : widths[src]
            if let ready, !ready[k] {
                buffers[k].initialize(repeating: .nan, count: (perStep[k] ? bt : b) * widths[k])
                continue
            }
            switch op {
            case .embedding(let table, _):
                guard case .ids(let ids) = input else { continue }
                let d = widths[k]
                table.withUnsafeBufferPointer { tb in
                    for i in 0..<bt { (buffers[k] + i * d).update(from: tb.baseAddress! + ids[i] * d, count: d) }
                }
            case .recurrent(let r):
                guard let x = source(src, input, buffers) else { continue }
                r.run(x, batch: b, steps: t, lengths: lengths, buffers[k], scratch: workspace, carry: state?.carries[k])
            case .dense(let w, let act, let step):
                guard let x = source(src, input, buffers) else { continue }
                if state != nil, step != nil {
                    // Streaming: the one step of this tick is the selected one.
                    w.apply(x, lda: inW, rows: b, buffers[k], ldy: widths[k], activation: act, workspace: workspace)
                } else if let s = step, let step = try selectedStep(k, steps: t) {
                    if let lengths, let g = gathers[k] {
                        // Per row: a negative step counts from the row's last valid step.
                        for r in 0..<b {
                            let ti = s < 0 ? lengths[r] + s : s
                            if ti >= 0 && ti < lengths[r] {
                                (g + r * inW).update(from: x + (r * t + ti) * inW, count: inW)
                            } else {
                                (g + r * inW).initialize(repeating: 0, count: inW)
                            }
                        }
                        w.apply(UnsafePointer(g), lda: inW, rows: b, buffers[k], ldy: widths[k], activation: act, workspace: workspace)
                    } else {
                        w.apply(x + step * inW, lda: t * inW, rows: b, buffers[k], ldy: widths[k], activation: act, workspace: workspace)
                    }
                } else {
                    w.apply(x, lda: inW, rows: perStep[k] ? bt : b, buffers[k], ldy: widths[k], activation: act, workspace: workspace)
                }
            }
        }
        body(buffers)
    }

    /// The width of what layer `k` reads.
    func inputWidth(_ k: Int) -> Int { inputs[k] < 0 ? features : widths[inputs[k]] }

    private func source(_ src: Int, _ input: Input, _ buffers: [UnsafeMutablePointer<Float>]) -> UnsafePointer<Float>? {
        if src >= 0 { return UnsafePointer(buffers[src]) }
        if case .floats(let x) = input { return x }
        return nil
    }
}
