#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SoftmaxKitSIMD

extension Double {
    /// `log(x[i])` into `out[i]` for `i < count`, a vector a step, for
    /// positive normal `x[i]` (within 2 ulp of libm's; see the C header).
    @inlinable
    static func vlog(_ x: UnsafePointer<Double>, _ count: Int, into out: UnsafeMutablePointer<Double>) {
        var i = 0
        while i < count {
            let m = Swift.min(width, count - i)
            vstoreFirst(smk_simd_log_f64(vloadFirst(x + i, m, fill: 1)), out + i, m)
            i += width
        }
    }

    /// The vector log of one number (the bits of its lane in `vlog` above:
    /// the lanes are independent), from a register: a vector load of numbers
    /// just stored one by one waits for the stores to retire (a third of a
    /// 1x10 cross-entropy's loss code in perf).
    @inlinable @inline(__always)
    static func vlog(_ x: Double) -> Double {
        smk_simd_log_f64(Vector(repeating: x))[0]
    }
}

extension Double: KernelScalar {
    // 512 or 256 bits, as for Float.
    #if SMK_SIMD256
    public typealias Vector = SIMD4<Double>
    public typealias MaskVector = SIMD4<UInt8>
    public typealias _VectorLanes = (Double, Double, Double, Double)
    public typealias _MaskLanes = (UInt8, UInt8, UInt8, UInt8)
    @usableFromInline typealias IntVector = SIMD4<Int64>
    #else
    public typealias Vector = SIMD8<Double>
    public typealias MaskVector = SIMD8<UInt8>
    public typealias _VectorLanes = (Double, Double, Double, Double, Double, Double, Double, Double)
    public typealias _MaskLanes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    @usableFromInline typealias IntVector = SIMD8<Int64>
    #endif

    /// Cody–Waite range reduction by ln2/N with fdlibm's split ln2, a table
    /// of 2^(j/N) (rounded, with a correction of the reduced argument) and a
    /// Taylor polynomial of `e^r` on |r| <= ln2/(2N): N = 16 and degree 7
    /// where the C module looks the table up in one instruction (AVX-512;
    /// 11 instead of 18 multiplies and fused multiply-adds per vector), else
    /// N = 1 and degree 13 (truncation below 2e-18 and 1e-17 relative; within
    /// 0.55 and 0.9 ulp of e^x, measured). `2^n` is applied as two factors,
    /// as in the `Float` version.
    @inlinable @inline(__always)
    public static func _vexp(_ x: Vector) -> Vector {
        var c = x.replacing(with: -760, where: x .< -760)
        c = c.replacing(with: 760, where: c .> 760)
        let magic = Vector(repeating: 6755399441055744)  // 1.5 * 2^52
        let t = madd(c, Vector(repeating: 1.4426950408889634074 * expTableSize), magic)
        let m = unsafeBitCast(t, to: IntVector.self) &- 0x4338_0000_0000_0000  // round(x N / ln2)
        let ni = m &>> Int64(SMK_SIMD_EXP_TABLE_BITS_F64)  // floor(m / N)
        let n1 = ni &>> 1
        let n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 1023) &<< 52, to: Vector.self)
        let s2 = unsafeBitCast((n2 &+ 1023) &<< 52, to: Vector.self)
        if expUnfused {
            return expUnfusedReduced(c, t - magic) * s1 * s2
        }
        let (r, q) = expReduced(c, t - magic, m)
        let h = unsafeBitCast(smk_simd_exp_mantissa_f64(m) &+ (1023 << 52), to: Vector.self)  // 2^(j/N)
        return madd(h * r, q, h) * s1 * s2
    }

    public static var _expNormalLimit: Double { 708 }

    /// `vexp` for lanes in `[-708, 708]` (or NaN): one exponent-field shift.
    @inlinable @inline(__always)
    public static func _vexpNormal(_ x: Vector) -> Vector {
        // 1.5 * 2^52 + N * bias: t's low bits hold m + N * 1023 >= 0.
        let magic = Vector(repeating: 6755399441055744 + 1023 * expTableSize)
        let t = madd(x, Vector(repeating: 1.4426950408889634074 * expTableSize), magic)
        let ti = unsafeBitCast(t, to: IntVector.self)
        // 2^floor(m / N) 2^(j/N): the exponent field plus the table's mantissa.
        let e = (ti &>> Int64(SMK_SIMD_EXP_TABLE_BITS_F64)) &<< 52
        let s = unsafeBitCast(e &+ smk_simd_exp_mantissa_f64(ti), to: Vector.self)
        if expUnfused {
            return expUnfusedReduced(x, t - magic) * s  // s = 2^m: exact
        }
        let (r, q) = expReduced(x, t - magic, ti)
        return madd(r * s, q, s)
    }

    /// N, the entries of exp's table of 2^(j/N).
    @inlinable static var expTableSize: Double { Double(1 << SMK_SIMD_EXP_TABLE_BITS_F64) }

    /// Whether exp looks its 2^(j/N) up in a table (N > 1). A property, not
    /// the C macro itself in the `if`: the optimizer folds the branch away
    /// just the same, and the compiler does not warn that the other one "will
    /// never be executed" in every build.
    @inlinable @inline(__always) static var expHasTable: Bool { SMK_SIMD_EXP_TABLE_BITS_F64 != 0 }

    /// Whether exp takes the unfused evaluation below: no table (N = 1) and
    /// no fused multiply-add (the x86-64 baseline). Folded at compile time.
    @inlinable @inline(__always) static var expUnfused: Bool {
        SMK_SIMD_EXP_TABLE_BITS_F64 == 0 && SMK_SIMD_FUSED == 0
    }

    /// `e^(x - m ln2)` for N = 1 with every multiply-add rounded twice.
    /// `e^r = 1 + r + r^2 p(r)` with r kept as the exact `x - m ln2_hi` and
    /// the small `m ln2_lo`, and summed smallest first: the lone leading
    /// `1 + ...` rounds once at the end. (`madd(r s, q, s)` below rounds its
    /// product, then `r q`, then the sum: up to 1.1 ulp for results in
    /// (0.7, 1) times 2^m, where this stays within 0.85 ulp.)
    @inlinable @inline(__always)
    static func expUnfusedReduced(_ x: Vector, _ m: Vector) -> Vector {
        let hi = madd(m, Vector(repeating: -6.93147180369123816490e-01), x)  // exact
        let lo = m * Vector(repeating: 1.90821492927058770002e-10)
        let r = hi - lo
        var p = Vector(repeating: 1.0 / 6227020800)
        p = madd(p, r, 1.0 / 479001600)
        p = madd(p, r, 1.0 / 39916800)
        p = madd(p, r, 1.0 / 3628800)
        p = madd(p, r, 1.0 / 362880)
        p = madd(p, r, 1.0 / 40320)
        p = madd(p, r, 1.0 / 5040)
        p = madd(p, r, 1.0 / 720)
        p = madd(p, r, 1.0 / 120)
        p = madd(p, r, 1.0 / 24)
        p = madd(p, r, 1.0 / 6)
        p = madd(p, r, 0.5)
        return 1 + (hi + madd(r * r, p, -lo))
    }

    /// `r = x - m ln2/N + c_j` (j: the low bits of `bits`, the table's
    /// correction) and `q(r) = sum_k r^k / (k+1)!` (k <= 6 with the 16-entry
    /// table, 12 without), so that `e^r ~ 1 + r q(r)`.
    @inlinable @inline(__always)
    static func expReduced(_ x: Vector, _ m: Vector, _ bits: IntVector) -> (Vector, Vector) {
        // Cody–Waite: the high part m ln2_hi/N is exact (ln2_hi has trailing
        // zero bits, N is a power of two), so r is x - m ln2/N to within the
        // low part's rounding. (Fused through the C header's FMA; Swift's
        // addingProduct here once left lane groups scalar.)
        var r = madd(m, Vector(repeating: -6.93147180369123816490e-01 / expTableSize), x)
        r = madd(m, Vector(repeating: -1.90821492927058770002e-10 / expTableSize), r)
        var q: Vector
        if !expHasTable {
            q = Vector(repeating: 1.0 / 6227020800)
            q = madd(q, r, 1.0 / 479001600)
            q = madd(q, r, 1.0 / 39916800)
            q = madd(q, r, 1.0 / 3628800)
            q = madd(q, r, 1.0 / 362880)
            q = madd(q, r, 1.0 / 40320)
            q = madd(q, r, 1.0 / 5040)
        } else {
            r += smk_simd_exp_correction_f64(bits)
            q = Vector(repeating: 1.0 / 5040)
        }
        q = madd(q, r, 1.0 / 720)
        q = madd(q, r, 1.0 / 120)
        q = madd(q, r, 1.0 / 24)
        q = madd(q, r, 1.0 / 6)
        q = madd(q, r, 0.5)
        q = madd(q, r, 1)
        return (r, q)
    }

    /// `a * b + c`, fused when the build targets a CPU with FMA (the Makefile
    /// passes -DSMK_FMA to Swift and C); unfused otherwise, where a fused
    /// multiply-add on vectors would become a libm call per lane.
    @inlinable @inline(__always)
    public static func _vmadd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { madd(a, b, c) }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        smk_simd_fma_f64(a, b, c)  // see the C header: one vector instruction
    }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Double) -> Vector {
        madd(a, b, Vector(repeating: c))
    }

    @inlinable @inline(__always)
    public static func _vmin(_ a: Vector, _ b: Vector) -> Vector {
        smk_simd_min_f64(a, b)  // b < a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func _vmax(_ a: Vector, _ b: Vector) -> Vector {
        smk_simd_max_f64(a, b)  // b > a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func _vselect(_ mask: MaskVector, _ a: Vector, _ b: Vector) -> Vector {
        smk_simd_select_bytes_f64(mask, a, b)  // see the C header
    }

    @inlinable @inline(__always)
    public static func _vcollect(_ v: Vector, atLeast floor: Double, lanes: Int, base: Int,
                                _ pos: UnsafeMutablePointer<Int32>, sparse: Bool) -> Int {
        Int(smk_simd_collect_f64(v, floor, Int64(lanes), Int64(base), pos, sparse ? 1 : 0))  // see the C header
    }

    @inlinable @inline(__always)
    public static func _vstream(_ v: Vector, _ p: UnsafeMutablePointer<Double>) { smk_simd_stream_f64(v, p) }

    @inlinable @inline(__always)
    public static func _vranksAboveBits(_ v: Vector, _ t: Double) -> UInt {
        UInt(smk_simd_above_bits_f64(v, t))
    }

    @inlinable @inline(__always)
    public static func _vanyRanksAbove(_ v: Vector, _ t: Double) -> Bool {
        smk_simd_above_bits_f64(v, t) != 0
    }

    @inlinable @inline(__always)
    public static func _vnegAbs(_ x: Vector) -> Vector {
        x.replacing(with: -x, where: x .> 0)
    }

    @inlinable @inline(__always)
    public static func _vsigmoidFinish(_ x: Vector, _ e: Vector) -> Vector {
        let d = 1 / (1 + e)
        return d.replacing(with: e * d, where: x .< 0)
    }

    /// Lane-wise |x| (NaN stays NaN).
    @inlinable @inline(__always)
    public static func _vabs(_ x: Vector) -> Vector {
        x.replacing(with: -x, where: x .< 0)
    }

    @inlinable @inline(__always)
    public static func _transposeBlock(_ src: UnsafePointer<Double>, _ srcStride: Int, rows: Int, columns: Int,
                                      _ dst: UnsafeMutablePointer<Double>, _ dstStride: Int) {
        smk_simd_transpose_f64(src, Int64(srcStride), Int64(rows), Int64(columns), dst, Int64(dstStride))
    }

    @inlinable @inline(__always)
    public static func _vloadFirst(_ p: UnsafePointer<Double>, _ count: Int, fill: Double) -> Vector {
        smk_simd_load_first_f64(p, Int64(count), fill)
    }

    @inlinable @inline(__always)
    public static func _vstoreFirst(_ v: Vector, _ p: UnsafeMutablePointer<Double>, _ count: Int) {
        smk_simd_store_first_f64(v, p, Int64(count))
    }

    @inlinable @inline(__always)
    public static func _vkeepFirst(_ v: Vector, _ count: Int, fill: Double) -> Vector {
        smk_simd_keep_first_f64(v, Int64(count), fill)  // see the C header: Swift's lane select was scalarised
    }

    @inlinable @inline(__always)
    public static func _vdropFirst(_ v: Vector, _ count: Int, fill: Double) -> Vector {
        smk_simd_drop_first_f64(v, Int64(count), fill)
    }

    // The horizontal reductions are C (see the header): Swift's lowHalf and
    // highHalf became per-lane extracts and scalar adds inside large kernels.
    @inlinable @inline(__always)
    public static func _hsum(_ v: Vector) -> Double { smk_simd_hsum_f64(v) }

    @inlinable @inline(__always)
    public static func _hmax(_ v: Vector) -> Double { smk_simd_hmax_f64(v) }

    @inlinable @inline(__always)
    public static func _hmin(_ v: Vector) -> Double { smk_simd_hmin_f64(v) }

    @inlinable @inline(__always)
    public static func _rankScatter(_ x: UnsafePointer<Double>, _ values: UnsafePointer<Double>, n: Int, vectors: Int, k: Int,
                                   _ vr: UnsafeMutablePointer<Double>, _ ir: UnsafeMutablePointer<Int>,
                                   positions: UnsafePointer<Int32>? = nil) -> Bool {
        ir.withMemoryRebound(to: Int64.self, capacity: k) {
            smk_simd_rank_scatter_f64(x, values, Int64(n), Int64(vectors), Int64(k), vr, $0, positions) != 0
        }
    }

    @inlinable @inline(__always)
    public static func _lanesKth(_ a: Vector, _ b: Vector, vectors: Int, k: Int) -> Double {
        smk_simd_lanes_kth_f64(a, b, Int64(vectors), Int64(k))
    }

    @inlinable @inline(__always)
    public static func _slotsOffer(_ vals: UnsafeMutableRawPointer, _ idx: UnsafeMutableRawPointer, k: Int,
                                  _ v: Vector, _ iv: Vector, floor: Vector) {
        smk_simd_slots_offer_f64(vals, idx, Int64(k), v, iv, floor)
    }

    @inlinable @inline(__always)
    public static func _offerBits(_ v: Vector, floor: Vector) -> UInt32 { smk_simd_offer_bits_f64(v, floor) }

    @inlinable public static func _libmLog(_ x: Double) -> Double { log(x) }
    @inlinable public static func _libmExp(_ x: Double) -> Double { exp(x) }
    @inlinable public static func _libmLog1p(_ x: Double) -> Double { log1p(x) }
    @inlinable public static func _libmTanh(_ x: Double) -> Double { tanh(x) }
}
