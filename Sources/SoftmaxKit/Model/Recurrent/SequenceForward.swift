/// Forward of sequence models: float inputs `[batch, steps, features]`,
/// token ids `[batch, steps]`, optional per-row lengths.
extension Model {
    /// Elements of head `h`'s output for `batch` sequences of `steps` steps:
    /// `batch * steps * size` for a per-step head, `batch * size` otherwise.
    @_spi(CABI) public static func outputCount(_ h: CompiledHead, batch: Int, steps: Int) throws(SoftmaxKitError) -> Int {
        guard let c = h.perStep ? elementCount(batch, steps, h.size) : elementCount(batch, h.size) else {
            throw .overflow("output of head \"\(h.name)\" overflows 64 bits")
        }
        return c
    }

    /// Checks `lengths` (one per row, each in `[0, steps]`) and returns them as Int.
    static func checkedLengths<L: BinaryInteger>(_ lengths: UnsafeBufferPointer<L>?, batch: Int, steps: Int) throws(SoftmaxKitError) -> [Int]? {
        guard let lengths else { return nil }
        guard lengths.count == batch else { throw .shape("lengths holds \(lengths.count) values but the batch is \(batch)") }
        var out = [Int](repeating: 0, count: batch)
        for (b, l) in lengths.enumerated() {
            guard l >= 0, l <= steps else { throw .invalid("lengths[\(b)] is \(l), outside [0, \(steps)]") }
            out[b] = Int(l)
        }
        return out
    }

    /// Runs a sequence model: the arguments are checked and the outputs
    /// sized before anything is written. `tap` (ensembles averaging logits)
    /// sees every layer's buffer before the heads' transforms run.
    func forwardSequence(_ net: SequenceNet, _ input: SequenceNet.Input, inputSpan: (UnsafeRawPointer?, Int),
                         batch: Int, steps: Int, lengths: [Int]?, state: ModelState? = nil,
                         into outputs: [UnsafeMutableBufferPointer<Float>],
                         tap: (([UnsafeMutablePointer<Float>]) -> Void)? = nil) throws(SoftmaxKitError) {
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the model has \(heads.count) heads")
        }
        for (h, o) in zip(heads, outputs) {
            try checkCount("output of head \"\(h.name)\"", o.count, Model.outputCount(h, batch: batch, steps: steps))
        }
        try Model.checkNoOverlap(inputSpan, outputs, heads)
        // Streaming: which heads have a value at this tick (selected steps).
        let ready = state.map { s in
            let layers = net.readyAtTick(s.steps)
            return heads.map { h in h.inputLayers.allSatisfy { layers[$0] } }
        }
        defer { if let state, let ready { state.steps += 1; state.ready = ready } }
        if batch == 0 { return }
        let bt = batch * steps
        try (lengths ?? []).withUnsafeBufferPointer { (lp) throws(SoftmaxKitError) in
            let lens = lengths == nil ? nil : lp.baseAddress
            try net.run(input, batch: batch, steps: steps, lengths: lens, state: state) { buffers in
                tap?(buffers)
                for (k, (h, o)) in zip(heads, outputs).enumerated() {
                    let rows = h.perStep ? bt : batch
                    if rows == 0 { continue }
                    if let ready, !ready[k] {
                        o.baseAddress!.update(repeating: .nan, count: rows * h.size)
                        continue
                    }
                    h.transform.apply(rows: rows, layer: h.layer, widths: layerWidths, input: { UnsafePointer(buffers[$0]) },
                                      o.baseAddress!, size: h.size)
                    if let lengths { Model.padSteps(o.baseAddress!, h, batch: batch, steps: steps, lengths: lengths) }
                }
            }
        }
    }

    /// No output may overlap the input (`span`: its start and byte count) or
    /// another output.
    static func checkNoOverlap(_ span: (UnsafeRawPointer?, Int), _ outputs: [UnsafeMutableBufferPointer<Float>],
                               _ heads: [CompiledHead]) throws(SoftmaxKitError) {
        var spans: [(lo: UInt, hi: UInt, who: Int)] = []
        if let p = span.0, span.1 > 0 { spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(span.1), -1)) }
        for (k, o) in outputs.enumerated() {
            guard let p = o.baseAddress, o.count > 0 else { continue }
            spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(o.count * 4), k))
        }
        spans.sort { $0.lo < $1.lo }
        for k in spans.indices.dropFirst() where spans[k].lo < spans[k - 1].hi {
            func name(_ who: Int) -> String { who < 0 ? "the input" : "output of head \"\(heads[who].name)\"" }
            throw .invalid("\(name(spans[k - 1].who)) and \(name(spans[k].who)) overlap: outputs must not overlap the input or each other")
        }
    }

    /// Sets head `h`'s per-step output at padding steps (`t >= lengths[b]`)
    /// to exactly 0, or -inf after log-softmax (a fully masked row).
    static func padSteps(_ o: UnsafeMutablePointer<Float>, _ h: CompiledHead, batch: Int, steps: Int, lengths: [Int]) {
        guard h.perStep else { return }
        var pad: Float = 0
        if case .logSoftmax = h.transform { pad = -.infinity }
        for b in 0..<batch where lengths[b] < steps {
            (o + (b * steps + lengths[b]) * h.size).update(repeating: pad, count: (steps - lengths[b]) * h.size)
        }
    }

    /// `ids` (`[batch, steps]`) as Int, each valid one checked to lie in
    /// `[0, vocabulary)`; ids at padding steps are not read.
    /// `oneStep`: the ids of one streaming step, named by row alone.
    static func checkedIds<I: BinaryInteger>(_ ids: UnsafeBufferPointer<I>, batch: Int, steps: Int, lengths: [Int]?,
                                            vocabulary v: Int, oneStep: Bool = false) throws(SoftmaxKitError) -> [Int] {
        var checked = [Int](repeating: 0, count: batch * steps)
        for b in 0..<batch {
            for t in 0..<(lengths?[b] ?? steps) {
                let id = ids[b * steps + t]
                guard id >= 0, id < v else {
                    throw .invalid(oneStep ? "ids[\(b)] is \(id), outside the vocabulary [0, \(v))"
                                   : "ids[\(b), \(t)] is \(id), outside the vocabulary [0, \(v))")
                }
                checked[b * steps + t] = Int(id)
            }
        }
        return checked
    }

    /// What a model or an ensemble's member is fed.
    enum Feed {
        case floats(UnsafeBufferPointer<Float>, features: Int)
        case ids(UnsafeBufferPointer<Int>)
    }

    /// One run of the model for an ensemble: a forward (`state` nil) or one
    /// step. With `tap`, the layer buffers go to it as `(first row, rows or
    /// nil for all, buffers)` (a model of dense layers hands them block by
    /// block) and the outputs need not be written.
    func run(_ feed: Feed, batch: Int, steps: Int, lengths: [Int]?, state: ModelState?,
             into outputs: [UnsafeMutableBufferPointer<Float>],
             tap: ((Int, Int?, [UnsafeMutablePointer<Float>]) -> Void)?) throws(SoftmaxKitError) {
        if let state { try checkState(state, batch: batch) }
        guard let net = sequence else {
            guard case .floats(let x, let f) = feed else { throw .invalid("the model takes \(features) float features, not token ids") }
            if let tap {
                let r = try rows(batch: batch, steps: steps, features: f)
                try checkCount("x", x.count, r * features)
                if r > 0 { try withLayers(x.baseAddress!, rows: r) { s, c, b in tap(s, c, b) } }
                if let state { state.steps += 1; state.ready = Array(repeating: true, count: heads.count) }
            } else if let state {
                try step(x, state: state, features: f, into: outputs)
            } else {
                try (lengths ?? []).withUnsafeBufferPointer { (lp) throws(SoftmaxKitError) in
                    try forward(x, batch: batch, steps: steps, features: f, lengths: lengths == nil ? nil : lp, into: outputs)
                }
            }
            return
        }
        let seqTap = tap.map { t in { (b: [UnsafeMutablePointer<Float>]) in t(0, nil, b) } }
        switch feed {
        case .floats(let x, let f):
            if let v = net.vocabulary { throw .invalid("the model's input is token ids (vocabulary \(v)), not float features") }
            let r = try rows(batch: batch, steps: steps, features: f)
            try checkCount("x", x.count, r * features)
            try forwardSequence(net, .floats(x.baseAddress ?? UnsafePointer(bitPattern: 16)!), inputSpan: (UnsafeRawPointer(x.baseAddress), r * features * 4),
                                batch: batch, steps: steps, lengths: lengths, state: state, into: outputs, tap: seqTap)
        case .ids(let ids):
            guard let v = net.vocabulary else { throw .invalid("the model takes \(features) float features, not token ids") }
            try checkCount("ids", ids.count, batch * steps)
            let checked = try Model.checkedIds(ids, batch: batch, steps: steps, lengths: lengths, vocabulary: v, oneStep: state != nil)
            try checked.withUnsafeBufferPointer { (c) throws(SoftmaxKitError) in
                try forwardSequence(net, .ids(c.baseAddress ?? UnsafePointer(bitPattern: 16)!), inputSpan: (nil, 0),
                                    batch: batch, steps: steps, lengths: lengths, state: state, into: outputs, tap: seqTap)
            }
        }
    }

    /// Forward of a model with an id input on `ids` (`[batch, steps]`, each
    /// in `[0, vocabulary)`), optionally with per-row `lengths`; head `h`
    /// goes to `outputs[h]` (`[batch, steps, size]` or `[batch, size]`).
    /// Ids at padding steps are not read.
    /// - Throws: `.invalidArgument` (not an id model, an id outside the
    ///   vocabulary naming its row and step, a length outside `[0, steps]`,
    ///   overlapping buffers), `.shapeMismatch` (buffer sizes, a selected
    ///   step outside the input), `.sizeOverflow`, `.outOfMemory`.
    public func forward<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, batch: Int, steps: Int,
                                          lengths: UnsafeBufferPointer<Int>? = nil,
                                          into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        guard let net = sequence, let v = net.vocabulary else {
            throw .invalid("the model takes \(features) float features, not token ids")
        }
        guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
        guard let bt = elementCount(batch, steps) else { throw .overflow("ids [\(batch), \(steps)] overflow 64 bits") }
        try checkCount("ids", ids.count, bt)
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        let checked = try Model.checkedIds(ids, batch: batch, steps: steps, lengths: lens, vocabulary: v)
        try checked.withUnsafeBufferPointer { (c) throws(SoftmaxKitError) in
            try forwardSequence(net, .ids(c.baseAddress!), inputSpan: (UnsafeRawPointer(ids.baseAddress), bt * MemoryLayout<I>.stride),
                                batch: batch, steps: steps, lengths: lens, into: outputs)
        }
    }

    /// Forward on float input `[batch, steps, features]` with per-row
    /// `lengths` (steps `t >= lengths[b]` are padding: recurrent layers do not
    /// advance on them, per-step outputs there are 0, or -inf for
    /// log-softmax). A dense-only model has no state: its padding rows are
    /// computed and then set likewise.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int,
                        lengths: UnsafeBufferPointer<Int>?,
                        into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        guard let lengths else { return try forward(x, batch: batch, steps: steps, features: f, into: outputs) }
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        guard let net = sequence else {
            try forward(x, batch: batch, steps: steps, features: f, into: outputs)
            for (h, o) in zip(heads, outputs) where batch > 0 && steps > 0 {
                Model.padSteps(o.baseAddress!, h, batch: batch, steps: steps, lengths: lens!)
            }
            return
        }
        try forwardFloats(net, x, batch: batch, steps: steps, features: f, lengths: lens, into: outputs)
    }

    func forwardFloats(_ net: SequenceNet, _ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int,
                       lengths: [Int]?, into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        if let v = net.vocabulary { throw .invalid("the model's input is token ids (vocabulary \(v)), not float features") }
        let r = try rows(batch: batch, steps: steps, features: f)
        try checkCount("x", x.count, r * features)
        try forwardSequence(net, .floats(x.baseAddress ?? UnsafePointer(bitPattern: 16)!), inputSpan: (UnsafeRawPointer(x.baseAddress), r * features * 4),
                            batch: batch, steps: steps, lengths: lengths, into: outputs)
    }

    /// Forward on token ids shaped `[batch, steps]` (or `[batch]`, one
    /// step); returns each head's output by name.
    public func callAsFunction<I: BinaryInteger>(ids: [I], shape: [Int], lengths: [Int]? = nil) throws(SoftmaxKitError) -> [String: [Float]] {
        let (batch, steps, bt) = try Model.idsShape(shape, count: ids.count)
        return try Model.outputArrays(heads, batch: batch, steps: steps) { (ptrs) throws(SoftmaxKitError) in
            try ids.withUnsafeBufferPointer { (ib) throws(SoftmaxKitError) in
                try (lengths ?? []).withUnsafeBufferPointer { (lp) throws(SoftmaxKitError) in
                    try forward(ids: UnsafeBufferPointer(rebasing: ib[0..<bt]), batch: batch, steps: steps,
                                lengths: lengths == nil ? nil : lp, into: ptrs)
                }
            }
        }
    }
}

extension Model {
    /// `[batch]` or `[batch, steps]` token ids: the batch, the steps and
    /// their product, checked against the ids given.
    static func idsShape(_ shape: [Int], count: Int) throws(SoftmaxKitError) -> (batch: Int, steps: Int, count: Int) {
        let (batch, steps): (Int, Int)
        switch shape.count {
        case 1: (batch, steps) = (shape[0], 1)
        case 2: (batch, steps) = (shape[0], shape[1])
        default: throw .invalid("ids shape \(shape) must be [batch] or [batch, steps]")
        }
        guard batch >= 0, steps >= 0, let bt = elementCount(batch, steps) else { throw .invalid("ids shape \(shape) is not a valid shape") }
        guard count >= bt else { throw .shape("ids holds \(count) values but shape \(shape) needs \(bt)") }
        return (batch, steps, bt)
    }

    /// Allocates each head's output for `[batch, steps]` rows, runs `body`
    /// on them and returns them by head name.
    static func outputArrays(_ heads: [CompiledHead], batch: Int, steps: Int,
                             _ body: ([UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs: [[Float]] = []
        for h in heads { outs.append([Float](repeating: 0, count: try outputCount(h, batch: batch, steps: steps))) }
        try withMutableBuffers(&outs, body)
        var result: [String: [Float]] = [:]
        for (h, o) in zip(heads, outs) { result[h.name] = o }
        return result
    }
}

/// Hands `body` a mutable buffer for each array.
func withMutableBuffers<T>(_ arrays: inout [[T]], _ body: ([UnsafeMutableBufferPointer<T>]) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
    var ptrs: [UnsafeMutableBufferPointer<T>] = []
    for k in arrays.indices {
        let c = arrays[k].count
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(c, 1))
        p.initialize(from: arrays[k], count: c)
        ptrs.append(UnsafeMutableBufferPointer(start: p, count: c))
    }
    defer { for p in ptrs { p.baseAddress!.deallocate() } }
    try body(ptrs)
    for k in arrays.indices { arrays[k] = Array(ptrs[k]) }
}
