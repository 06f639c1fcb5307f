#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SoftmaxKitSIMD

extension Float: KernelScalar {
    // The kernels' vector: 512 bits, or 256 where the build defines
    // SMK_SIMD256 (CPUs without AVX-512; see the C header, which picks the
    // same width from the same define).
    #if SMK_SIMD256
    public typealias Vector = SIMD8<Float>
    public typealias MaskVector = SIMD8<UInt8>
    public typealias _VectorLanes = (Float, Float, Float, Float, Float, Float, Float, Float)
    public typealias _MaskLanes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    @usableFromInline typealias IntVector = SIMD8<Int32>
    #else
    public typealias Vector = SIMD16<Float>
    public typealias MaskVector = SIMD16<UInt8>
    public typealias _VectorLanes = (Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float)
    public typealias _MaskLanes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    @usableFromInline typealias IntVector = SIMD16<Int32>
    #endif

    /// Cody–Waite range reduction `x = n ln2 + r`, |r| <= ln2/2 (Cephes'
    /// split of ln2), then `e^r = 1 + r q(r)` with `q` a degree-4 polynomial
    /// fitted here for minimal relative error (max 1.7e-7 with these float32
    /// coefficients; a linear-programming fit on 4001 Chebyshev points).
    /// `2^n` is applied as two factors so that results down to the smallest
    /// subnormal and up to overflow come out right without special cases.
    /// NaN fails both clamps' compares and propagates through the polynomial.
    @inlinable @inline(__always)
    public static func _vexp(_ x: Vector) -> Vector {
        // Beyond +-104, e^x is 0 or inf in float32; clamping keeps n small.
        var c = x.replacing(with: -104, where: x .< -104)
        c = c.replacing(with: 104, where: c .> 104)
        let magic = Vector(repeating: 12582912)  // 1.5 * 2^23: round to nearest
        let t = madd(c, Vector(repeating: 1.44269504088896341), magic)
        let (r, q) = expReduced(c, t - magic)
        let ni = unsafeBitCast(t, to: IntVector.self) &- 0x4B40_0000
        let n1 = ni &>> 1
        let n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: Vector.self)
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: Vector.self)
        return madd(r, q, Vector(repeating: 1)) * s1 * s2
    }

    public static var _expNormalLimit: Float { 87 }

    /// `vexp` for lanes in `[-87, 87]` (or NaN), where `e^x` is a normal
    /// number: `s = 2^n` comes from shifting the rounding constant's low bits
    /// straight into the exponent field, and `e^x = s + (r s) q(r)`.
    @inlinable @inline(__always)
    public static func _vexpNormal(_ x: Vector) -> Vector {
        let magic = Vector(repeating: 12582912 + 127)  // 1.5 * 2^23 + exponent bias
        let t = madd(x, Vector(repeating: 1.44269504088896341), magic)
        let (r, q) = expReduced(x, t - magic)
        let s = unsafeBitCast(unsafeBitCast(t, to: IntVector.self) &<< 23, to: Vector.self)
        return madd(r * s, q, s)
    }

    /// `r = x - n ln2` and `q(r)` with `e^r ~ 1 + r q(r)`.
    @inlinable @inline(__always)
    static func expReduced(_ x: Vector, _ n: Vector) -> (Vector, Vector) {
        // Cody–Waite: the high part n ln2_hi is exact (ln2_hi has trailing
        // zero bits), so r is x - n ln2 to within the low part's rounding.
        // (Fused through the C header's FMA; Swift's addingProduct here once
        // left lane groups scalar.)
        var r = madd(n, Vector(repeating: -0.693359375), x)
        r = madd(n, Vector(repeating: 2.12194440e-4), r)
        var q = Vector(repeating: 0.008337527513504028)
        q = madd(q, r, 0.04191068187355995)
        q = madd(q, r, 0.16666729748249054)
        q = madd(q, r, 0.4999901354312897)
        q = madd(q, r, 1.0000001192092896)
        return (r, q)
    }

    /// `a * b + c`, fused when the build targets a CPU with FMA (the Makefile
    /// passes -DSMK_FMA to Swift and C); unfused otherwise, where a fused
    /// multiply-add on vectors would become a libm call per lane.
    @inlinable @inline(__always)
    public static func _vmadd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { madd(a, b, c) }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        smk_simd_fma_f32(a, b, c)  // see the C header: one vector instruction
    }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Float) -> Vector {
        madd(a, b, Vector(repeating: c))
    }

    @inlinable @inline(__always)
    public static func _vmin(_ a: Vector, _ b: Vector) -> Vector {
        smk_simd_min_f32(a, b)  // b < a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func _vmax(_ a: Vector, _ b: Vector) -> Vector {
        smk_simd_max_f32(a, b)  // b > a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func _vselect(_ mask: MaskVector, _ a: Vector, _ b: Vector) -> Vector {
        smk_simd_select_bytes_f32(mask, a, b)  // see the C header
    }

    @inlinable @inline(__always)
    public static func _vcollect(_ v: Vector, atLeast floor: Float, lanes: Int, base: Int,
                                _ pos: UnsafeMutablePointer<Int32>, sparse: Bool) -> Int {
        Int(smk_simd_collect_f32(v, floor, Int64(lanes), Int64(base), pos, sparse ? 1 : 0))  // see the C header
    }

    @inlinable @inline(__always)
    public static func _vstream(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { smk_simd_stream_f32(v, p) }

    @inlinable @inline(__always)
    public static func _vranksAboveBits(_ v: Vector, _ t: Float) -> UInt {
        UInt(smk_simd_above_bits_f32(v, t))
    }

    @inlinable @inline(__always)
    public static func _vanyRanksAbove(_ v: Vector, _ t: Float) -> Bool {
        smk_simd_above_bits_f32(v, t) != 0
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
    public static func _transposeBlock(_ src: UnsafePointer<Float>, _ srcStride: Int, rows: Int, columns: Int,
                                      _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int) {
        smk_simd_transpose_f32(src, Int64(srcStride), Int64(rows), Int64(columns), dst, Int64(dstStride))
    }

    @inlinable @inline(__always)
    public static func _vloadFirst(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> Vector {
        smk_simd_load_first_f32(p, Int64(count), fill)
    }

    @inlinable @inline(__always)
    public static func _vstoreFirst(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        smk_simd_store_first_f32(v, p, Int64(count))
    }

    @inlinable @inline(__always)
    public static func _vkeepFirst(_ v: Vector, _ count: Int, fill: Float) -> Vector {
        smk_simd_keep_first_f32(v, Int64(count), fill)  // see the C header: Swift's lane select was scalarised
    }

    @inlinable @inline(__always)
    public static func _vdropFirst(_ v: Vector, _ count: Int, fill: Float) -> Vector {
        smk_simd_drop_first_f32(v, Int64(count), fill)
    }

    // The horizontal reductions are C (see the header): Swift's lowHalf and
    // highHalf became per-lane extracts and scalar adds inside large kernels.
    @inlinable @inline(__always)
    public static func _hsum(_ v: Vector) -> Float { smk_simd_hsum_f32(v) }

    @inlinable @inline(__always)
    public static func _hmax(_ v: Vector) -> Float { smk_simd_hmax_f32(v) }

    @inlinable @inline(__always)
    public static func _hmin(_ v: Vector) -> Float { smk_simd_hmin_f32(v) }

    @inlinable @inline(__always)
    public static func _rankScatter(_ x: UnsafePointer<Float>, _ values: UnsafePointer<Float>, n: Int, vectors: Int, k: Int,
                                   _ vr: UnsafeMutablePointer<Float>, _ ir: UnsafeMutablePointer<Int>,
                                   positions: UnsafePointer<Int32>? = nil) -> Bool {
        ir.withMemoryRebound(to: Int64.self, capacity: k) {
            smk_simd_rank_scatter_f32(x, values, Int64(n), Int64(vectors), Int64(k), vr, $0, positions) != 0
        }
    }

    @inlinable @inline(__always)
    public static func _lanesKth(_ a: Vector, _ b: Vector, vectors: Int, k: Int) -> Float {
        smk_simd_lanes_kth_f32(a, b, Int64(vectors), Int64(k))
    }

    @inlinable @inline(__always)
    public static func _slotsOffer(_ vals: UnsafeMutableRawPointer, _ idx: UnsafeMutableRawPointer, k: Int,
                                  _ v: Vector, _ iv: Vector, floor: Vector) {
        smk_simd_slots_offer_f32(vals, idx, Int64(k), v, iv, floor)
    }

    @inlinable @inline(__always)
    public static func _offerBits(_ v: Vector, floor: Vector) -> UInt32 { smk_simd_offer_bits_f32(v, floor) }

    @inlinable public static func _libmLog(_ x: Float) -> Float { logf(x) }
    @inlinable public static func _libmExp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func _libmLog1p(_ x: Float) -> Float { log1pf(x) }
    @inlinable public static func _libmTanh(_ x: Float) -> Float { tanhf(x) }
}
