#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SoftmaxKitSIMD

extension Double {
    /// `log(x[i])` into `out[i]` for `i < count`, eight lanes a step, for
    /// positive normal `x[i]` (within 2 ulp of libm's; see the C header).
    @inlinable
    static func vlog(_ x: UnsafePointer<Double>, _ count: Int, into out: UnsafeMutablePointer<Double>) {
        var i = 0
        while i < count {
            let m = Swift.min(8, count - i)
            vstoreFirst(smk_simd_log_f64(vloadFirst(x + i, m, fill: 1)), out + i, m)
            i += 8
        }
    }
}

extension Double: KernelScalar {
    public typealias Vector = SIMD8<Double>
    public typealias MaskVector = SIMD8<UInt8>
    public typealias VectorLanes = (Double, Double, Double, Double, Double, Double, Double, Double)
    public typealias MaskLanes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    /// Cody–Waite range reduction with fdlibm's split ln2, then the degree-13
    /// Taylor polynomial of `e^r` on |r| <= ln2/2 (truncation < 1e-17
    /// relative). `2^n` is applied as two factors, as in the `Float` version.
    @inlinable @inline(__always)
    public static func vexp(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var c = x.replacing(with: -760, where: x .< -760)
        c = c.replacing(with: 760, where: c .> 760)
        let magic = Vector(repeating: 6755399441055744)  // 1.5 * 2^52
        let t = c * Vector(repeating: 1.4426950408889634074) + magic  // unfused: see expReduced
        let (r, q) = expReduced(c, t - magic)
        let ni = unsafeBitCast(t, to: SIMD8<Int64>.self) &- 0x4338_0000_0000_0000
        let n1 = ni &>> 1
        let n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 1023) &<< 52, to: SIMD8<Double>.self)
        let s2 = unsafeBitCast((n2 &+ 1023) &<< 52, to: SIMD8<Double>.self)
        return madd(r, q, Vector(repeating: 1)) * s1 * s2
    }

    public static var expNormalLimit: Double { 708 }

    /// `vexp` for lanes in `[-708, 708]` (or NaN): one exponent-field shift.
    @inlinable @inline(__always)
    public static func vexpNormal(_ x: SIMD8<Double>) -> SIMD8<Double> {
        let magic = Vector(repeating: 6755399441055744 + 1023)  // 1.5 * 2^52 + bias
        let t = x * Vector(repeating: 1.4426950408889634074) + magic  // unfused: see expReduced
        let (r, q) = expReduced(x, t - magic)
        let s = unsafeBitCast(unsafeBitCast(t, to: SIMD8<Int64>.self) &<< 52, to: SIMD8<Double>.self)
        return madd(r * s, q, s)
    }

    /// `r = x - n ln2` and `q(r) = sum_k r^k / (k+1)!` (k <= 11), so that
    /// `e^r ~ 1 + r q(r)`, the degree-12 Taylor polynomial.
    @inlinable @inline(__always)
    static func expReduced(_ x: Vector, _ n: Vector) -> (Vector, Vector) {
        // The reduction is unfused on purpose: `SIMD.addingProduct` is a lane
        // loop that LLVM's SLP vectorizer must re-vectorize, and with fused
        // steps both here and in the polynomial it gave up on whole lane
        // groups (the exp ran partly scalar, found in the disassembly). The
        // high part `n ln2_hi` is exact (ln2_hi has trailing zero bits), so
        // only the tiny low-part product is rounded once more.
        var r = n * Vector(repeating: -6.93147180369123816490e-01) + x
        r = n * Vector(repeating: -1.90821492927058770002e-10) + r
        var q = Vector(repeating: 1.0 / 6227020800)
        q = madd(q, r, 1.0 / 479001600)
        q = madd(q, r, 1.0 / 39916800)
        q = madd(q, r, 1.0 / 3628800)
        q = madd(q, r, 1.0 / 362880)
        q = madd(q, r, 1.0 / 40320)
        q = madd(q, r, 1.0 / 5040)
        q = madd(q, r, 1.0 / 720)
        q = madd(q, r, 1.0 / 120)
        q = madd(q, r, 1.0 / 24)
        q = madd(q, r, 1.0 / 6)
        q = madd(q, r, 0.5)
        q = madd(q, r, 1)
        return (r, q)
    }

    /// `a * b + c`, fused when the build targets a CPU with FMA (the Makefile
    /// passes -DSMK_FMA); unfused otherwise, where a fused multiply-add on
    /// vectors would become a libm call per lane.
    @inlinable @inline(__always)
    public static func vmadd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { madd(a, b, c) }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        #if SMK_FMA
        return c.addingProduct(a, b)
        #else
        return a * b + c
        #endif
    }

    @inlinable @inline(__always)
    static func madd(_ a: Vector, _ b: Vector, _ c: Double) -> Vector {
        madd(a, b, Vector(repeating: c))
    }

    @inlinable @inline(__always)
    public static func vmin(_ a: SIMD8<Double>, _ b: SIMD8<Double>) -> SIMD8<Double> {
        smk_simd_min_f64(a, b)  // b < a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func vmax(_ a: SIMD8<Double>, _ b: SIMD8<Double>) -> SIMD8<Double> {
        smk_simd_max_f64(a, b)  // b > a ? b : a (see the C header)
    }

    @inlinable @inline(__always)
    public static func vselect(_ mask: SIMD8<UInt8>, _ a: SIMD8<Double>, _ b: SIMD8<Double>) -> SIMD8<Double> {
        smk_simd_select_bytes_f64(mask, a, b)  // see the C header
    }

    @inlinable @inline(__always)
    public static func vcollect(_ v: SIMD8<Double>, atLeast floor: Double, lanes: Int, base: Int,
                                _ vals: UnsafeMutablePointer<Double>, _ pos: UnsafeMutablePointer<Int32>) -> Int {
        Int(smk_simd_collect_f64(v, floor, Int64(lanes), Int64(base), vals, pos))  // see the C header
    }

    @inlinable @inline(__always)
    public static func vstream(_ v: SIMD8<Double>, _ p: UnsafeMutablePointer<Double>) { smk_simd_stream_f64(v, p) }

    @inlinable @inline(__always)
    public static func vranksAboveBits(_ v: SIMD8<Double>, _ t: Double) -> UInt {
        UInt(smk_simd_above_bits_f64(v, t))
    }

    @inlinable @inline(__always)
    public static func vanyRanksAbove(_ v: SIMD8<Double>, _ t: Double) -> Bool {
        smk_simd_above_bits_f64(v, t) != 0
    }

    @inlinable @inline(__always)
    public static func vnegAbs(_ x: SIMD8<Double>) -> SIMD8<Double> {
        x.replacing(with: -x, where: x .> 0)
    }

    @inlinable @inline(__always)
    public static func vsigmoidFinish(_ x: SIMD8<Double>, _ e: SIMD8<Double>) -> SIMD8<Double> {
        let d = 1 / (1 + e)
        return d.replacing(with: e * d, where: x .< 0)
    }

    /// Lane-wise |x| (NaN stays NaN).
    @inlinable @inline(__always)
    public static func vabs(_ x: SIMD8<Double>) -> SIMD8<Double> {
        x.replacing(with: -x, where: x .< 0)
    }

    @inlinable @inline(__always)
    public static func transposeBlock(_ src: UnsafePointer<Double>, _ srcStride: Int, rows: Int, columns: Int,
                                      _ dst: UnsafeMutablePointer<Double>, _ dstStride: Int) {
        smk_simd_transpose_f64(src, Int64(srcStride), Int64(rows), Int64(columns), dst, Int64(dstStride))
    }

    @inlinable @inline(__always)
    public static func vloadFirst(_ p: UnsafePointer<Double>, _ count: Int, fill: Double) -> SIMD8<Double> {
        smk_simd_load_first_f64(p, Int64(count), fill)
    }

    @inlinable @inline(__always)
    public static func vstoreFirst(_ v: SIMD8<Double>, _ p: UnsafeMutablePointer<Double>, _ count: Int) {
        smk_simd_store_first_f64(v, p, Int64(count))
    }

    @inlinable @inline(__always)
    public static func vkeepFirst(_ v: SIMD8<Double>, _ count: Int, fill: Double) -> SIMD8<Double> {
        smk_simd_keep_first_f64(v, Int64(count), fill)  // see the C header: Swift's lane select was scalarised
    }

    @inlinable @inline(__always)
    public static func vdropFirst(_ v: SIMD8<Double>, _ count: Int, fill: Double) -> SIMD8<Double> {
        smk_simd_drop_first_f64(v, Int64(count), fill)
    }

    // The horizontal reductions are C (see the header): Swift's lowHalf and
    // highHalf became per-lane extracts and scalar adds inside large kernels.
    @inlinable @inline(__always)
    public static func hsum(_ v: SIMD8<Double>) -> Double { smk_simd_hsum_f64(v) }

    @inlinable @inline(__always)
    public static func hmax(_ v: SIMD8<Double>) -> Double { smk_simd_hmax_f64(v) }

    @inlinable @inline(__always)
    public static func hmin(_ v: SIMD8<Double>) -> Double { smk_simd_hmin_f64(v) }

    @inlinable @inline(__always)
    public static func rankScatter(_ x: UnsafePointer<Double>, _ values: UnsafePointer<Double>, n: Int, vectors: Int, k: Int,
                                   _ vr: UnsafeMutablePointer<Double>, _ ir: UnsafeMutablePointer<Int>,
                                   positions: UnsafePointer<Int32>? = nil) -> Bool {
        ir.withMemoryRebound(to: Int64.self, capacity: k) {
            smk_simd_rank_scatter_f64(x, values, Int64(n), Int64(vectors), Int64(k), vr, $0, positions) != 0
        }
    }

    @inlinable public static func libmLog(_ x: Double) -> Double { log(x) }
    @inlinable public static func libmExp(_ x: Double) -> Double { exp(x) }
    @inlinable public static func libmLog1p(_ x: Double) -> Double { log1p(x) }
    @inlinable public static func libmTanh(_ x: Double) -> Double { tanh(x) }
}
