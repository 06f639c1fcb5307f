/// Several models with the same input and the same heads, whose outputs are
/// averaged head by head.
///
/// - `arithmetic`: the mean of the models' outputs (for log-space outputs,
///   log_softmax heads and segments, the mean of the probabilities, logged).
/// - `geometric`: the normalized geometric mean: for a softmax-like head
///   `exp(mean_m log p_m)` renormalized over the row (masked positions stay
///   0) to sum 1, or, for a masked head without renormalization, to the
///   members' mean row sum (so identical members give the member); for sigmoid outputs the binary form `g1 / (g1 + g0)` with
///   `g1 = exp(mean log p)`, `g0 = exp(mean log(1 - p))`; log_softmax
///   outputs likewise in log space; identity and tanh outputs are averaged.
/// - `logits`: the mean of each head's pre-transform layer values across
///   models, then the head's transform (hierarchical heads average their
///   coarse and fine layers).
/// Immutable and thread-safe like `Model`.
public final class Ensemble: @unchecked Sendable {
    public let models: [Model]
    public let mode: EnsembleMode
    public var heads: [CompiledHead] { models[0].heads }
    public var features: Int { models[0].features }

    /// - Throws: `.invalidArgument` for no models; `.unsupported` for a
    ///   sequence model; `.shapeMismatch` when the
    ///   models differ in features or heads (name, kind, size, parameters).
    public init(models: [Model], mode: EnsembleMode = .arithmetic) throws(SoftmaxKitError) {
        guard let first = models.first else { throw .invalid("an ensemble needs at least one model") }
        for (k, m) in models.enumerated() where m.sequence != nil {
            throw SoftmaxKitError(.unsupported, "model \(k) is a sequence model (recurrent or embedding layers, step selection): ensembles of sequence models are not supported")
        }
        for (k, m) in models.enumerated().dropFirst() {
            guard m.features == first.features else {
                throw .shape("model \(k) takes \(m.features) features but model 0 takes \(first.features)")
            }
            guard m.heads.count == first.heads.count else {
                throw .shape("model \(k) has \(m.heads.count) heads but model 0 has \(first.heads.count)")
            }
            for (a, b) in zip(first.heads, m.heads) where !Ensemble.sameHead(a, first, b, m) {
                throw .shape("head \"\(b.name)\" of model \(k) differs from head \"\(a.name)\" of model 0 (name, output, size or parameters)")
            }
        }
        self.models = models; self.mode = mode
    }

    static func sameHead(_ a: CompiledHead, _ ma: Model, _ b: CompiledHead, _ mb: Model) -> Bool {
        var sa = a.spec, sb = b.spec
        sa.layer = nil; sb.layer = nil; sa.coarse = nil; sb.coarse = nil; sa.fine = nil; sb.fine = nil
        guard a.name == b.name, a.size == b.size, sa == sb else { return false }
        return a.inputLayers.map { ma.layerWidths[$0] } == b.inputLayers.map { mb.layerWidths[$0] }
    }

    /// As ``Model/forward(_:batch:steps:features:into:)``: checks everything
    /// first, then writes each head's averaged output.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                        into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        let first = models[0]
        let r = try first.rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * first.features)
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the ensemble has \(heads.count) heads")
        }
        for (h, o) in zip(heads, outputs) {
            try checkCount("output of head \"\(h.name)\"", o.count, Model.outputCount(h, rows: r))
        }
        if r == 0 { return }
        try Model.checkDisjoint(x, rows: r, features: first.features, outputs, heads)
        switch mode {
        case .logits: try forwardLogits(x.baseAddress!, rows: r, outputs)
        case .arithmetic, .geometric: try forwardOutputs(x.baseAddress!, rows: r, outputs)
        }
    }

    /// Forward on an array shaped `[batch, features]` or `[batch, steps,
    /// features]`; returns each head's averaged output by name.
    public func callAsFunction(_ x: [Float], shape: [Int]) throws(SoftmaxKitError) -> [String: [Float]] {
        let (batch, steps, f) = try Model.splitShape(shape)
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        guard x.count >= r * features else { throw .shape("x holds \(x.count) values but shape \(shape) needs \(r * features)") }
        var result: [String: [Float]] = [:]
        var outs: [UnsafeMutableBufferPointer<Float>] = []
        defer { outs.forEach { $0.deallocate() } }
        for h in heads {
            outs.append(UnsafeMutableBufferPointer<Float>.allocate(capacity: try Model.outputCount(h, rows: r)))
        }
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try forward(xb, batch: batch, steps: steps, features: f, into: outs)
        }
        for (h, o) in zip(heads, outs) { result[h.name] = Array(o) }
        return result
    }

    /// Accumulates each model's head outputs (in the averaging space of the
    /// mode), then maps the means back.
    private func forwardOutputs(_ x: UnsafePointer<Float>, rows r: Int, _ outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        let sizes = heads.map { r * $0.size }
        let total = sizes.reduce(0, +)
        // acc holds sums (of values or logs); tmp one model's outputs; acc0
        // in geometric mode the sums of log(1 - p) for sigmoid outputs and
        // of p for probabilities.
        // One at a time: a failure must free the ones already allocated.
        let acc = try allocate(Double.self, total, for: "ensemble sums for \(r) rows")
        defer { rawFree(acc) }
        let acc0 = try allocate(Double.self, total, for: "ensemble sums for \(r) rows")
        defer { rawFree(acc0) }
        let tmp = try allocate(Float.self, total, for: "one ensemble member's outputs for \(r) rows")
        defer { rawFree(tmp) }
        acc.initialize(repeating: 0, count: total)
        acc0.initialize(repeating: 0, count: total)
        var tmpBufs: [UnsafeMutableBufferPointer<Float>] = []
        var off: [Int] = []
        var p = 0
        for s in sizes { tmpBufs.append(UnsafeMutableBufferPointer(start: tmp + p, count: s)); off.append(p); p += s }
        let spaces = heads.map { $0.averagingSpaces }
        for m in models {
            try m.forward(UnsafeBufferPointer(start: x, count: r * features), batch: r, steps: 1, features: features, into: tmpBufs)
            for (h, head) in heads.enumerated() {
                let sp = spaces[h], w = head.size
                for i in 0..<r * w {
                    let v = Double(tmp[off[h] + i]), kind = sp[i % w]
                    switch (mode, kind) {
                    case (.arithmetic, .log): acc[off[h] + i] += _exp(v)
                    case (.geometric, .probability), (.geometric, .binary):
                        acc[off[h] + i] += _log(v)
                        // binary: the log of 1 - p; probability: p, for the mass of partial rows.
                        acc0[off[h] + i] += kind == .binary ? _log1p(-v) : v
                    default: acc[off[h] + i] += v
                    }
                }
            }
        }
        let inv = 1 / Double(models.count)
        for (h, head) in heads.enumerated() {
            let sp = spaces[h], w = head.size
            let y = outputs[h].baseAddress!
            for row in 0..<r {
                let a = acc + off[h] + row * w, a0 = acc0 + off[h] + row * w
                let yr = y + row * w
                // Geometric probability groups renormalize together.
                var groupStart = 0
                while groupStart < w {
                    var groupEnd = groupStart + 1
                    while groupEnd < w, sp[groupEnd] == sp[groupStart], head.group(groupEnd) == head.group(groupStart) { groupEnd += 1 }
                    let kind = sp[groupStart]
                    switch (mode, kind) {
                    case (.arithmetic, .log):
                        for j in groupStart..<groupEnd { yr[j] = Float(_log(a[j] * inv)) }
                    case (.geometric, .probability):
                        // Entries that are NaN (a NaN input reached them) stay
                        // NaN; the others renormalize among themselves.
                        var s = 0.0, finiteMass = 0.0, hasNaN = false
                        for j in groupStart..<groupEnd {
                            let e = _exp(a[j] * inv)
                            if e.isNaN { hasNaN = true } else { s += e; finiteMass += a0[j] * inv }
                        }
                        // Rows that keep only part of the mass (masked, not
                        // renormalized, or partly NaN) renormalize to the
                        // members' mean mass, so identical members give the
                        // member; others to 1.
                        let mass = head.keepsPartialMass || hasNaN ? finiteMass : 1.0
                        for j in groupStart..<groupEnd {
                            let e = _exp(a[j] * inv)
                            yr[j] = e.isNaN ? .nan : s > 0 ? Float(e / s * mass) : 0
                        }
                    case (.geometric, .log):
                        var mx = -Double.infinity
                        for j in groupStart..<groupEnd where a[j] * inv > mx { mx = a[j] * inv }
                        var s = 0.0
                        for j in groupStart..<groupEnd { s += _exp(a[j] * inv - mx) }
                        let lse = mx + _log(s)
                        for j in groupStart..<groupEnd { yr[j] = Float(a[j] * inv - lse) }
                    case (.geometric, .binary):
                        for j in groupStart..<groupEnd {
                            let g1 = _exp(a[j] * inv), g0 = _exp(a0[j] * inv)
                            yr[j] = Float(g1 / (g1 + g0))
                        }
                    default:
                        for j in groupStart..<groupEnd { yr[j] = Float(a[j] * inv) }
                    }
                    groupStart = groupEnd
                }
            }
        }
    }

    /// Averages each head's input layers across models, then applies the transform.
    private func forwardLogits(_ x: UnsafePointer<Float>, rows r: Int, _ outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        // One accumulator per (head, input slot), sized rows x that layer's width.
        let first = models[0]
        var slotWidths: [[Int]] = []
        var total = 0
        for h in heads {
            let ws = h.inputLayers.map { first.layerWidths[$0] }
            slotWidths.append(ws)
            for w in ws { total += r * w }
        }
        guard let acc = rawAllocate(Float.self, total) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate ensemble buffers for \(r) rows")
        }
        defer { rawFree(acc) }
        acc.initialize(repeating: 0, count: total)
        var slots: [[UnsafeMutablePointer<Float>]] = []
        var p = acc
        for ws in slotWidths {
            slots.append(ws.map { w in defer { p += r * w }; return p })
        }
        let inv = 1 / Float(models.count)
        for m in models {
            try m.withLayers(x, rows: r) { start, count, buffers in
                for (h, head) in m.heads.enumerated() {
                    for (s, l) in head.inputLayers.enumerated() {
                        let w = slotWidths[h][s]
                        let src = buffers[l], dst = slots[h][s] + start * w
                        for i in 0..<count * w { dst[i] += src[i] * inv }
                    }
                }
            }
        }
        for (h, head) in heads.enumerated() {
            let local = head.slotTransform
            local.apply(rows: r, layer: 0, widths: slotWidths[h], input: { UnsafePointer(slots[h][$0]) },
                        outputs[h].baseAddress!, size: head.size)
        }
    }
}

private func _exp(_ x: Double) -> Double { Double.libmExp(x) }
private func _log(_ x: Double) -> Double { Double.libmLog(x) }
private func _log1p(_ x: Double) -> Double { Double.libmLog1p(x) }

/// How an output value is averaged geometrically.
enum AveragingSpace: Equatable { case linear, probability, log, binary }

extension CompiledHead {
    /// The layers a head reads: its layer, or coarse then fine layers.
    var inputLayers: [Int] {
        if case let .hierarchical(c, f) = transform { return [c] + f }
        return [layer]
    }

    /// The transform re-indexed onto input slots `0..<inputLayers.count`.
    var slotTransform: HeadTransform {
        if case let .hierarchical(_, f) = transform { return .hierarchical(coarse: 0, fine: Array(1...f.count)) }
        return transform
    }

    /// The space each output column is averaged in.
    var averagingSpaces: [AveragingSpace] {
        switch transform {
        case .identity: return Array(repeating: .linear, count: size)
        case .softmax, .masked, .hierarchical: return Array(repeating: .probability, count: size)
        case .logSoftmax: return Array(repeating: .log, count: size)
        case .sigmoid: return Array(repeating: .binary, count: size)
        case .partitioned(let segs):
            var out: [AveragingSpace] = []
            for s in segs {
                let k: AveragingSpace
                switch s.activation {
                case .identity, .tanh: k = .linear
                case .softmax: k = .probability
                case .logSoftmax: k = .log
                case .sigmoid: k = .binary
                }
                out += Array(repeating: k, count: s.width)
            }
            return out
        }
    }

    /// A masked head without renormalization: its rows sum to the kept
    /// positions' share of the softmax, not to 1.
    var keepsPartialMass: Bool {
        if case .masked(_, false) = transform { return true }
        return false
    }

    /// The renormalization group of column `j` (partition segments differ).
    func group(_ j: Int) -> Int {
        guard case let .partitioned(segs) = transform else { return 0 }
        var o = 0
        for (k, s) in segs.enumerated() {
            o += s.width
            if j < o { return k }
        }
        return segs.count
    }
}
