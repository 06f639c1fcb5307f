import SoftmaxKitSIMD

/// Half-precision storage: IEEE binary16 (Swift's `Float16`) and bfloat16
/// (``BFloat16``), read as float32 and written back rounded once, to nearest
/// even. The kernels never compute in 16 bits: the row kernels of softmax,
/// log-softmax, softmax + top-k and cross-entropy (Half/HalfRows.swift) load
/// half bits straight into float32 vector lanes and round their results
/// straight back; every other operation goes through ``HalfBlocks``, which
/// widens a block of rows into float32 scratch that stays in cache, runs the
/// float32 kernel on it and rounds the block's outputs into the half type.

/// The two 16-bit floating-point formats.
public enum HalfFormat: Sendable, Equatable {
    /// IEEE 754 binary16: 5 exponent bits, 10 fraction bits (max 65504).
    case binary16
    /// bfloat16: float32's 8 exponent bits, 7 fraction bits.
    case bfloat16
}

/// A 16-bit floating-point storage type the kernels accept: ``BFloat16``, and
/// `Float16` where the platform has it (not macOS on Intel). Values are
/// 16-bit patterns of `halfFormat`.
public protocol HalfFloat: BitwiseCopyable, Sendable {
    static var halfFormat: HalfFormat { get }
}

/// bfloat16: the upper 16 bits of a float32. Conversions from `Float` round
/// to nearest even (NaN stays NaN); equality and hashing compare bit patterns.
@frozen
public struct BFloat16: HalfFloat, Hashable, CustomStringConvertible {
    /// The raw bits.
    public var bitPattern: UInt16

    public static var halfFormat: HalfFormat { .bfloat16 }

    @inlinable
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// `value` rounded to nearest even; NaN gives a quiet NaN, values beyond
    /// the range an infinity.
    @inlinable
    public init(_ value: Float) { bitPattern = smk_f32_to_bf16(value) }

    /// The exact float32 value.
    @inlinable
    public var floatValue: Float { smk_bf16_to_f32(bitPattern) }

    public var description: String { floatValue.description }
}

extension Float {
    /// The exact value of a bfloat16.
    @inlinable
    public init(_ value: BFloat16) { self = value.floatValue }
}

#if !(canImport(Darwin) && arch(x86_64))
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
extension Float16: HalfFloat {
    public static var halfFormat: HalfFormat { .binary16 }
}
#endif

/// Bit-level conversions of whole arrays (F16C / AVX where the build targets them).
enum HalfConversion {
    /// `count` 16-bit patterns of `format` widened (exactly) into float32.
    static func widen(_ format: HalfFormat, _ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        switch format {
        case .binary16: smk_f16_widen(src, dst, count)
        case .bfloat16: smk_bf16_widen(src, dst, count)
        }
    }

    /// `count` float32 values rounded to nearest even into 16-bit patterns of `format`.
    static func narrow(_ format: HalfFormat, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        switch format {
        case .binary16: smk_f16_narrow(src, dst, count)
        case .bfloat16: smk_bf16_narrow(src, dst, count)
        }
    }

    /// `count` float32 values times `scale`, rounded into 16-bit patterns
    /// of `format` (`src` is scratch: it may be overwritten).
    static func narrowScaled(_ format: HalfFormat, _ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>,
                             count: Int, scale: Float) {
        switch format {
        case .binary16: smk_f16_narrow_scaled(src, dst, count, scale)
        case .bfloat16: smk_bf16_narrow_scaled(src, dst, count, scale)
        }
    }
}

// MARK: The adapter

/// Bits of a half buffer (read).
@inlinable
func halfBits<H: HalfFloat>(_ b: UnsafeBufferPointer<H>) -> UnsafePointer<UInt16>? {
    b.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt16.self) }
}

/// Bits of a half buffer (write).
@inlinable
func halfBits<H: HalfFloat>(_ b: UnsafeMutableBufferPointer<H>) -> UnsafeMutablePointer<UInt16>? {
    b.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt16.self) }
}

/// Runs a float32 kernel over a half tensor cut into slices (outer indices),
/// a block of slices at a time: each half input's block is widened into
/// float32 scratch, `body` runs the float32 kernel on the block's slices
/// (`range`) with the scratch, and each half output's block is rounded once
/// from its scratch. The scratch of a block stays in L2 (about
/// `blockElements` floats); a single slice larger than that gets scratch of
/// its own size. Threads take contiguous runs of blocks, each with its own
/// scratch, allocated before anything is written (an allocation failure is
/// `.outOfMemory` with no output touched).
///
/// Callers validate every argument before: `body` may then fail only for
/// want of memory (the float32 kernel's own scratch), in which case blocks
/// before the failing one may already be written. Inputs
/// and outputs: (pointer, elements per slice). An output may equal an input
/// (in place): a block is read whole before its outputs are written.
struct HalfBlocks {
    static let blockElements = 1 << 15

    static func run(_ format: HalfFormat, slices: Int,
                    inputs: [(UnsafePointer<UInt16>, Int)],
                    outputs: [(UnsafeMutablePointer<UInt16>, Int)],
                    _ body: (Range<Int>, [UnsafeMutablePointer<Float>], [UnsafeMutablePointer<Float>]) throws(SoftmaxKitError) -> Void
    ) throws(SoftmaxKitError) {
        guard slices > 0 else { return }
        let perSlice = (inputs.map(\.1) + outputs.map(\.1)).reduce(0, +)
        let per = max(perSlice, 1)
        let block = max(1, blockElements / per)
        let blocks = (slices + block - 1) / block
        let threads = plannedThreads(blocks, work: slices * per)
        let scratchCount = block * per
        guard let total = elementCount(scratchCount, threads) else { throw .overflow("half-precision scratch overflows") }
        let scratch = try allocate(Float.self, total, for: "half-precision scratch")
        defer { scratch.deallocate() }
        var failures = [SoftmaxKitError?](repeating: nil, count: threads)
        failures.withUnsafeMutableBufferPointer { failed in
        parallelFor(threads, work: threads < 2 ? 0 : parallelThreshold) { ts in
            for t in ts {
                let base = scratch + t * scratchCount
                var offset = 0
                let ins = inputs.map { s -> UnsafeMutablePointer<Float> in defer { offset += block * s.1 }; return base + offset }
                let outs = outputs.map { s -> UnsafeMutablePointer<Float> in defer { offset += block * s.1 }; return base + offset }
                for b in (blocks * t / threads)..<(blocks * (t + 1) / threads) {
                    let lo = b * block, hi = min(slices, lo + block), c = hi - lo
                    for (k, (p, m)) in inputs.enumerated() {
                        HalfConversion.widen(format, p + lo * m, ins[k], count: c * m)
                    }
                    do throws(SoftmaxKitError) {
                        try body(lo..<hi, ins, outs)
                    } catch {
                        failed[t] = error
                        return
                    }
                    for (k, (p, m)) in outputs.enumerated() {
                        HalfConversion.narrow(format, outs[k], p + lo * m, count: c * m)
                    }
                }
            }
        }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
    }
}

// MARK: Whole-array conversions

/// Widens every element of `x` into `y` (exact). `y` holds at least
/// `x.count` elements and shares no byte with `x`.
/// - Throws: `.shapeMismatch` for a short `y`; `.invalidArgument` for overlap.
public func convert<H: HalfFloat>(_ x: UnsafeBufferPointer<H>, into y: UnsafeMutableBufferPointer<Float>) throws(SoftmaxKitError) {
    try checkCount("y", y.count, x.count)
    try checkSeparate(y, "y", from: x, "x")
    guard x.count > 0 else { return }
    HalfConversion.widen(H.halfFormat, halfBits(x)!, y.baseAddress!, count: x.count)
}

/// Rounds every element of `x` to nearest even into `y`. `y` holds at
/// least `x.count` elements and shares no byte with `x`.
/// - Throws: `.shapeMismatch` for a short `y`; `.invalidArgument` for overlap.
public func convert<H: HalfFloat>(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<H>) throws(SoftmaxKitError) {
    try checkCount("y", y.count, x.count)
    try checkSeparate(y, "y", from: x, "x")
    guard x.count > 0 else { return }
    HalfConversion.narrow(H.halfFormat, x.baseAddress!, halfBits(y)!, count: x.count)
}
