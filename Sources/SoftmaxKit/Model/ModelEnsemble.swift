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
///
/// Sequence models ensemble like any other: forward with lengths or on token
/// ids, per-step heads (`[batch, steps, size]`) and final-state heads, and
/// streaming with an ``EnsembleState`` (one state per member); every output
/// is the combination of the members' outputs for the same call (padding
/// steps then set as a model sets them, heads that are not ready at a tick
/// NaN).
/// Immutable and thread-safe like `Model`.
public final class Ensemble: @unchecked Sendable {
    public let models: [Model]
    public let mode: EnsembleMode
    public var heads: [CompiledHead] { models[0].heads }
    public var features: Int { models[0].features }
    /// The vocabulary of the members' id input, else nil.
    public var vocabulary: Int? { models[0].vocabulary }
    /// Whether a member is a sequence model (its runs go member by member
    /// over whole sequences).
    let hasSequenceModel: Bool
    /// The padding id given by a manifest (``init(manifest:)``) or
    /// ``init(models:mode:paddingID:)``; set only while the ensemble is
    /// made (see ``paddingID``).
    var givenPaddingID: Int? = nil

    /// - Throws: `.invalidArgument` for no models; `.shapeMismatch` when the
    ///   models differ in their input (features or vocabulary) or heads
    ///   (name, kind, size, parameters, one row per step or per sequence).
    public init(models: [Model], mode: EnsembleMode = .arithmetic) throws(SoftmaxKitError) {
        guard let first = models.first else { throw .invalid("an ensemble needs at least one model") }
        for (k, m) in models.enumerated().dropFirst() {
            guard m.vocabulary == first.vocabulary else {
                func input(_ m: Model) -> String { m.vocabulary.map { "token ids of vocabulary \($0)" } ?? "\(m.features) float features" }
                throw .shape("model \(k) takes \(input(m)) but model 0 takes \(input(first))")
            }
            guard m.vocabulary != nil || m.features == first.features else {
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
        self.hasSequenceModel = models.contains { $0.sequence != nil }
    }

    static func sameHead(_ a: CompiledHead, _ ma: Model, _ b: CompiledHead, _ mb: Model) -> Bool {
        var sa = a.spec, sb = b.spec
        sa.layer = nil; sb.layer = nil; sa.coarse = nil; sb.coarse = nil; sa.fine = nil; sb.fine = nil
        guard a.name == b.name, a.size == b.size, a.perStep == b.perStep, sa == sb else { return false }
        return a.inputLayers.map { ma.layerWidths[$0] } == b.inputLayers.map { mb.layerWidths[$0] }
    }

    /// As ``Model/forward(_:batch:steps:features:into:)``: checks everything
    /// first, then writes each head's averaged output.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                        into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        if hasSequenceModel {
            return try run(.floats(x, features: f), batch: batch, steps: steps, lengths: nil, state: nil, into: outputs)
        }
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
        let xs = UnsafeBufferPointer(start: x.baseAddress!, count: r * features)
        let rows = heads.map { _ in r }
        switch mode {
        case .logits:
            try combineLogits(rows: rows, outputs) { (_, m, tap) throws(SoftmaxKitError) in try m.withLayers(x.baseAddress!, rows: r, tap) }
        case .arithmetic, .geometric:
            try combineOutputs(rows: rows, outputs) { (_, m, outs) throws(SoftmaxKitError) in
                try m.forward(xs, batch: r, steps: 1, features: features, into: outs)
            }
        }
    }

    /// As ``Model/forward(_:batch:steps:features:lengths:into:)``: each
    /// member runs with the lengths, then the outputs are combined and the
    /// padding steps of per-step heads set to 0 (-inf for log-softmax).
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int, features f: Int,
                        lengths: UnsafeBufferPointer<Int>?,
                        into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        if vocabulary != nil { _ = try models[0].rows(batch: batch, steps: steps, features: f) }
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        try run(.floats(x, features: f), batch: batch, steps: steps, lengths: lens, state: nil, into: outputs)
    }

    /// As ``Model/forward(ids:batch:steps:lengths:into:)`` for an ensemble of
    /// models of token ids.
    public func forward<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, batch: Int, steps: Int,
                                          lengths: UnsafeBufferPointer<Int>? = nil,
                                          into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        let v = try idVocabulary()
        guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
        guard let bt = elementCount(batch, steps) else { throw .overflow("ids [\(batch), \(steps)] overflow 64 bits") }
        try checkCount("ids", ids.count, bt)
        let lens = try Model.checkedLengths(lengths, batch: batch, steps: steps)
        let checked = try Model.checkedIds(ids, batch: batch, steps: steps, lengths: lens, vocabulary: v)
        try Model.checkNoOverlap((UnsafeRawPointer(ids.baseAddress), bt * MemoryLayout<I>.stride), outputs, heads)
        try checked.withUnsafeBufferPointer { (c) throws(SoftmaxKitError) in
            try run(.ids(c), batch: batch, steps: steps, lengths: lens, state: nil, into: outputs)
        }
    }

    /// The members' vocabulary of token ids; `.invalidArgument` for
    /// members of float features (the id calls' check, the C ABI's too).
    @_spi(CABI) public func idVocabulary() throws(SoftmaxKitError) -> Int {
        guard let v = vocabulary else { throw .invalid("the ensemble's models take \(features) float features, not token ids") }
        return v
    }

    /// A zero state for running the ensemble `batch` rows at a time, one
    /// step per call (one ``ModelState`` per member).
    /// - Throws: the errors of ``Model/makeState(batch:)`` (naming the member).
    public func makeState(batch: Int) throws(SoftmaxKitError) -> EnsembleState {
        var states: [ModelState] = []
        for (k, m) in models.enumerated() {
            do { states.append(try m.makeState(batch: batch)) } catch {
                throw SoftmaxKitError(error.kind, "model \(k) of the ensemble: \(error.message)")
            }
        }
        return EnsembleState(ensemble: self, states: states, batch: batch, heads: heads.count)
    }

    /// Runs one step `x_t` (`[batch, features]`) of every member from
    /// `state` and writes the combination of their step outputs; a head
    /// that is not ready in every member at this tick is not ready (NaN).
    /// Everything is checked before anything is written.
    /// - Throws: `.shapeMismatch` (a state of another ensemble or batch
    ///   size, features, buffer sizes), the errors of
    ///   ``Model/step(_:state:features:into:)``.
    public func step(_ x: UnsafeBufferPointer<Float>, state: EnsembleState, features f: Int,
                     into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try checkState(state)
        if vocabulary != nil { _ = try models[0].rows(batch: state.batch, steps: 1, features: f) }
        try run(.floats(x, features: f), batch: state.batch, steps: 1, lengths: nil, state: state, into: outputs)
    }

    /// One step of token ids (`[batch]`), as ``step(_:state:features:into:)``.
    public func step<I: BinaryInteger>(ids: UnsafeBufferPointer<I>, state: EnsembleState,
                                       into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try checkState(state)
        let v = try idVocabulary()
        try checkCount("ids", ids.count, state.batch)
        let checked = try Model.checkedIds(ids, batch: state.batch, steps: 1, lengths: nil, vocabulary: v, oneStep: true)
        try Model.checkNoOverlap((UnsafeRawPointer(ids.baseAddress), state.batch * MemoryLayout<I>.stride), outputs, heads)
        try checked.withUnsafeBufferPointer { (c) throws(SoftmaxKitError) in
            try run(.ids(c), batch: state.batch, steps: 1, lengths: nil, state: state, into: outputs)
        }
    }

    private func checkState(_ state: EnsembleState) throws(SoftmaxKitError) {
        guard state.owner == ObjectIdentifier(self) else { throw .shape("the state belongs to another ensemble") }
    }

    /// ``step(_:state:features:into:)`` on arrays; returns each ready head's
    /// `[batch, size]` (a head that is not ready at this tick is absent).
    public func step(_ x: [Float], state: EnsembleState) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs = try models[0].stepOutputs(batch: state.batch)
        guard state.batch == 0 || x.count % state.batch == 0 else {
            throw .shape("x holds \(x.count) values, not a whole number of rows for batch \(state.batch)")
        }
        let f = state.batch == 0 ? features : x.count / state.batch
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in try step(xb, state: state, features: f, into: ptrs) }
        }
        return models[0].readyOutputs(outs, state.ready)
    }

    /// ``step(ids:state:into:)`` on an array of `state.batch` ids.
    public func step<I: BinaryInteger>(ids: [I], state: EnsembleState) throws(SoftmaxKitError) -> [String: [Float]] {
        var outs = try models[0].stepOutputs(batch: state.batch)
        try ids.withUnsafeBufferPointer { (ib) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in try step(ids: ib, state: state, into: ptrs) }
        }
        return models[0].readyOutputs(outs, state.ready)
    }

    /// Forward on `[batch, steps, features]` floats (or `[batch, steps]` ids
    /// for an id ensemble, given as Float-free ``callAsFunction(ids:shape:lengths:)``)
    /// with per-row `lengths`; returns each head's combined output by name.
    public func callAsFunction(_ x: [Float], shape: [Int], lengths: [Int]?) throws(SoftmaxKitError) -> [String: [Float]] {
        let (batch, steps, f) = try Model.splitShape(shape)
        guard let n = elementCount(batch, steps, f), x.count >= n else { throw .shape("x holds \(x.count) values but shape \(shape) needs more") }
        var outs: [[Float]] = []
        for h in heads { outs.append([Float](repeating: 0, count: try Model.outputCount(h, batch: batch, steps: steps))) }
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try withMutableBuffers(&outs) { (ptrs) throws(SoftmaxKitError) in
                try (lengths ?? []).withUnsafeBufferPointer { (lp) throws(SoftmaxKitError) in
                    try forward(UnsafeBufferPointer(rebasing: xb[0..<n]), batch: batch, steps: steps, features: f,
                                lengths: lengths == nil ? nil : lp, into: ptrs)
                }
            }
        }
        var result: [String: [Float]] = [:]
        for (h, o) in zip(heads, outs) { result[h.name] = o }
        return result
    }

    /// Forward on token ids shaped `[batch, steps]` (or `[batch]`).
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

    /// The member-by-member run behind sequence forwards and steps: every
    /// argument is checked by the members (the first one fails before any
    /// output or state is written), then the outputs are combined; padding
    /// steps are set as a model sets them and heads not ready in every
    /// member's state are NaN.
    func run(_ feed: Model.Feed, batch: Int, steps: Int, lengths: [Int]?, state: EnsembleState?,
             into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the ensemble has \(heads.count) heads")
        }
        if let state, state.batch != batch { throw .shape("the state is for batch \(state.batch), the input has batch \(batch)") }
        var rows: [Int] = []
        for (h, o) in zip(heads, outputs) {
            let n = try Model.outputCount(h, batch: batch, steps: steps)
            try checkCount("output of head \"\(h.name)\"", o.count, n)
            rows.append(h.size > 0 ? n / h.size : 0)
        }
        if case .floats(let x, let f) = feed {
            _ = try models[0].rows(batch: batch, steps: steps, features: f)
            try checkCount("x", x.count, batch * steps * features)
            try Model.checkNoOverlap((UnsafeRawPointer(x.baseAddress), batch * steps * features * 4), outputs, heads)
        }
        switch mode {
        case .logits:
            try combineLogits(rows: rows, outputs) { (k, m, tap) throws(SoftmaxKitError) in
                // A sequence member still writes its outputs: into scratch.
                try withScratchOutputs(m, batch: batch, steps: steps) { (outs) throws(SoftmaxKitError) in
                    try m.run(feed, batch: batch, steps: steps, lengths: lengths, state: state?.states[k], into: outs, tap: tap)
                }
            }
        case .arithmetic, .geometric:
            try combineOutputs(rows: rows, outputs) { (k, m, outs) throws(SoftmaxKitError) in
                try m.run(feed, batch: batch, steps: steps, lengths: lengths, state: state?.states[k], into: outs, tap: nil)
            }
        }
        if let lengths, steps > 0 {
            for (h, o) in zip(heads, outputs) where batch > 0 {
                Model.padSteps(o.baseAddress!, h, batch: batch, steps: steps, lengths: lengths)
            }
        }
        if let state {
            state.steps += 1
            for h in heads.indices {
                state.ready[h] = state.states.allSatisfy { $0.ready[h] }
                if !state.ready[h], let p = outputs[h].baseAddress { p.update(repeating: .nan, count: outputs[h].count) }
            }
        }
    }

    private func withScratchOutputs(_ m: Model, batch: Int, steps: Int,
                                    _ body: ([UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
        var sizes: [Int] = [], total = 0
        for h in m.heads {
            let n = try Model.outputCount(h, batch: batch, steps: steps)
            sizes.append(n)
            let (t, o) = total.addingReportingOverflow(n)
            guard !o else { throw .overflow("ensemble scratch for [\(batch), \(steps)] overflows 64 bits") }
            total = t
        }
        let p = try allocate(Float.self, max(total, 1), for: "one ensemble member's outputs")
        defer { rawFree(p) }
        var bufs: [UnsafeMutableBufferPointer<Float>] = [], q = p
        for n in sizes { bufs.append(UnsafeMutableBufferPointer(start: q, count: n)); q += n }
        try body(bufs)
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
            outs.append(UnsafeMutableBufferPointer<Float>.allocate(capacity: try Model.outputCount(h, batch: batch, steps: steps)))
        }
        try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
            try forward(xb, batch: batch, steps: steps, features: f, into: outs)
        }
        for (h, o) in zip(heads, outs) { result[h.name] = Array(o) }
        return result
    }

    /// Accumulates each model's head outputs (in the averaging space of the
    /// mode), then maps the means back.
    /// `rows[h]`: head h's output rows; `member(k, model, buffers)` writes
    /// member k's outputs.
    private func combineOutputs(rows: [Int], _ outputs: [UnsafeMutableBufferPointer<Float>],
                                member: (Int, Model, [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
        let sizes = zip(heads, rows).map { $1 * $0.size }
        let total = sizes.reduce(0, +)
        let r = rows.max() ?? 0
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
        for (k, m) in models.enumerated() {
            try member(k, m, tmpBufs)
            for (h, head) in heads.enumerated() {
                let sp = spaces[h], w = head.size
                for i in 0..<sizes[h] {
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
            guard let y = outputs[h].baseAddress else { continue }
            for row in 0..<rows[h] {
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
    /// `rows[h]`: head h's output rows; `layers(k, model, tap)` runs member k
    /// and hands its layer buffers to `tap` as `(first row, rows or nil for
    /// all, buffers)`.
    private func combineLogits(rows: [Int], _ outputs: [UnsafeMutableBufferPointer<Float>],
                               layers: (Int, Model, @escaping (Int, Int?, [UnsafeMutablePointer<Float>]) -> Void) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
        // One accumulator per (head, input slot), sized rows x that layer's width.
        let first = models[0]
        var slotWidths: [[Int]] = []
        var total = 0
        for (h, head) in heads.enumerated() {
            let ws = head.inputLayers.map { first.layerWidths[$0] }
            slotWidths.append(ws)
            for w in ws { total += rows[h] * w }
        }
        guard let acc = rawAllocate(Float.self, max(total, 1)) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate ensemble buffers of \(total) floats")
        }
        defer { rawFree(acc) }
        acc.initialize(repeating: 0, count: total)
        var slots: [[UnsafeMutablePointer<Float>]] = []
        var p = acc
        for (h, ws) in slotWidths.enumerated() {
            slots.append(ws.map { w in defer { p += rows[h] * w }; return p })
        }
        let inv = 1 / Float(models.count)
        for (k, m) in models.enumerated() {
            try layers(k, m) { start, count, buffers in
                for (h, head) in m.heads.enumerated() {
                    for (s, l) in head.inputLayers.enumerated() {
                        let w = slotWidths[h][s]
                        let src = buffers[l], dst = slots[h][s] + start * w
                        for i in 0..<(count ?? rows[h]) * w { dst[i] += src[i] * inv }
                    }
                }
            }
        }
        for (h, head) in heads.enumerated() where rows[h] > 0 {
            let local = head.slotTransform
            local.apply(rows: rows[h], layer: 0, widths: slotWidths[h], input: { UnsafePointer(slots[h][$0]) },
                        outputs[h].baseAddress!, size: head.size)
        }
    }
}

private func _exp(_ x: Double) -> Double { Double.libmExp(x) }
private func _log(_ x: Double) -> Double { Double.libmLog(x) }
private func _log1p(_ x: Double) -> Double { Double.libmLog1p(x) }

/// The carried state of an ensemble run one step at a time
/// (``Ensemble/makeState(batch:)``): one ``ModelState`` per member. It
/// belongs to its ensemble and batch size; one thread uses it at a time.
public final class EnsembleState: @unchecked Sendable {
    let owner: ObjectIdentifier
    let states: [ModelState]
    public let batch: Int
    /// Steps consumed since creation or the last ``reset()``.
    public internal(set) var steps = 0
    /// Per head: whether the last step gave it a value (in every member).
    public internal(set) var ready: [Bool]

    init(ensemble: Ensemble, states: [ModelState], batch: Int, heads: Int) {
        owner = ObjectIdentifier(ensemble); self.states = states; self.batch = batch
        ready = Array(repeating: false, count: heads)
    }

    /// Back to the zero initial state of every member.
    public func reset() {
        for s in states { s.reset() }
        steps = 0
        ready = Array(repeating: false, count: ready.count)
    }
}

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
