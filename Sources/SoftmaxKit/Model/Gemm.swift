import SoftmaxKitSIMD

/// The dense-layer matrix product `Y = act(X W^T + b)` in float32, blocked
/// the way BLIS and OpenBLAS block theirs, around one register tile of
/// `tileRows` rows of X by one panel of W (48 columns on AVX-512).
///
/// - W (`[n, k]`, PyTorch's `[out, in]`) is packed once, at model build,
///   into column panels `panelWidth` wide (the last one 16 or 32 when fewer
///   columns remain), each stored `[k][width]`: the micro-kernel streams it
///   with whole-vector loads.
/// - Per call, X's rows are packed in groups of `tileRows`, each group
///   `[k][rows]`, so the broadcasts read one contiguous stream (rows of X
///   4 KB apart would otherwise share one L1 set).
/// - k is cut into blocks of at most `kBlock`, small enough that a panel's
///   block (about 30 KB) stays in L1 while every row tile streams past it.
///   A micro-kernel whose X stream comes from L2 keeps its speed; one whose
///   W stream comes from L2 does not, so W is the stream kept in L1.
/// - Partial sums between k blocks go to a contiguous scratch; the last
///   block adds the bias, applies the activation and stores Y once (no
///   second pass over Y).
/// - Columns are split into blocks of a few panels (the scratch of one block
///   stays in L2); large products hand column blocks to the thread pool.
///
/// Multiply-adds are fused where the build targets FMA (-DSMK_FMA), a
/// multiply and an add otherwise (never a libm call).
final class PackedWeights: @unchecked Sendable {
    typealias V = SIMD16<Float>

    /// Output columns (`out`) and reduction length (`in`).
    let n: Int
    let k: Int
    /// Panels, each `k * width` floats, back to back.
    let panels: UnsafeMutablePointer<Float>
    /// Bias zero-padded to the panel widths.
    let bias: UnsafeMutablePointer<Float>
    let paddedN: Int

    /// The register tile: `tileRows x panelVectors` accumulators of 16
    /// floats. AVX-512 has 32 registers: 8 x 3 accumulators, 3 panel vectors
    /// and a broadcast fit (oneDNN's f32 shape). With 256-bit vectors (AVX2
    /// builds, `-DSMK_SIMD256` from the Makefile) a vector of 16 floats takes
    /// two of the 16 ymm registers: 6 x 1 (12 ymm accumulators, 2 for the
    /// panel, 1 broadcast) is the classic AVX2 tile; 4 x 2 spilled.
    #if SMK_SIMD256
    static let tileRows = 6
    static let panelVectors = 1
    #else
    static let tileRows = 8
    static let panelVectors = 3
    #endif
    // (tileRows * panelVectors <= 24: the epilogue's buffer in `apply`.)
    static var panelWidth: Int { 16 * panelVectors }
    /// Longest k block: one panel's block in at most 32 KB (L1 is 32-48 KB).
    static var kBlock: Int { 32 * 1024 / (4 * panelWidth) }
    /// Panels per column block when one thread runs the call.
    static let blockPanels = 5
    /// Packing X moves each of its elements once; the product spends about
    /// n / 32 vector multiply-adds on each (AVX-512). Below a few hundred
    /// columns the pack costs more than it saves, and the micro-kernel reads
    /// X's rows in place (an add per row and k more: slower than packing above this width).
    static let packMinColumns = 256

    /// Packs `weight` (`[n, k]` row-major) and `bias` (`[n]` or empty).
    init(weight: [Float], bias: [Float], n: Int, k: Int) throws(SoftmaxKitError) {
        self.n = n; self.k = k
        let padded = (n + 15) / 16 * 16
        paddedN = padded
        guard let count = elementCount(padded, max(k, 1)), let p = rawAllocate(Float.self, count) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate packed weights [\(n), \(k)]")
        }
        guard let bp = rawAllocate(Float.self, padded) else {
            rawFree(p)  // the panels must not outlive a failed init (fault_model_load)
            throw SoftmaxKitError(.outOfMemory, "cannot allocate the packed bias [\(n)]")
        }
        panels = p; self.bias = bp
        p.initialize(repeating: 0, count: count)
        bp.initialize(repeating: 0, count: padded)
        for j in 0..<n where !bias.isEmpty { bp[j] = bias[j] }
        var j0 = 0
        var dst = p
        while j0 < n {
            let width = PackedWeights.width(remaining: n - j0)
            for kk in 0..<k {
                for c in 0..<width where j0 + c < n {
                    dst[kk * width + c] = weight[(j0 + c) * k + kk]
                }
            }
            dst += k * width
            j0 += width
        }
    }

    deinit {
        rawFree(panels); rawFree(bias)
    }

    /// Width of the panel starting where `remaining` columns are left.
    @inline(__always)
    static func width(remaining: Int) -> Int { min(panelWidth, (remaining + 15) / 16 * 16) }

    /// Whether a call on `m` rows packs them (one row is its own packed form).
    func packs(rows m: Int) -> Bool { m > 1 && paddedN >= PackedWeights.packMinColumns }

    /// Floats of workspace ``apply(_:lda:rows:_:ldy:activation:workspace:)``
    /// needs for `m` rows: packed X and the partial sums when k spans
    /// several blocks.
    func workspaceCount(rows m: Int) -> Int {
        // + 16: room to start the partial sums on a 64-byte boundary.
        (packs(rows: m) ? m * k : 0) + (k > PackedWeights.kBlock ? m * paddedN + 16 : 0)
    }

    /// ``apply(_:lda:rows:_:ldy:activation:workspace:)`` with a workspace of its own.
    /// - Throws: `.outOfMemory`.
    func apply(_ x: UnsafePointer<Float>, lda: Int, rows m: Int,
               _ y: UnsafeMutablePointer<Float>, ldy: Int, activation: Activation) throws(SoftmaxKitError) {
        let count = workspaceCount(rows: m)
        guard let w = rawAllocate(Float.self, count) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate \(count) floats of matrix-product workspace")
        }
        defer { rawFree(w) }
        apply(x, lda: lda, rows: m, y, ldy: ldy, activation: activation, workspace: w)
    }

    /// `y[i, j] = act(sum_p x[i, p] w[j, p] + b[j])` for `m` rows; `x` rows are
    /// `lda` apart, `y` rows `ldy` apart; only columns `0..<n` of `y` are
    /// written. `workspace` holds ``workspaceCount(rows:)`` floats.
    func apply(_ x: UnsafePointer<Float>, lda: Int, rows m: Int,
               _ y: UnsafeMutablePointer<Float>, ldy: Int, activation: Activation,
               workspace: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        let R = PackedWeights.tileRows
        let tiles = (m + R - 1) / R
        let panelCount = (n + PackedWeights.panelWidth - 1) / PackedWeights.panelWidth
        // A multiply-add costs far less than the exp behind the pool's
        // element threshold: count 8 per element (in Double: no overflow trap).
        let threads = plannedThreads(max(tiles, panelCount), work: Int(min(Double(m) * Double(n) * Double(k) / 8, 1e15)))
        // Packed X: tile t (rows t*R ..< t*R + r) at t*R*k, stored [k][r].
        let pack = packs(rows: m)
        let a = pack ? workspace : UnsafeMutablePointer(mutating: x)
        if pack {
            let packs = min(threads, tiles)
            parallelPieces(packs, threads: packs) { piece in
                for t in (tiles * piece / packs)..<(tiles * (piece + 1) / packs) {
                    let r = min(R, m - t * R)
                    if r == R {
                        PackedWeights.pack(rows: R, x + t * R * lda, lda, a + t * R * k, k)
                    } else {
                        PackedWeights.pack(rows: r, x + t * R * lda, lda, a + t * R * k, k)
                    }
                }
            }
        }
        // The partial sums are read and written as whole vectors (aligned
        // moves: a misaligned one faults), so they start on a 64-byte
        // boundary; the workspace comes from malloc (16-byte aligned) at an
        // offset the layer widths decide.
        let unaligned = UInt(bitPattern: workspace + (pack ? m * k : 0))
        let scratch = UnsafeMutablePointer<Float>(bitPattern: (unaligned + 63) & ~63)!
        // Where tile i0's k block p0 starts, and its row stride (0: packed).
        let rowStride = pack || m == 1 ? 0 : lda
        func tileStart(_ i0: Int, _ p0: Int, _ r: Int) -> UnsafePointer<Float> {
            UnsafePointer(pack ? a + i0 * k + p0 * r : a + i0 * lda + p0)
        }
        // Column blocks: a few panels each, or enough blocks for every thread.
        let perBlock = threads > 1 ? max(1, min(PackedWeights.blockPanels, panelCount / (2 * threads))) : PackedWeights.blockPanels
        let blocks = (panelCount + perBlock - 1) / perBlock
        let kBlocks = (k + PackedWeights.kBlock - 1) / PackedWeights.kBlock
        let kc = (k + kBlocks - 1) / kBlocks
        parallelPieces(blocks, threads: min(threads, blocks)) { block in
          // The last k block's sums on their way to the epilogue. Not a
          // temporary allocation: above 1 KB that asks the runtime whether
          // the stack has room, once per call.
          var accStore = InlineArray<24, V>(repeating: V())
          withUnsafeMutablePointer(to: &accStore) { accPointer in
            let acc = UnsafeMutableRawPointer(accPointer).assumingMemoryBound(to: V.self)
            let jEnd = min(n, (block + 1) * perBlock * PackedWeights.panelWidth)
            var p0 = 0
            while p0 < k {
                let kl = min(kc, k - p0)
                var j0 = block * perBlock * PackedWeights.panelWidth
                while j0 < jEnd {
                    let width = PackedWeights.width(remaining: n - j0)
                    let panel = UnsafePointer(panels + j0 * k + p0 * width)
                    // This panel's partial sums: m rows of `width`, tile by tile.
                    let partial = scratch + j0 * m
                    var i0 = 0
                    while i0 < m {
                        let r = min(R, m - i0)
                        tile(rows: r, vectors: width / 16, tileStart(i0, p0, r), rowStride, panel, kl,
                             first: p0 == 0, last: p0 + kl == k, partial + i0 * width,
                             column: j0, y + i0 * ldy, ldy, activation, acc)
                        i0 += r
                    }
                    j0 += width
                }
                p0 += kl
            }
          }
        }
    }

    /// Copies `rows` rows of X (`lda` apart) to `[k][rows]`: contiguous
    /// stores, one load stream per row. Inlined where `rows` is a constant.
    @inline(__always)
    static func pack(rows: Int, _ src: UnsafePointer<Float>, _ lda: Int, _ dst: UnsafeMutablePointer<Float>, _ k: Int) {
        var d = dst
        for p in 0..<k {
            for i in 0..<rows { d[i] = src[i &* lda &+ p] }
            d += rows
        }
    }

    /// One register tile over one k block: starts from zero (the first block)
    /// or the partial sums, and ends in the partial sums or, after the last
    /// block, in the epilogue (through `acc`, `tileRows * panelVectors` vectors).
    @inline(__always)
    func tile(rows: Int, vectors: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int,
              first: Bool, last: Bool, _ partial: UnsafeMutablePointer<Float>, column j0: Int,
              _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ activation: Activation, _ acc: UnsafeMutablePointer<V>) {
        let sums = UnsafeMutableRawPointer(partial).assumingMemoryBound(to: V.self)
        let cin: UnsafePointer<V>? = first ? nil : UnsafePointer(sums)
        let cout = last ? acc : sums
        Self.kernel(rows: rows, vectors: vectors, a, lda, b, k, cin, cout)
        if last { store(acc, rows: rows, vectors: vectors, column: j0, y, ldy, activation) }
    }

    /// Dispatches a tile shape and X's layout (`lda` 0: packed) to the
    /// micro-kernel specialised for them.
    @inline(__always)
    static func kernel(rows: Int, vectors: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int,
                       _ cin: UnsafePointer<V>?, _ cout: UnsafeMutablePointer<V>) {
        func byRows<Vectors: StaticCount, Layout: RowLayout>(_ vs: Vectors.Type, _ layout: Layout.Type) {
            switch rows {
            case 1: microKernel(Count1.self, vs, layout, a, lda, b, k, cin, cout)
            case 2: microKernel(Count2.self, vs, layout, a, lda, b, k, cin, cout)
            case 3: microKernel(Count3.self, vs, layout, a, lda, b, k, cin, cout)
            case 4: microKernel(Count4.self, vs, layout, a, lda, b, k, cin, cout)
            case 5: microKernel(Count5.self, vs, layout, a, lda, b, k, cin, cout)
            #if SMK_SIMD256
            default: microKernel(Count6.self, vs, layout, a, lda, b, k, cin, cout)
            #else
            case 6: microKernel(Count6.self, vs, layout, a, lda, b, k, cin, cout)
            case 7: microKernel(Count7.self, vs, layout, a, lda, b, k, cin, cout)
            default: microKernel(Count8.self, vs, layout, a, lda, b, k, cin, cout)
            #endif
            }
        }
        func byLayout<Vectors: StaticCount>(_ vs: Vectors.Type) {
            if lda == 0 { byRows(vs, PackedRows.self) } else { byRows(vs, StridedRows.self) }
        }
        #if SMK_SIMD256
        byLayout(Count1.self)
        #else
        switch vectors {
        case 1: byLayout(Count1.self)
        case 2: byLayout(Count2.self)
        default: byLayout(Count3.self)
        }
        #endif
    }

    /// The micro-kernel, written once for every tile shape: generic over its
    /// rows, vectors and X's layout so that each specialisation sees them as
    /// constants, unrolls the loops over them and keeps the accumulators in
    /// registers for the whole k loop (one broadcast of X per row and k, one
    /// multiply-add per accumulator). X is `[k][rows]` (packed) or rows
    /// `lda` apart; `b` is `[k][16 * vectors]`; the accumulators start from
    /// `cin` (or zero) and end in `cout`, both `[rows][vectors]`. Not
    /// inlined: each shape is compiled (and register-allocated) on its own.
    @inline(never)
    static func microKernel<Rows: StaticCount, Vectors: StaticCount, Layout: RowLayout>(
        _: Rows.Type, _: Vectors.Type, _: Layout.Type, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ k: Int, _ cin: UnsafePointer<V>?, _ cout: UnsafeMutablePointer<V>) {
        let rows = Rows.count, vectors = Vectors.count
        let rowStep = Layout.packed ? 1 : lda, kStep = Layout.packed ? rows : 1
        // InlineArray, not a temporary allocation: LLVM promotes it to registers.
        var c = InlineArray<32, V>(repeating: V())
        if let cin { for i in 0..<rows * vectors { c[i] = cin[i] } }
        var ap = a, bp = b
        for _ in 0..<k {
            for r in 0..<rows {
                let s = V(repeating: ap[r &* rowStep])
                for v in 0..<vectors { c[r * vectors + v] = madd(s, vload16(bp + 16 * v), c[r * vectors + v]) }
            }
            ap += kStep
            bp += 16 * vectors
        }
        for i in 0..<rows * vectors { cout[i] = c[i] }
    }

    /// The fused epilogue: bias, activation, store (partial at the last
    /// column). The activation is chosen once per tile, not per vector.
    @inline(never)
    func store(_ acc: UnsafeMutablePointer<V>, rows: Int, vectors: Int, column j0: Int,
               _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ activation: Activation) {
        switch activation {
        case .identity: store(acc, rows: rows, vectors: vectors, column: j0, y, ldy) { $0 }
        case .relu: store(acc, rows: rows, vectors: vectors, column: j0, y, ldy) { DenseActivation.apply(.relu, $0) }
        default: store(acc, rows: rows, vectors: vectors, column: j0, y, ldy) { DenseActivation.apply(activation, $0) }
        }
    }

    /// Each 16-float accumulator is one kernel vector, or two where those
    /// are 256 bits (the activations are the kernels' vector code).
    @inline(__always)
    func store(_ acc: UnsafeMutablePointer<V>, rows: Int, vectors: Int, column j0: Int,
               _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ act: (Float.Vector) -> Float.Vector) {
        let w = Float.width
        for v in 0..<vectors {
            for piece in stride(from: 0, to: 16, by: w) {
                let col = j0 + 16 * v + piece
                if col >= n { break }
                let b = vload(UnsafePointer(bias + col))
                let full = n - col >= w
                for r in 0..<rows {
                    let a = UnsafeRawPointer(acc + r * vectors + v).assumingMemoryBound(to: Float.self) + piece
                    let out = act(vload(a) + b)
                    if full { vstore(out, y + r * ldy + col) } else { vstorePartial(out, y + r * ldy + col, n - col) }
                }
            }
        }
    }

    /// `a * b + c`, fused where the build has FMA (the C header's, as `Float.vmadd`).
    @inline(__always)
    static func madd(_ a: V, _ b: V, _ c: V) -> V { smk_simd_fma_f32x16(a, b, c) }
}

/// How a micro-kernel finds X's rows: packed `[k][rows]`, or in place.
protocol RowLayout { static var packed: Bool { get } }
enum PackedRows: RowLayout { static var packed: Bool { true } }
enum StridedRows: RowLayout { static var packed: Bool { false } }
