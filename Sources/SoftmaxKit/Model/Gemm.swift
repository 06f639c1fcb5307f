/// The dense-layer matrix product `Y = act(X W^T + b)` in float32.
///
/// W (`[n, k]`, PyTorch's `[out, in]`) is packed once, at model build, into
/// column panels 32 wide (the last one 16 wide when at most 16 columns
/// remain), each stored `[k][width]` so that the micro-kernel streams it
/// with aligned-width vector loads. The micro-kernel keeps an 8 x 32 tile of
/// Y in 16 zmm registers for the whole k loop (one broadcast of X and two
/// fused multiply-adds per row and k), then adds the bias and applies the
/// activation to the tile before its single store: no second pass over Y.
/// Row tails use 4-, 2- and 1-row tiles so that batch 1 does no wasted work.
/// Multiply-adds go through `Float.vmadd`: fused where the build targets
/// FMA (-DSMK_FMA), a multiply and an add otherwise (never a libm call).
/// Rows are the outer loop: an 8-row block of X stays in L1 while every
/// panel of W (at most a few hundred KB for the seed networks) streams from L2.
public final class PackedWeights: @unchecked Sendable {
    typealias V = SIMD16<Float>

    /// Output columns (`out`) and reduction length (`in`).
    public let n: Int
    public let k: Int
    /// Panels, each `k * width` floats, back to back; widths are 32 or 16.
    let panels: UnsafeMutablePointer<Float>
    /// Bias zero-padded to the panel widths.
    let bias: UnsafeMutablePointer<Float>
    let paddedN: Int

    /// Packs `weight` (`[n, k]` row-major) and `bias` (`[n]` or empty).
    init(weight: [Float], bias: [Float], n: Int, k: Int) throws(SoftmaxKitError) {
        self.n = n; self.k = k
        let padded = (n + 15) / 16 * 16
        paddedN = padded
        let (count, o) = padded.multipliedReportingOverflow(by: max(k, 1))
        guard !o, let p = rawAllocate(Float.self, count), let bp = rawAllocate(Float.self, padded) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate packed weights [\(n), \(k)]")
        }
        panels = p; self.bias = bp
        p.initialize(repeating: 0, count: count)
        bp.initialize(repeating: 0, count: padded)
        for j in 0..<n where !bias.isEmpty { bp[j] = bias[j] }
        var j0 = 0
        var dst = p
        while j0 < n {
            let width = PackedWeights.panelWidth(remaining: n - j0)
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

    @inline(__always)
    static func panelWidth(remaining: Int) -> Int { remaining > 16 ? 32 : 16 }

    /// Rows of the largest tile: 8 x 32 needs 16 accumulators of 16 floats,
    /// which fit AVX-512's 32 registers; with 256-bit vectors (AVX2 builds,
    /// `-DSMK_SIMD256` from the Makefile) they would be 32 ymm and spill, so
    /// those builds stop at 4 x 32 (16 ymm accumulators).
    #if SMK_SIMD256
    static let maxTileRows = 4
    #else
    static let maxTileRows = 8
    #endif

    /// `y[i, j] = act(sum_p x[i, p] w[j, p] + b[j])` for `m` rows; `x` rows are
    /// `lda` apart, `y` rows `ldy` apart; only columns `0..<n` of `y` are written.
    func apply(_ x: UnsafePointer<Float>, lda: Int, rows m: Int,
               _ y: UnsafeMutablePointer<Float>, ldy: Int, activation: Activation) {
        withUnsafeTemporaryAllocation(of: V.self, capacity: 16) { accBuf in
            let acc = accBuf.baseAddress!
            var i0 = 0
            while i0 < m {
                let rows = PackedWeights.maxTileRows == 8 && m - i0 >= 8 ? 8 : m - i0 >= 4 ? 4 : m - i0 >= 2 ? 2 : 1
                let a = x + i0 * lda
                var j0 = 0
                var panel = UnsafePointer(panels)
                while j0 < n {
                    let width = PackedWeights.panelWidth(remaining: n - j0)
                    if width == 32 {
                        switch rows {
                        case 8: Self.tile8x32(a, lda, panel, k, acc)
                        case 4: Self.tile4x32(a, lda, panel, k, acc)
                        case 2: Self.tile2x32(a, lda, panel, k, acc)
                        default: Self.tile1x32(a, lda, panel, k, acc)
                        }
                    } else {
                        switch rows {
                        case 8: Self.tile8x16(a, lda, panel, k, acc)
                        case 4: Self.tile4x16(a, lda, panel, k, acc)
                        case 2: Self.tile2x16(a, lda, panel, k, acc)
                        default: Self.tile1x16(a, lda, panel, k, acc)
                        }
                    }
                    store(acc, rows: rows, vectors: width / 16, column: j0, y + i0 * ldy, ldy, activation)
                    panel += k * width
                    j0 += width
                }
                i0 += rows
            }
        }
    }

    /// The fused epilogue: bias, activation, store (partial at the last column).
    @inline(__always)
    func store(_ acc: UnsafeMutablePointer<V>, rows: Int, vectors: Int, column j0: Int,
               _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ activation: Activation) {
        for v in 0..<vectors {
            let col = j0 + 16 * v
            if col >= n { break }
            let b = vload(UnsafePointer(bias + col))
            let full = n - col >= 16
            for r in 0..<rows {
                let out = DenseActivation.apply(activation, acc[r * vectors + v] + b)
                if full { vstore(out, y + r * ldy + col) } else { vstorePartial(out, y + r * ldy + col, n - col) }
            }
        }
    }

    // MARK: Micro-kernels (generated: rows x columns, accumulators in registers)

    @inline(__always)
    static func tile8x32(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        let a2 = a + 2 * lda
        let a3 = a + 3 * lda
        let a4 = a + 4 * lda
        let a5 = a + 5 * lda
        let a6 = a + 6 * lda
        let a7 = a + 7 * lda
        var c00 = V(); var c01 = V()
        var c10 = V(); var c11 = V()
        var c20 = V(); var c21 = V()
        var c30 = V(); var c31 = V()
        var c40 = V(); var c41 = V()
        var c50 = V(); var c51 = V()
        var c60 = V(); var c61 = V()
        var c70 = V(); var c71 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let b1 = vload(bp + 16)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00); c01 = Float.vmadd(s0, b1, c01)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10); c11 = Float.vmadd(s1, b1, c11)
            let s2 = V(repeating: a2[p])
            c20 = Float.vmadd(s2, b0, c20); c21 = Float.vmadd(s2, b1, c21)
            let s3 = V(repeating: a3[p])
            c30 = Float.vmadd(s3, b0, c30); c31 = Float.vmadd(s3, b1, c31)
            let s4 = V(repeating: a4[p])
            c40 = Float.vmadd(s4, b0, c40); c41 = Float.vmadd(s4, b1, c41)
            let s5 = V(repeating: a5[p])
            c50 = Float.vmadd(s5, b0, c50); c51 = Float.vmadd(s5, b1, c51)
            let s6 = V(repeating: a6[p])
            c60 = Float.vmadd(s6, b0, c60); c61 = Float.vmadd(s6, b1, c61)
            let s7 = V(repeating: a7[p])
            c70 = Float.vmadd(s7, b0, c70); c71 = Float.vmadd(s7, b1, c71)
            bp += 32
        }
        acc[0] = c00; acc[1] = c01
        acc[2] = c10; acc[3] = c11
        acc[4] = c20; acc[5] = c21
        acc[6] = c30; acc[7] = c31
        acc[8] = c40; acc[9] = c41
        acc[10] = c50; acc[11] = c51
        acc[12] = c60; acc[13] = c61
        acc[14] = c70; acc[15] = c71
    }

    @inline(__always)
    static func tile4x32(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        let a2 = a + 2 * lda
        let a3 = a + 3 * lda
        var c00 = V(); var c01 = V()
        var c10 = V(); var c11 = V()
        var c20 = V(); var c21 = V()
        var c30 = V(); var c31 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let b1 = vload(bp + 16)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00); c01 = Float.vmadd(s0, b1, c01)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10); c11 = Float.vmadd(s1, b1, c11)
            let s2 = V(repeating: a2[p])
            c20 = Float.vmadd(s2, b0, c20); c21 = Float.vmadd(s2, b1, c21)
            let s3 = V(repeating: a3[p])
            c30 = Float.vmadd(s3, b0, c30); c31 = Float.vmadd(s3, b1, c31)
            bp += 32
        }
        acc[0] = c00; acc[1] = c01
        acc[2] = c10; acc[3] = c11
        acc[4] = c20; acc[5] = c21
        acc[6] = c30; acc[7] = c31
    }

    @inline(__always)
    static func tile2x32(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        var c00 = V(); var c01 = V()
        var c10 = V(); var c11 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let b1 = vload(bp + 16)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00); c01 = Float.vmadd(s0, b1, c01)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10); c11 = Float.vmadd(s1, b1, c11)
            bp += 32
        }
        acc[0] = c00; acc[1] = c01
        acc[2] = c10; acc[3] = c11
    }

    @inline(__always)
    static func tile1x32(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        var c00 = V(); var c01 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let b1 = vload(bp + 16)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00); c01 = Float.vmadd(s0, b1, c01)
            bp += 32
        }
        acc[0] = c00; acc[1] = c01
    }

    @inline(__always)
    static func tile8x16(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        let a2 = a + 2 * lda
        let a3 = a + 3 * lda
        let a4 = a + 4 * lda
        let a5 = a + 5 * lda
        let a6 = a + 6 * lda
        let a7 = a + 7 * lda
        var c00 = V()
        var c10 = V()
        var c20 = V()
        var c30 = V()
        var c40 = V()
        var c50 = V()
        var c60 = V()
        var c70 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10)
            let s2 = V(repeating: a2[p])
            c20 = Float.vmadd(s2, b0, c20)
            let s3 = V(repeating: a3[p])
            c30 = Float.vmadd(s3, b0, c30)
            let s4 = V(repeating: a4[p])
            c40 = Float.vmadd(s4, b0, c40)
            let s5 = V(repeating: a5[p])
            c50 = Float.vmadd(s5, b0, c50)
            let s6 = V(repeating: a6[p])
            c60 = Float.vmadd(s6, b0, c60)
            let s7 = V(repeating: a7[p])
            c70 = Float.vmadd(s7, b0, c70)
            bp += 16
        }
        acc[0] = c00
        acc[1] = c10
        acc[2] = c20
        acc[3] = c30
        acc[4] = c40
        acc[5] = c50
        acc[6] = c60
        acc[7] = c70
    }

    @inline(__always)
    static func tile4x16(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        let a2 = a + 2 * lda
        let a3 = a + 3 * lda
        var c00 = V()
        var c10 = V()
        var c20 = V()
        var c30 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10)
            let s2 = V(repeating: a2[p])
            c20 = Float.vmadd(s2, b0, c20)
            let s3 = V(repeating: a3[p])
            c30 = Float.vmadd(s3, b0, c30)
            bp += 16
        }
        acc[0] = c00
        acc[1] = c10
        acc[2] = c20
        acc[3] = c30
    }

    @inline(__always)
    static func tile2x16(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        let a1 = a + 1 * lda
        var c00 = V()
        var c10 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00)
            let s1 = V(repeating: a1[p])
            c10 = Float.vmadd(s1, b0, c10)
            bp += 16
        }
        acc[0] = c00
        acc[1] = c10
    }

    @inline(__always)
    static func tile1x16(_ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ acc: UnsafeMutablePointer<V>) {
        let a0 = a + 0 * lda
        var c00 = V()
        var bp = b
        for p in 0..<k {
            let b0 = vload(bp + 0)
            let s0 = V(repeating: a0[p])
            c00 = Float.vmadd(s0, b0, c00)
            bp += 16
        }
        acc[0] = c00
    }
}
