/// An LSTM or GRU stack as PyTorch's `nn.LSTM` / `nn.GRU` (`batch_first=True`,
/// zero initial state) computes it, in float32.
///
/// Per direction of each stacked layer the input projection of every step
/// is one matrix product (`X W_ih^T + b`, all `batch * steps` rows at once);
/// only `h W_hh^T` runs per step, on the whole batch, followed by the gate
/// arithmetic in the kernels' vector math (`Float.vsigmoid`,
/// `DenseActivation.tanh`).
///
/// LSTM gates i, f, g, o: `c' = f c + i g`, `h' = o tanh(c')`, both biases summed
/// into the fused step product (FusedLSTM). GRU gates r, z, n:
/// `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`, `h' = (1 - z) n + z h`;
/// `b_hr`, `b_hz` fold into the input projection, `b_hn` stays with `h`.
final class RecurrentLayer: @unchecked Sendable {
    enum Cell { case lstm, gru }

    enum Direction {
        /// Both products in one, the gates and cell update fused into its store.
        case lstm(FusedLSTM)
        /// The input projection `[G*H, in]` (biases folded as above) over
        /// every step at once, then per step the hidden product `[G*H, H]`
        /// (bias `[0, 0, b_hn]`) and the gates.
        case gru(input: PackedWeights, hidden: PackedWeights)

        var fused: FusedLSTM? { if case .lstm(let f) = self { return f } else { return nil } }
    }

    let cell: Cell
    let hidden: Int
    let inputWidth: Int
    /// `stack[k][d]`: layer k, direction d (0 forward, 1 backward).
    let stack: [[Direction]]
    let sequence: Bool
    let parameterCount: Int
    var gates: Int { cell == .lstm ? 4 : 3 }
    var directions: Int { stack[0].count }
    /// Output width: `H * directions` (per step, or of the final state).
    var width: Int { hidden * directions }

    /// Builds the layer `name` from its `state_dict` tensors; `use` marks a
    /// tensor consumed. Every shape is checked against G, H and the input
    /// width and named in the error.
    init(name: String, path: String, cell: Cell, inputWidth: Int, units: Int?, numLayers: Int, bidirectional: Bool,
         sequence: Bool, tensor: (String) -> Tensor?, use: (String) -> Void) throws(SoftmaxKitError) {
        func fmt(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, m) }
        guard numLayers >= 1, numLayers <= 1024 else { throw fmt("\(path).num_layers: must be in [1, 1024], got \(numLayers)") }
        let g = cell == .lstm ? 4 : 3
        let kindName = cell == .lstm ? "lstm" : "gru"
        // H from weight_hh_l0 ([G*H, H]), checked against units.
        let probe = "\(name).weight_hh_l0"
        guard let whh0 = tensor(probe) else { throw fmt("missing tensor \"\(probe)\" for \(kindName) layer \"\(name)\"") }
        guard whh0.shape.count == 2, whh0.shape[1] > 0, whh0.shape[1] <= maxElementCount / g,
              whh0.shape[0] == g * whh0.shape[1] else {
            throw .shape("tensor \"\(probe)\" has shape \(whh0.shape); a \(kindName) layer's is [\(g) * H, H]")
        }
        let h = whh0.shape[1]
        if let u = units, u != h { throw .shape("\(path).units: \(u) does not match \"\(probe)\" \(whh0.shape) (H = \(h))") }
        if tensor("\(name).weight_hr_l0") != nil {
            throw fmt("tensor \"\(name).weight_hr_l0\": LSTM projections (proj_size) are not supported")
        }
        var stack: [[Direction]] = []
        var params = 0
        var inW = inputWidth
        for k in 0..<numLayers {
            var dirs: [Direction] = []
            for suffix in bidirectional ? ["", "_reverse"] : [""] {
                let wi = "\(name).weight_ih_l\(k)\(suffix)", wh = "\(name).weight_hh_l\(k)\(suffix)"
                let bi = "\(name).bias_ih_l\(k)\(suffix)", bh = "\(name).bias_hh_l\(k)\(suffix)"
                if tensor("\(name).weight_hr_l\(k)\(suffix)") != nil {
                    throw fmt("tensor \"\(name).weight_hr_l\(k)\(suffix)\": LSTM projections (proj_size) are not supported")
                }
                guard let tWi = tensor(wi) else {
                    throw fmt("missing tensor \"\(wi)\" for \(kindName) layer \"\(name)\"\(suffix.isEmpty ? "" : " (bidirectional: the backward direction)")")
                }
                guard let tWh = tensor(wh) else {
                    throw fmt("missing tensor \"\(wh)\" for \(kindName) layer \"\(name)\"\(suffix.isEmpty ? "" : " (bidirectional: the backward direction)")")
                }
                guard tWi.shape == [g * h, inW] else {
                    throw .shape("tensor \"\(wi)\" has shape \(tWi.shape), expected [\(g * h), \(inW)] (\(g) gates x H = \(h), input width \(inW))")
                }
                guard tWh.shape == [g * h, h] else {
                    throw .shape("tensor \"\(wh)\" has shape \(tWh.shape), expected [\(g * h), \(h)] (\(g) gates x H = \(h))")
                }
                let tBi = tensor(bi), tBh = tensor(bh)
                guard (tBi == nil) == (tBh == nil) else {
                    throw fmt("tensor \"\(tBi == nil ? bh : bi)\" without \"\(tBi == nil ? bi : bh)\": give both biases or neither")
                }
                var bIn = [Float](repeating: 0, count: g * h), bHid = [Float](repeating: 0, count: g * h)
                if let tBi, let tBh {
                    for (t, n) in [(tBi, bi), (tBh, bh)] where t.shape != [g * h] {
                        throw .shape("tensor \"\(n)\" has shape \(t.shape), expected [\(g * h)]")
                    }
                    let vi = try modelFloats(tBi, bi), vh = try modelFloats(tBh, bh)
                    for j in 0..<(g * h) {
                        // LSTM: both into the input projection; GRU: all but b_hn.
                        if cell == .gru && j >= 2 * h { bIn[j] = vi[j]; bHid[j] = vh[j] } else { bIn[j] = vi[j] + vh[j] }
                    }
                    use(bi); use(bh)
                    params += 2 * g * h
                }
                use(wi); use(wh)
                params += tWi.count + tWh.count
                let fWi = try modelFloats(tWi, wi), fWh = try modelFloats(tWh, wh)
                dirs.append(cell == .lstm
                    ? .lstm(try FusedLSTM(wih: fWi, whh: fWh, bias: bIn, inputWidth: inW, hidden: h))
                    : .gru(input: try PackedWeights(weight: fWi, bias: bIn, n: g * h, k: inW),
                           hidden: try PackedWeights(weight: fWh, bias: bHid, n: g * h, k: h)))
            }
            stack.append(dirs)
            inW = h * dirs.count
        }
        self.cell = cell; self.hidden = h; self.inputWidth = inputWidth
        self.stack = stack; self.sequence = sequence; self.parameterCount = params
    }

    /// Floats of a streaming state for `batch` rows: h and c per stacked layer.
    func stateCount(batch b: Int) -> Int { 2 * stack.count * b * hidden }

    /// Floats of scratch ``run(_:batch:steps:lengths:_:scratch:)`` needs.
    func scratchCount(batch b: Int, steps t: Int) -> Int? {
        let gh = gates * hidden
        guard let rows = elementCount(b, t), var proj = elementCount(rows, gh), let seq = elementCount(rows, width),
              let step = elementCount(b, gh), let state = elementCount(b, hidden) else { return nil }
        var work = 0
        if cell == .lstm {
            // The fused step needs only its packed rows [x, h].
            proj = 0
            for dirs in stack {
                for d in dirs {
                    guard let f = d.fused, let c = elementCount(b, f.k) else { return nil }
                    proj = max(proj, c)
                }
            }
        } else {
            for dirs in stack {
                for case .gru(let input, let hiddenProduct) in dirs {
                    work = max(work, input.workspaceCount(rows: rows), hiddenProduct.workspaceCount(rows: b))
                }
            }
        }
        // projections (LSTM: packed rows), two sequence buffers, per-step products, h, c, workspace
        let parts = [proj, seq, seq, step, state, state, work]
        var total = 0
        for p in parts {
            let (s, o) = total.addingReportingOverflow(p)
            guard !o else { return nil }
            total = s
        }
        return total
    }

    /// Runs the stack on `x` (`[batch, steps, inputWidth]`); writes `y`:
    /// `[batch, steps, width]` (every step; padding steps 0) or, for a
    /// final-state layer, `[batch, width]`. `lengths[b]` (nil: all `steps`)
    /// steps of row b are valid; padding steps do not advance the state.
    ///
    /// `carry` (unidirectional stacks only: ``stateCount(batch:)`` floats,
    /// per stacked layer h then c, each `[batch, H]`) is the state to start
    /// from, and receives the state after the last step.
    func run(_ x: UnsafePointer<Float>, batch b: Int, steps t: Int, lengths: UnsafePointer<Int>?,
             _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
             carry: UnsafeMutablePointer<Float>? = nil) {
        let H = hidden, G = gates, gh = G * H, W = width, rows = b * t
        let proj = scratch
        let projCount = cell == .lstm ? stack.joined().map { b * ($0.fused?.k ?? 0) }.max() ?? 0 : rows * gh
        let seqA = proj + projCount
        let seqB = seqA + rows * W
        let hg = seqB + rows * W
        let hs = hg + b * gh
        let cs = hs + b * H
        let work = cs + b * H
        var inp = x
        var inW = inputWidth
        for (k, dirs) in stack.enumerated() {
            let last = k == stack.count - 1
            // The last layer of a sequence output writes y directly.
            let out = last && sequence ? y : (k % 2 == 0 ? seqA : seqB)
            if rows > 0 { out.initialize(repeating: 0, count: rows * W) }
            for (d, dir) in dirs.enumerated() {
                if case .gru(let input, _) = dir {
                    input.apply(inp, lda: inW, rows: rows, proj, ldy: gh, activation: .identity, workspace: work)
                }
                if let carry {
                    hs.update(from: carry + 2 * k * b * H, count: b * H)
                    cs.update(from: carry + (2 * k + 1) * b * H, count: b * H)
                } else {
                    hs.initialize(repeating: 0, count: b * H)
                    cs.initialize(repeating: 0, count: b * H)
                }
                switch dir {
                case .lstm(let fused):
                    let inStep = inp, inWidth = inW
                    for s in 0..<t {
                        // Forward reads step s; backward step len - 1 - s (a
                        // padding row's, never stored, clamped to step 0).
                        @inline(__always) func len(_ r: Int) -> Int { lengths.map { $0[r] } ?? t }
                        @inline(__always) func step(_ r: Int) -> Int { d == 0 ? s : max(0, len(r) - 1 - s) }
                        fused.step(batch: b, x: { r in inStep + (r * t + step(r)) * inWidth }, valid: { r in s < len(r) },
                                   h: hs, c: cs, out: { r in out + (r * t + step(r)) * W + d * H }, workspace: proj)
                    }
                case .gru(_, let hiddenProduct):
                    for s in 0..<t {
                        hiddenProduct.apply(UnsafePointer(hs), lda: H, rows: b, hg, ldy: gh, activation: .identity, workspace: work)
                        for r in 0..<b {
                            let len = lengths.map { $0[r] } ?? t
                            // Forward reads step s; backward step len - 1 - s.
                            let step = d == 0 ? s : len - 1 - s
                            guard s < len else { continue }
                            let hr = hs + r * H
                            gruGates(UnsafePointer(proj + (r * t + step) * gh), UnsafePointer(hg + r * gh), hr, H)
                            (out + (r * t + step) * W + d * H).update(from: hr, count: H)
                        }
                    }
                }
                if let carry {
                    (carry + 2 * k * b * H).update(from: hs, count: b * H)
                    (carry + (2 * k + 1) * b * H).update(from: cs, count: b * H)
                }
                if last && !sequence {
                    for r in 0..<b { (y + r * W + d * H).update(from: hs + r * H, count: H) }
                }
            }
            inp = UnsafePointer(out)
            inW = W
        }
    }

    @inline(__always)
    private func gruGates(_ xg: UnsafePointer<Float>, _ hg: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ H: Int) {
        typealias V = Float.Vector
        let w = Float.width
        var j = 0
        while j < H {
            let n = min(w, H - j)
            @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { n == w ? vload(p) : vloadPartial(p, n, fill: 0) }
            let r = Float.vsigmoid(ld(xg + j) + ld(hg + j))
            let z = Float.vsigmoid(ld(xg + H + j) + ld(hg + H + j))
            let nn = DenseActivation.tanh(ld(xg + 2 * H + j) + r * ld(hg + 2 * H + j))
            let h1 = (1 - z) * nn + z * ld(UnsafePointer(h + j))
            if n == w { vstore(h1, h + j) } else { vstorePartial(h1, h + j, n) }
            j += w
        }
    }
}
