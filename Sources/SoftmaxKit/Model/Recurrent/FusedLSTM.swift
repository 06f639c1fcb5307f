/// One LSTM direction's step as one matrix product with the gates fused
/// into its store: `[x_t, h] [W_ih | W_hh]^T + b` for every row of the batch,
/// followed, tile by tile while the sums are still in registers, by
/// `c' = f c + i g` and `h' = o tanh(c')`.
///
/// The weights are packed at build into one panel per 16 hidden units,
/// `[inW + H][64]`: columns `16 * gate + u` for gates i, f, g, o, so that one
/// register tile holds all four gates of the same 16 units and the
/// pre-activations never go to memory. Per step the rows `[x_t, h]` are
/// packed `[k][rows]` tile by tile (the micro-kernel's packed layout).
final class FusedLSTM: @unchecked Sendable {
    typealias V = SIMD16<Float>

    let inputWidth: Int
    let hidden: Int
    /// `inputWidth + hidden`: the product's reduction length.
    let k: Int
    /// Panels of 16 units: `blocks * k * 64` floats.
    let panels: UnsafeMutablePointer<Float>
    /// `blocks * 64` floats (both biases summed), zero past H.
    let bias: UnsafeMutablePointer<Float>
    var blocks: Int { (hidden + 15) / 16 }

    /// Rows per register tile: 6 x 4 accumulators of 16 floats take 24 of
    /// the 32 AVX-512 registers; with 256-bit vectors two rows (16 ymm).
    #if SMK_SIMD256
    static let tileRows = 2
    #else
    static let tileRows = 6
    #endif

    /// `wih` `[4H, inW]`, `whh` `[4H, H]` row-major (PyTorch's layout),
    /// `bias` `[4H]` (the sum of both biases).
    init(wih: [Float], whh: [Float], bias b: [Float], inputWidth inW: Int, hidden h: Int) throws(SoftmaxKitError) {
        inputWidth = inW; hidden = h; k = inW + h
        let nb = (h + 15) / 16
        guard let count = elementCount(nb, k, 64), let p = rawAllocate(Float.self, max(count, 1)) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate packed LSTM weights [\(4 * h), \(inW + h)]")
        }
        guard let bp = rawAllocate(Float.self, nb * 64) else {
            rawFree(p)
            throw SoftmaxKitError(.outOfMemory, "cannot allocate the packed LSTM bias [\(4 * h)]")
        }
        panels = p; bias = bp
        p.initialize(repeating: 0, count: count)
        bp.initialize(repeating: 0, count: nb * 64)
        for blk in 0..<nb {
            let panel = p + blk * k * 64
            for gate in 0..<4 {
                for u in 0..<16 where blk * 16 + u < h {
                    let row = gate * h + blk * 16 + u  // row of W_ih / W_hh
                    let col = gate * 16 + u
                    for q in 0..<inW { panel[q * 64 + col] = wih[row * inW + q] }
                    for q in 0..<h { panel[(inW + q) * 64 + col] = whh[row * h + q] }
                    bp[blk * 64 + col] = b.isEmpty ? 0 : b[row]
                }
            }
        }
    }

    deinit { rawFree(panels); rawFree(bias) }

    /// Floats of workspace ``step`` needs for `batch` rows (the packed rows).
    func workspaceCount(batch b: Int) -> Int { b * k }

    /// One step for every row `r` of the batch with `valid(r)`: reads
    /// `x(r)` (`inputWidth` floats) and `h[r]`, `c[r]` (`[batch, H]`), writes
    /// the new `h[r]`, `c[r]` and `h` again to `out(r)` when non-nil. Rows
    /// not valid are left as they are.
    func step(batch b: Int, x: (Int) -> UnsafePointer<Float>, valid: (Int) -> Bool,
              h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
              out: (Int) -> UnsafeMutablePointer<Float>?, workspace a: UnsafeMutablePointer<Float>) {
        let R = FusedLSTM.tileRows, H = hidden, inW = inputWidth
        // Pack the rows [x, h], tile by tile: tile t at t * R * k, [k][r].
        var i0 = 0
        while i0 < b {
            let r = min(R, b - i0)
            let dst = a + i0 * k
            for i in 0..<r {
                let xr = x(i0 + i), hr = UnsafePointer(h + (i0 + i) * H)
                for q in 0..<inW { dst[q &* r &+ i] = xr[q] }
                for q in 0..<H { dst[(inW &+ q) &* r &+ i] = hr[q] }
            }
            i0 += r
        }
        var accStore = InlineArray<24, V>(repeating: V())
        withUnsafeMutablePointer(to: &accStore) { accPointer in
            let acc = UnsafeMutableRawPointer(accPointer).assumingMemoryBound(to: V.self)
            for blk in 0..<blocks {
                let panel = UnsafePointer(panels + blk * k * 64)
                var i0 = 0
                while i0 < b {
                    let r = min(R, b - i0)
                    let tile = UnsafePointer(a + i0 * k)
                    switch r {
                    case 1: PackedWeights.microKernel(Count1.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    #if SMK_SIMD256
                    default: PackedWeights.microKernel(Count2.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    #else
                    case 2: PackedWeights.microKernel(Count2.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    case 3: PackedWeights.microKernel(Count3.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    case 4: PackedWeights.microKernel(Count4.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    case 5: PackedWeights.microKernel(Count5.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    default: PackedWeights.microKernel(Count6.self, Count4.self, PackedRows.self, tile, 0, panel, k, nil, acc)
                    #endif
                    }
                    for i in 0..<r where valid(i0 + i) {
                        let row = i0 + i
                        gates(acc + 4 * i, block: blk, h: h + row * H, c: c + row * H, out: out(row))
                    }
                    i0 += r
                }
            }
        }
    }

    /// tanh(x) from e = exp(-2|x|), as DenseActivation.tanh computes it.
    @inline(__always)
    static func tanhFinish(_ x: Float.Vector, _ e: Float.Vector) -> Float.Vector {
        let t = (1 - e) / (1 + e)
        let r = t.replacing(with: -t, where: x .< 0)
        return r.replacing(with: x, where: x .!= x)
    }

    /// The fused store of one row's 16 units: bias, gate nonlinearities,
    /// the cell update; `h`, `c`, `out` point at the row's unit 0.
    @inline(never)
    func gates(_ acc: UnsafePointer<V>, block blk: Int, h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
               out: UnsafeMutablePointer<Float>?) {
        let w = Float.width
        let sums = UnsafeRawPointer(acc).assumingMemoryBound(to: Float.self)
        let bp = UnsafePointer(bias + blk * 64)
        for piece in stride(from: 0, to: 16, by: w) {
            let j = blk * 16 + piece
            if j >= hidden { break }
            let n = min(w, hidden - j)
            @inline(__always) func pre(_ gate: Int) -> Float.Vector {
                vload(sums + gate * 16 + piece) + vload(bp + gate * 16 + piece)
            }
            // The four gates' exponentials side by side (independent
            // chains the core overlaps); the formulas are Float.vsigmoid's
            // and DenseActivation.tanh's, written out so that they inline.
            let pi = pre(0), pf = pre(1), pg = pre(2), po = pre(3)
            let ei = Float.vexp(Float.vnegAbs(pi)), ef = Float.vexp(Float.vnegAbs(pf))
            let eo = Float.vexp(Float.vnegAbs(po)), eg = Float.vexp(-2 * Float.vabs(pg))
            let ig = Float.vsigmoidFinish(pi, ei), fg = Float.vsigmoidFinish(pf, ef), og = Float.vsigmoidFinish(po, eo)
            let gg = FusedLSTM.tanhFinish(pg, eg)
            let c0: Float.Vector = n == w ? vload(UnsafePointer(c + j)) : vloadPartial(UnsafePointer(c + j), n, fill: 0)
            let c1 = fg * c0 + ig * gg
            let h1 = og * FusedLSTM.tanhFinish(c1, Float.vexp(-2 * Float.vabs(c1)))
            if n == w {
                vstore(c1, c + j); vstore(h1, h + j)
                if let out { vstore(h1, out + j) }
            } else {
                vstorePartial(c1, c + j, n); vstorePartial(h1, h + j, n)
                if let out { vstorePartial(h1, out + j, n) }
            }
        }
    }
}
