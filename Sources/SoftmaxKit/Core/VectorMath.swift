#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SoftmaxKitSIMD

/// A floating-point type the kernels run on: `Float` or `Double`.
///
/// Each conformance supplies its SIMD vector (512 bits: `SIMD16<Float>`,
/// `SIMD8<Double>`; 256 bits in -DSMK_SIMD256 builds, for CPUs without
/// AVX-512) and its vector `exp`; everything else is written once,
/// generically, in the kernel files and specialised for both types.
public protocol KernelScalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable
where Vector.Scalar == Self {
    associatedtype Vector: SIMD & Sendable & BitwiseCopyable
    /// One byte per lane of `Vector`: a row of a `uint8_t` mask.
    associatedtype MaskVector: SIMD & Sendable & BitwiseCopyable where MaskVector.Scalar == UInt8
    /// Tuples with the layouts of `Vector` and `MaskVector` but the alignment
    /// of one lane: `vload`/`vstore`/`mload` go through them (see there).
    associatedtype _VectorLanes: BitwiseCopyable
    associatedtype _MaskLanes: BitwiseCopyable

    /// `e^x` lane by lane: at most a few ulp from the correctly rounded result,
    /// exact 0 below the type's underflow limit (subnormal results kept),
    /// `+inf` above its overflow limit, NaN propagates.
    static func _vexp(_ x: Vector) -> Vector

    /// `vexp` restricted to lanes in `[-expNormalLimit, expNormalLimit]` or
    /// NaN, where the result is a normal number: a few operations cheaper.
    /// Rows choose it once, from their minimum and maximum.
    static func _vexpNormal(_ x: Vector) -> Vector
    static var _expNormalLimit: Self { get }

    /// `a * b + c`, fused where the build has FMA (see the conformances).
    static func _vmadd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector

    /// The first `count` scalars at `p` (0 <= count <= width), the other
    /// lanes `fill`; nothing past them is read.
    static func _vloadFirst(_ p: UnsafePointer<Self>, _ count: Int, fill: Self) -> Vector

    /// Stores the first `count` lanes of `v` at `p` (0 <= count <= width).
    static func _vstoreFirst(_ v: Vector, _ p: UnsafeMutablePointer<Self>, _ count: Int)

    /// Rows `r < rows` of `src` (row `r` at `src + r * srcStride`, its first
    /// `columns` lanes) into rows `c < columns` of `dst` (row `c` at
    /// `dst + c * dstStride`, its first `rows` lanes); rows, columns <= width.
    static func _transposeBlock(_ src: UnsafePointer<Self>, _ srcStride: Int, rows: Int, columns: Int,
                               _ dst: UnsafeMutablePointer<Self>, _ dstStride: Int)

    /// `v` with lanes `count..<width` replaced by `fill` (0 <= count <= width).
    static func _vkeepFirst(_ v: Vector, _ count: Int, fill: Self) -> Vector

    /// `v` with lanes `0..<count` replaced by `fill` (0 <= count <= width).
    static func _vdropFirst(_ v: Vector, _ count: Int, fill: Self) -> Vector

    /// Horizontal maximum / minimum / sum of the lanes (a halving tree).
    static func _hmax(_ v: Vector) -> Self
    static func _hmin(_ v: Vector) -> Self
    static func _hsum(_ v: Vector) -> Self

    /// Lane-wise minimum ignoring NaN in `b`.
    static func _vmin(_ a: Vector, _ b: Vector) -> Vector

    /// Lane-wise maximum ignoring NaN in `b`: one compare and blend.
    /// (Comparisons must live in the concrete conformances: written against
    /// the generic `SIMD` protocol they compile to a scalar loop per lane,
    /// and so do `pointwiseMax`/`pointwiseMin`/`clamped`.)
    static func _vmax(_ a: Vector, _ b: Vector) -> Vector

    /// `a` where the mask byte is nonzero, `b` where it is 0 (a blend, not a multiply:
    /// NaN and inf in the unselected operand never leak).
    static func _vselect(_ mask: MaskVector, _ a: Vector, _ b: Vector) -> Vector

    /// Whether some lane is greater than `t` or NaN (selection ranks NaN
    /// above every number): one compare and a mask test.
    static func _vanyRanksAbove(_ v: Vector, _ t: Self) -> Bool

    /// The lanes of `vanyRanksAbove` as bits (bit `l` for lane `l`), so that
    /// a selection visits only the lanes that pass.
    static func _vranksAboveBits(_ v: Vector, _ t: Self) -> UInt

    /// A non-temporal store of `v` to `p`, aligned to the vector's size (see
    /// `rowStream`).
    static func _vstream(_ v: Vector, _ p: UnsafeMutablePointer<Self>)

    /// `-|x|` lane by lane (NaN stays NaN): the only exponent a sigmoid needs.
    static func _vnegAbs(_ x: Vector) -> Vector

    /// The sigmoid of `x` from `e = e^-|x|`: `1 / (1 + e)` for x >= 0, `e / (1 + e)` below.
    static func _vsigmoidFinish(_ x: Vector, _ e: Vector) -> Vector

    /// Lane-wise absolute value.
    static func _vabs(_ x: Vector) -> Vector


    /// Writes the `k` first of the `n` elements at `x` (descending, ties to
    /// the lower index) as `values[j]` and `j` into `vr`/`ir`, for short rows
    /// of `vectors` = ceil(n / width) <= 4 vectors; returns true, having
    /// written nothing, when `x` holds a NaN (see the C header).
    static func _rankScatter(_ x: UnsafePointer<Self>, _ values: UnsafePointer<Self>, n: Int, vectors: Int, k: Int,
                            _ vr: UnsafeMutablePointer<Self>, _ ir: UnsafeMutablePointer<Int>,
                            positions: UnsafePointer<Int32>?) -> Bool

    /// The k-th largest of the lanes of `a` (and `b` when `vectors == 2`),
    /// none of them NaN (`1 <= k <= vectors * width`).
    static func _lanesKth(_ a: Vector, _ b: Vector, vectors: Int, k: Int) -> Self

    /// The column top-k's offer of row `v` (row indices `iv`) to the sorted
    /// slots `vals`/`idx[0 ..< k]`, on the lanes where `v >= floor` or is NaN
    /// (see the C header).
    static func _slotsOffer(_ vals: UnsafeMutableRawPointer, _ idx: UnsafeMutableRawPointer, k: Int,
                           _ v: Vector, _ iv: Vector, floor: Vector)

    /// The lanes `slotsOffer` would offer `v` to (`v >= floor` or NaN), as bits.
    static func _offerBits(_ v: Vector, floor: Vector) -> UInt32

    /// Packs the indices `base + l` of the lanes `l < lanes` of `v` that are
    /// `>= floor` or NaN into `pos` (with room for a whole vector), and
    /// returns how many: branch-free, or with `sparse` (few vectors hold a
    /// candidate) returning early where none does (see the C header).
    static func _vcollect(_ v: Vector, atLeast floor: Self, lanes: Int, base: Int,
                         _ pos: UnsafeMutablePointer<Int32>, sparse: Bool) -> Int

    /// Scalar libm functions, used off the hot paths.
    static func _libmLog(_ x: Self) -> Self
    static func _libmExp(_ x: Self) -> Self
    static func _libmLog1p(_ x: Self) -> Self
    static func _libmTanh(_ x: Self) -> Self
}

/// The kernels' names for the primitives: the requirements are underscored so
/// that `Float` and `Double` show no kernel internals to importers.
extension KernelScalar {
    @inlinable @inline(__always) static func vexp(_ x: Vector) -> Vector { _vexp(x) }
    @inlinable @inline(__always) static func vexpNormal(_ x: Vector) -> Vector { _vexpNormal(x) }
    @inlinable @inline(__always) static var expNormalLimit: Self { _expNormalLimit }
    @inlinable @inline(__always) static func vmadd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { _vmadd(a, b, c) }
    @inlinable @inline(__always) static func vloadFirst(_ p: UnsafePointer<Self>, _ count: Int, fill: Self) -> Vector { _vloadFirst(p, count, fill: fill) }
    @inlinable @inline(__always) static func vstoreFirst(_ v: Vector, _ p: UnsafeMutablePointer<Self>, _ count: Int) { _vstoreFirst(v, p, count) }
    @inlinable @inline(__always) static func transposeBlock(_ src: UnsafePointer<Self>, _ srcStride: Int, rows: Int, columns: Int, _ dst: UnsafeMutablePointer<Self>, _ dstStride: Int) { _transposeBlock(src, srcStride, rows: rows, columns: columns, dst, dstStride) }
    @inlinable @inline(__always) static func vkeepFirst(_ v: Vector, _ count: Int, fill: Self) -> Vector { _vkeepFirst(v, count, fill: fill) }
    @inlinable @inline(__always) static func vdropFirst(_ v: Vector, _ count: Int, fill: Self) -> Vector { _vdropFirst(v, count, fill: fill) }
    @inlinable @inline(__always) static func hmax(_ v: Vector) -> Self { _hmax(v) }
    @inlinable @inline(__always) static func hmin(_ v: Vector) -> Self { _hmin(v) }
    @inlinable @inline(__always) static func hsum(_ v: Vector) -> Self { _hsum(v) }
    @inlinable @inline(__always) static func vmin(_ a: Vector, _ b: Vector) -> Vector { _vmin(a, b) }
    @inlinable @inline(__always) static func vmax(_ a: Vector, _ b: Vector) -> Vector { _vmax(a, b) }
    @inlinable @inline(__always) static func vselect(_ mask: MaskVector, _ a: Vector, _ b: Vector) -> Vector { _vselect(mask, a, b) }
    @inlinable @inline(__always) static func vanyRanksAbove(_ v: Vector, _ t: Self) -> Bool { _vanyRanksAbove(v, t) }
    @inlinable @inline(__always) static func vranksAboveBits(_ v: Vector, _ t: Self) -> UInt { _vranksAboveBits(v, t) }
    @inlinable @inline(__always) static func vstream(_ v: Vector, _ p: UnsafeMutablePointer<Self>) { _vstream(v, p) }
    @inlinable @inline(__always) static func vnegAbs(_ x: Vector) -> Vector { _vnegAbs(x) }
    @inlinable @inline(__always) static func vsigmoidFinish(_ x: Vector, _ e: Vector) -> Vector { _vsigmoidFinish(x, e) }
    @inlinable @inline(__always) static func vabs(_ x: Vector) -> Vector { _vabs(x) }
    @inlinable @inline(__always) static func rankScatter(_ x: UnsafePointer<Self>, _ values: UnsafePointer<Self>, n: Int, vectors: Int, k: Int, _ vr: UnsafeMutablePointer<Self>, _ ir: UnsafeMutablePointer<Int>, positions: UnsafePointer<Int32>?) -> Bool { _rankScatter(x, values, n: n, vectors: vectors, k: k, vr, ir, positions: positions) }
    @inlinable @inline(__always) static func lanesKth(_ a: Vector, _ b: Vector, vectors: Int, k: Int) -> Self { _lanesKth(a, b, vectors: vectors, k: k) }
    @inlinable @inline(__always) static func slotsOffer(_ vals: UnsafeMutableRawPointer, _ idx: UnsafeMutableRawPointer, k: Int, _ v: Vector, _ iv: Vector, floor: Vector) { _slotsOffer(vals, idx, k: k, v, iv, floor: floor) }
    @inlinable @inline(__always) static func offerBits(_ v: Vector, floor: Vector) -> UInt32 { _offerBits(v, floor: floor) }
    @inlinable @inline(__always) static func vcollect(_ v: Vector, atLeast floor: Self, lanes: Int, base: Int, _ pos: UnsafeMutablePointer<Int32>, sparse: Bool) -> Int { _vcollect(v, atLeast: floor, lanes: lanes, base: base, pos, sparse: sparse) }
    @inlinable @inline(__always) static func libmLog(_ x: Self) -> Self { _libmLog(x) }
    @inlinable @inline(__always) static func libmExp(_ x: Self) -> Self { _libmExp(x) }
    @inlinable @inline(__always) static func libmLog1p(_ x: Self) -> Self { _libmLog1p(x) }
    @inlinable @inline(__always) static func libmTanh(_ x: Self) -> Self { _libmTanh(x) }
}

extension KernelScalar {
    /// Lanes per vector.
    @inlinable @inline(__always) static var width: Int { Vector.scalarCount }

    /// Lane-wise logistic sigmoid, exponentiating only `-|x|` (written once
    /// from the conformances' primitives).
    @inlinable @inline(__always)
    static func vsigmoid(_ x: Vector) -> Vector { vsigmoidFinish(x, vexp(vnegAbs(x))) }

    /// `vsigmoid` for lanes with |x| <= expNormalLimit (or NaN): the cheaper exp.
    @inlinable @inline(__always)
    static func vsigmoidNormal(_ x: Vector) -> Vector { vsigmoidFinish(x, vexpNormal(vnegAbs(x))) }
}

// MARK: Loads and stores (the only raw-memory vector access in the core)
//
// Each is a load or store of a tuple of lanes (alignment of one lane), then a
// bit cast: every step is transparent, so they always inline into one
// vmovups. The stdlib's `loadUnaligned`/`storeBytes` are ordinary inlinable
// functions that the optimizer stops inlining once a kernel grows large; they
// then became out-of-line calls inside hot loops.

@inlinable @inline(__always)
func vload<T: KernelScalar>(_ p: UnsafePointer<T>) -> T.Vector {
    unsafeBitCast(UnsafeRawPointer(p).assumingMemoryBound(to: T._VectorLanes.self).pointee, to: T.Vector.self)
}

@inlinable @inline(__always)
func vstore<T: KernelScalar>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>) {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: T._VectorLanes.self).pointee = unsafeBitCast(v, to: T._VectorLanes.self)
}

/// 16 floats from `p` (any alignment), whatever the kernels' width: the
/// matrix product's tiles.
@inlinable @inline(__always)
func vload16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    unsafeBitCast(UnsafeRawPointer(p).assumingMemoryBound(to: Float16Lanes.self).pointee, to: SIMD16<Float>.self)
}

@usableFromInline typealias Float16Lanes = (Float, Float, Float, Float, Float, Float, Float, Float,
                                            Float, Float, Float, Float, Float, Float, Float, Float)

/// Loads `count < width` scalars, filling the other lanes with `fill`
/// (a masked load where the CPU has one: see `KernelScalar.vloadFirst`).
@inlinable @inline(__always)
func vloadPartial<T: KernelScalar>(_ p: UnsafePointer<T>, _ count: Int, fill: T) -> T.Vector {
    T.vloadFirst(p, count, fill: fill)
}

/// Loads one mask vector (`width` bytes).
@inlinable @inline(__always)
func mload<T: KernelScalar>(_ p: UnsafePointer<UInt8>, _: T.Type) -> T.MaskVector {
    unsafeBitCast(UnsafeRawPointer(p).assumingMemoryBound(to: T._MaskLanes.self).pointee, to: T.MaskVector.self)
}

/// Loads `count < width` mask bytes; the other lanes are 0 (not selected).
@inlinable @inline(__always)
func mloadPartial<T: KernelScalar>(_ p: UnsafePointer<UInt8>, _ count: Int, _: T.Type) -> T.MaskVector {
    var v = T.MaskVector(repeating: 0)
    withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count) }
    return v
}

/// Loads `count < width` scalars, filling the other lanes with `fill`. When
/// `readable` (elements that may be read from `p`, e.g. the rest of the
/// caller's tensor) covers a whole vector, one full load plus a lane select
/// avoids the store-forwarding stall of the copy in `vloadPartial`.
@inlinable @inline(__always)
func vloadTail<T: KernelScalar>(_ p: UnsafePointer<T>, _ count: Int, readable: Int, fill: T) -> T.Vector {
    if readable >= T.width { return T.vkeepFirst(vload(p), count, fill: fill) }
    return vloadPartial(p, count, fill: fill)
}

/// Stores the first `count < width` lanes of `v`.
@inlinable @inline(__always)
func vstorePartial<T: KernelScalar>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>, _ count: Int) {
    T.vstoreFirst(v, p, count)
}


// MARK: Row reductions over contiguous memory

/// Smallest and largest elements of `x[0..<n]`, ignoring NaN; `(+inf, -inf)`
/// when `n == 0` or every element is NaN. Callers detect NaN through the
/// exp-sum that follows. `readable >= n` elements may be read from `x`.
@inlinable
func rowMinMax<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, readable: Int = 0) -> (min: T, max: T) {
    rowLaneBounds(x, n, readable: readable).bounds
}

/// The lane maxima and minima behind `rowMinMax`, NaN ignored: `max0`/`min0`
/// over the even vectors, `max1`/`min1` over the odd ones and the tail (its
/// padding lanes filled with -inf/+inf). Lanes that saw no element hold the fill.
/// Each lane covers its own positions, which is what top-k's floor needs.
@usableFromInline
struct LaneBounds<T: KernelScalar> {
    @usableFromInline var max0 = T.Vector(repeating: -.infinity), max1 = T.Vector(repeating: -.infinity)
    @usableFromInline var min0 = T.Vector(repeating: .infinity), min1 = T.Vector(repeating: .infinity)

    @inlinable @inline(__always) init() {}

    @inlinable @inline(__always)
    var bounds: (min: T, max: T) { (T.hmin(T.vmin(min0, min1)), T.hmax(T.vmax(max0, max1))) }
}

@inlinable @inline(__always)
func rowLaneBounds<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, readable: Int = 0) -> LaneBounds<T> {
    let w = T.width
    var b = LaneBounds<T>()
    var i = 0
    while i + 2 * w <= n {
        let a = vload(x + i), c = vload(x + i + w)
        b.max0 = T.vmax(b.max0, a); b.max1 = T.vmax(b.max1, c)
        b.min0 = T.vmin(b.min0, a); b.min1 = T.vmin(b.min1, c)
        i += 2 * w
    }
    if i + w <= n {
        let a = vload(x + i)
        b.max0 = T.vmax(b.max0, a); b.min0 = T.vmin(b.min0, a)
        i += w
    }
    if i < n {
        let r = n - i, avail = max(readable, n) - i
        b.max1 = T.vmax(b.max1, vloadTail(x + i, r, readable: avail, fill: -.infinity))
        b.min1 = T.vmin(b.min1, vloadTail(x + i, r, readable: avail, fill: .infinity))
    }
    return b
}

/// Which vector exp a loop uses, chosen once per row (a type parameter, so
/// each choice is its own specialised loop).
@usableFromInline protocol ExpKind { static func exp<T: KernelScalar>(_ v: T.Vector, _: T.Type) -> T.Vector }
@usableFromInline enum AnyExp: ExpKind {
    @inlinable @inline(__always) static func exp<T: KernelScalar>(_ v: T.Vector, _: T.Type) -> T.Vector { T.vexp(v) }
}
@usableFromInline enum NormalExp: ExpKind {
    @inlinable @inline(__always) static func exp<T: KernelScalar>(_ v: T.Vector, _: T.Type) -> T.Vector { T.vexpNormal(v) }
}

/// `(x - shift) * scale` as the exp-sum loops form their exponents: at
/// temperature 1 (most calls) the multiply is skipped, bit for bit the same
/// (`d * 1 == d`), one instruction fewer per vector in the hottest loop.
@usableFromInline protocol ExpScale {
    static func apply<V: SIMD>(_ d: V, _ scale: V) -> V where V.Scalar: FloatingPoint
}
@usableFromInline enum UnitScale: ExpScale {
    @inlinable @inline(__always) static func apply<V: SIMD>(_ d: V, _ scale: V) -> V where V.Scalar: FloatingPoint { d }
}
@usableFromInline enum AnyScale: ExpScale {
    @inlinable @inline(__always) static func apply<V: SIMD>(_ d: V, _ scale: V) -> V where V.Scalar: FloatingPoint { d * scale }
}

/// How many elements a vector accumulator sums before it is flushed into a
/// `Double`: keeps float32 sums of wide rows within ~1e-7 relative of exact.
@usableFromInline let accumulationBlock = 1024

/// `sum_j exp((x[j] - shift) * scale)` over `x[0..<n]`, accumulated in blocks
/// into a `Double`; when `y` is non-nil each exponential is also stored there.
/// Tails go through the same vector `exp` (padded lanes are dropped), so an
/// element's result never depends on its position in the row.
/// `lowest` (the row's minimum, when known) lets rows whose exponents all stay
/// normal use the cheaper exp; `readable >= n` elements may be read from `x`.
@inlinable
func rowExpSum<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>?, _ n: Int, shift: T, scale: T,
    lowest: T = -.infinity, readable: Int = 0
) -> Double {
    rowExpSum(x, y, n, shift: shift, scale: scale, lowest: lowest, readable: readable, lanesOf: nil).sum
}

/// `rowExpSum(alongside:)` with the next row's bounds reduced to its min and max.
@inlinable
func rowExpSum<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>?, _ n: Int, shift: T, scale: T,
    lowest: T, readable: Int, alongside next: UnsafePointer<T>?
) -> (sum: Double, next: (min: T, max: T)) {
    let r = rowExpSum(x, y, n, shift: shift, scale: scale, lowest: lowest, readable: readable, lanesOf: next)
    return (r.sum, r.next.bounds)
}

/// `rowExpSum`, and with `next` (the following row, `n` elements, readable
/// to `readable - n`) that row's lane bounds (`rowLaneBounds`'s) in the same
/// loop. Rows that come from memory spend most of their time in the exp-sum,
/// on data already in L1; the next row's loads issued among its
/// exponentials overlap that compute with the memory traffic that a
/// separate min/max pass would wait on alone. The sum is the same, bit for
/// bit, with or without `next`.
@inlinable
func rowExpSum<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>?, _ n: Int, shift: T, scale: T,
    lowest: T, readable: Int, lanesOf next: UnsafePointer<T>?
) -> (sum: Double, next: LaneBounds<T>) {
    var none = NoCandidates<T>()
    return rowExpSum(x, y, n, shift: shift, scale: scale, lowest: lowest, readable: readable, lanesOf: next,
                     candidates: &none)
}

/// `rowExpSum(lanesOf:)` that also offers every element it reads to `sink`
/// (the fused softmax + top-k collects its candidates there).
@inlinable
func rowExpSum<T: KernelScalar, K: CandidateSink>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>?, _ n: Int, shift: T, scale: T,
    lowest: T, readable: Int, lanesOf next: UnsafePointer<T>?, candidates sink: inout K
) -> (sum: Double, next: LaneBounds<T>) where K.Scalar == T {
    // Every exponent lies in [(lowest - shift) * scale, 0] (or is NaN).
    let normal = (lowest - shift) * scale >= -T.expNormalLimit
    switch (normal, scale == 1) {
    case (true, true): return rowExpSum(x, y, n, shift: shift, scale: scale, readable: readable, next, NormalExp.self, UnitScale.self, &sink)
    case (true, false): return rowExpSum(x, y, n, shift: shift, scale: scale, readable: readable, next, NormalExp.self, AnyScale.self, &sink)
    case (false, true): return rowExpSum(x, y, n, shift: shift, scale: scale, readable: readable, next, AnyExp.self, UnitScale.self, &sink)
    case (false, false): return rowExpSum(x, y, n, shift: shift, scale: scale, readable: readable, next, AnyExp.self, AnyScale.self, &sink)
    }
}

/// Where `rowExpSum` offers the vectors it reads.
@usableFromInline protocol CandidateSink {
    associatedtype Scalar: KernelScalar
    /// Lanes `l < lanes` of `v`, elements `base + l` of the row.
    mutating func offer(_ v: Scalar.Vector, lanes: Int, base: Int)
}

/// Offers nothing (every caller but the fused softmax + top-k).
@usableFromInline struct NoCandidates<T: KernelScalar>: CandidateSink {
    @usableFromInline typealias Scalar = T
    @inlinable @inline(__always) init() {}
    @inlinable @inline(__always) mutating func offer(_ v: T.Vector, lanes: Int, base: Int) {}
}

/// Keeps the indices of the elements `>= floor` (and NaN), in row order,
/// branch-free (`DenseCollect`) or skipping vectors without one (`SparseCollect`,
/// see `vcollect`): past `capacity` the writes stay at the buffer's end and only
/// `count` grows (the caller then takes another path). `positions` holds
/// `capacity + width` elements; the caller reads the values back from the row.
@usableFromInline struct FloorCandidates<T: KernelScalar, Mode: CollectMode>: CandidateSink {
    @usableFromInline typealias Scalar = T
    @usableFromInline let floor: T
    @usableFromInline let positions: UnsafeMutablePointer<Int32>
    @usableFromInline let capacity: Int
    /// Added to the offered indices (a block's start in its row).
    @usableFromInline let offset: Int
    @usableFromInline var count = 0

    @inlinable
    init(floor: T, positions: UnsafeMutablePointer<Int32>, capacity: Int, offset: Int = 0) {
        self.floor = floor; self.positions = positions; self.capacity = capacity; self.offset = offset
    }

    @inlinable @inline(__always)
    mutating func offer(_ v: T.Vector, lanes: Int, base: Int) {
        let at = min(count, capacity)
        count += T.vcollect(v, atLeast: floor, lanes: lanes, base: base + offset, positions + at, sparse: Mode.sparse)
    }
}

/// How `FloorCandidates` collects: a type, so each loop is specialised with
/// the choice as a constant (a stored flag slowed the f64 loop).
@usableFromInline protocol CollectMode { static var sparse: Bool { get } }
@usableFromInline enum DenseCollect: CollectMode { @inlinable static var sparse: Bool { false } }
@usableFromInline enum SparseCollect: CollectMode { @inlinable static var sparse: Bool { true } }

/// About k + 2 vectors of a row's first block hold candidates, each a
/// mispredicted branch (~15 cycles) when empty vectors skip the compress:
/// from this many vectors a first block on, skipping pays (a compress with
/// AVX2's permutes costs several cycles; AVX-512's compress costs less, so
/// the threshold is higher there: BENCHMARKS.md). Later blocks, whose floor
/// is the k-th so far, rarely hold one and always skip.
#if SMK_SIMD256
@usableFromInline let sparseCollectVectors = 48
#else
@usableFromInline let sparseCollectVectors = 96
#endif

@inlinable
func rowExpSum<T: KernelScalar, E: ExpKind, S: ExpScale, K: CandidateSink>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>?, _ n: Int, shift: T, scale: T, readable: Int,
    _ next: UnsafePointer<T>?, _: E.Type, _: S.Type, _ sink: inout K
) -> (sum: Double, next: LaneBounds<T>) where K.Scalar == T {
    let w = T.width
    // (x - shift) * scale, subtracting first: the fused x * scale - shift * scale
    // loses about |shift| * scale * eps of the exponent (softmax of logits near
    // 1e4 at T = 0.7 was 4e-4 off in float) and overflows to inf - inf = NaN
    // for finite logits near the type's maximum with scale > 1 (TESTING.md).
    let vscale = T.Vector(repeating: scale), vshift = T.Vector(repeating: shift)
    var total = 0.0
    // The next row's lane bounds, as rowLaneBounds keeps them.
    var m0 = T.Vector(repeating: -.infinity), m1 = m0
    var l0 = T.Vector(repeating: .infinity), l1 = l0
    var i = 0
    while i + w <= n {
        let blockEnd = min(n, i + accumulationBlock)
        var s0 = T.Vector(repeating: 0), s1 = s0
        while i + 2 * w <= blockEnd {
            let x0 = vload(x + i), x1 = vload(x + i + w)
            sink.offer(x0, lanes: w, base: i); sink.offer(x1, lanes: w, base: i + w)
            let e0 = E.exp(S.apply(x0 - vshift, vscale), T.self)
            let e1 = E.exp(S.apply(x1 - vshift, vscale), T.self)
            if let y { vstore(e0, y + i); vstore(e1, y + i + w) }
            if let next {
                // And a hint for the row after (never faults past the end):
                // 1024x1000 f32 -3%, 64x32000 f32 -10%, 4096^2 unchanged.
                smk_simd_prefetch(next + n + i); smk_simd_prefetch(next + n + i + w)
                let a = vload(next + i), b = vload(next + i + w)
                m0 = T.vmax(m0, a); m1 = T.vmax(m1, b)
                l0 = T.vmin(l0, a); l1 = T.vmin(l1, b)
            }
            s0 += e0; s1 += e1
            i += 2 * w
        }
        while i + w <= blockEnd {
            let x0 = vload(x + i)
            sink.offer(x0, lanes: w, base: i)
            let e0 = E.exp(S.apply(x0 - vshift, vscale), T.self)
            if let y { vstore(e0, y + i) }
            if let next {
                let a = vload(next + i)
                m0 = T.vmax(m0, a); l0 = T.vmin(l0, a)
            }
            s0 += e0
            i += w
        }
        total += Double(T.hsum(s0 + s1))
    }
    if i < n {
        let r = n - i
        let xt = vloadTail(x + i, r, readable: max(readable, n) - i, fill: shift)
        sink.offer(xt, lanes: r, base: i)
        let e = T.vkeepFirst(E.exp(S.apply(xt - vshift, vscale), T.self), r, fill: 0)
        if let y { vstorePartial(e, y + i, r) }
        total += Double(T.hsum(e))
        if let next {
            let avail = max(readable - n, n) - i
            m1 = T.vmax(m1, vloadTail(next + i, r, readable: avail, fill: -.infinity))
            l1 = T.vmin(l1, vloadTail(next + i, r, readable: avail, fill: .infinity))
        }
    }
    var b = LaneBounds<T>()
    (b.max0, b.max1, b.min0, b.min1) = (m0, m1, l0, l1)
    return (total, b)
}

// MARK: Streaming stores for outputs larger than the cache

/// Whether a call moving `bytes` (input and output together) should write
/// its output with non-temporal stores: when they exceed three quarters of
/// the last-level cache (glibc's memcpy rule), the output would be evicted
/// anyway, and a normal store first reads every line it writes (a third
/// memory transfer per element after reading x and writing y).
@inlinable
func streamingStores(bytes: Int) -> Bool { bytes >= streamingThreshold }

@usableFromInline let streamingThreshold: Int = {
    let l3 = lastLevelCacheBytes()
    return l3 > 0 ? l3 / 4 * 3 : 24 << 20  // as for 32 MB where the system cannot tell
}()

/// The last-level cache's size in bytes, or 0 where the system does not say:
/// glibc's sysconf on Linux, sysctl on Darwin (hw.l3cachesize on Intel Macs;
/// Apple silicon has no L3, and its L2 is the last level).
func lastLevelCacheBytes() -> Int {
    #if os(Linux) && canImport(Glibc)
    return max(0, sysconf(Int32(_SC_LEVEL3_CACHE_SIZE)))
    #elseif canImport(Darwin)
    for name in ["hw.l3cachesize", "hw.l2cachesize"] {
        var size: Int64 = 0
        var length = MemoryLayout<Int64>.size
        if sysctlbyname(name, &size, &length, nil, 0) == 0 && size > 0 { return Int(size) }
    }
    return 0
    #else
    return 0
    #endif
}

/// One thread's range of rows of a call that may stream its output: with
/// `stream` (the call's `streamingStores` decision), `body` gets
/// `streaming == true` and, when `scratch > 0` (a kernel that keeps
/// intermediates out of y, e.g. softmax's exponentials), a row of that many
/// elements; the run of streaming stores is fenced when `body` returns.
/// Without the scratch memory the range falls back to plain stores.
@inlinable
func streamingRange<T: KernelScalar>(_ stream: Bool, scratch count: Int, _: T.Type,
                                     _ body: (_ streaming: Bool, _ scratch: UnsafeMutablePointer<T>?) -> Void) {
    let scratch = stream && count > 0 ? rawAllocate(T.self, count) : nil
    defer { if let scratch { rawFree(scratch) } }
    let streaming = stream && (count == 0 || scratch != nil)
    body(streaming, scratch)
    if streaming { endStreaming() }
}

/// Writes `y[j] = scalar(j)` for `j < n`, a vector at a time (`vector(i)`
/// gives lanes `i ..< i + width`) with non-temporal stores on the
/// vector-aligned middle and plain stores on the ends. Callers end a run
/// of rows with `smk_simd_stream_fence()` (`endStreaming`).
@inlinable @inline(__always)
func rowStream<T: KernelScalar>(_ y: UnsafeMutablePointer<T>, _ n: Int,
                                vector: (Int) -> T.Vector, scalar: (Int) -> T) {
    let w = T.width, bytes = MemoryLayout<T.Vector>.size
    let off = Int(bitPattern: UInt(bitPattern: y) % UInt(bytes))
    // y is element-aligned, so whole elements reach the next vector boundary.
    var i = min(n, off == 0 ? 0 : (bytes - off) / MemoryLayout<T>.stride)
    for j in 0..<i { y[j] = scalar(j) }
    while i + w <= n { T.vstream(vector(i), y + i); i += w }
    while i < n { y[i] = scalar(i); i += 1 }
}

/// Orders a run of streaming stores before whatever the thread does next
/// (the thread pool's hand-back included).
@inlinable @inline(__always)
func endStreaming() { smk_simd_stream_fence() }

/// `y = e * factor` for softmax's last pass: with `streaming`, through
/// `rowStream` (e is then a row of scratch, not y).
@inlinable
func rowScale<T: KernelScalar>(_ e: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ factor: T, streaming: Bool) {
    if streaming {
        let vf = T.Vector(repeating: factor)
        rowStream(y, n, vector: { vload(e + $0) * vf }, scalar: { e[$0] * factor })
    } else {
        rowScale(e, y, n, factor)
    }
}

/// `y[j] = x[j] * factor` over `n` elements (in place allowed).
@inlinable
func rowScale<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ factor: T) {
    let w = T.width
    let f = T.Vector(repeating: factor)
    var i = 0
    while i + 2 * w <= n {
        vstore(vload(x + i) * f, y + i)
        vstore(vload(x + i + w) * f, y + i + w)
        i += 2 * w
    }
    while i + w <= n { vstore(vload(x + i) * f, y + i); i += w }
    while i < n { y[i] = x[i] * factor; i += 1 }
}

/// `y[j] = (x[j] - shift) * scale - offset` over `n` elements (in place allowed).
@inlinable
func rowShiftScaleOffset<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, shift: T, scale: T, offset: T
) {
    let w = T.width
    let vs = T.Vector(repeating: shift), vc = T.Vector(repeating: scale), vo = T.Vector(repeating: offset)
    var i = 0
    while i + 2 * w <= n {
        vstore((vload(x + i) - vs) * vc - vo, y + i)
        vstore((vload(x + i + w) - vs) * vc - vo, y + i + w)
        i += 2 * w
    }
    while i + w <= n { vstore((vload(x + i) - vs) * vc - vo, y + i); i += w }
    while i < n { y[i] = (x[i] - shift) * scale - offset; i += 1 }
}
