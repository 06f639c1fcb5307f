@_spi(CABI) import SoftmaxKit

// Sampling from logits and its options struct.

/// The C `smk_sample_options` struct, read by byte offset (C layout):
///   uint64_t size @0; double temperature @8; int64_t top_k @16;
///   double top_p @24; double min_p @32; int64_t num_samples @40;
///   uint64_t row_offset @48; int32_t replacement @56; sizeof == 64.
/// `size` comes first so that later versions can append fields and still
/// read structs from older callers.
private enum SampleOptionsLayout {
    static let size = 64
    static let temperature = 8, topK = 16, topP = 24, minP = 32, numSamples = 40, rowOffset = 48, replacement = 56
}

/// Fills `options` with the defaults (temperature 1, no truncation, one draw
/// with replacement, row offset 0).
@_cdecl("smk_sample_options_init")
public func smk_sample_options_init(_ options: UnsafeMutableRawPointer?) {
    guard let p = options else { return }
    p.initializeMemory(as: UInt8.self, repeating: 0, count: SampleOptionsLayout.size)
    p.storeBytes(of: UInt64(SampleOptionsLayout.size), as: UInt64.self)
    p.storeBytes(of: 1.0, toByteOffset: SampleOptionsLayout.temperature, as: Double.self)
    p.storeBytes(of: Int64(0), toByteOffset: SampleOptionsLayout.topK, as: Int64.self)
    p.storeBytes(of: 1.0, toByteOffset: SampleOptionsLayout.topP, as: Double.self)
    p.storeBytes(of: 0.0, toByteOffset: SampleOptionsLayout.minP, as: Double.self)
    p.storeBytes(of: Int64(1), toByteOffset: SampleOptionsLayout.numSamples, as: Int64.self)
    p.storeBytes(of: UInt64(0), toByteOffset: SampleOptionsLayout.rowOffset, as: UInt64.self)
    p.storeBytes(of: Int32(1), toByteOffset: SampleOptionsLayout.replacement, as: Int32.self)
}

/// Core options from a C struct (NULL = defaults).
func sampleOptions(_ p: UnsafeRawPointer?) throws(SoftmaxKitError) -> SamplingOptions {
    guard let p else { return SamplingOptions() }
    let size = p.loadUnaligned(as: UInt64.self)
    guard size >= UInt64(SampleOptionsLayout.size) else {
        throw SoftmaxKitError(.invalidArgument,
            "options->size is \(size), expected \(SampleOptionsLayout.size): call smk_sample_options_init first")
    }
    let topK = p.loadUnaligned(fromByteOffset: SampleOptionsLayout.topK, as: Int64.self)
    let draws = p.loadUnaligned(fromByteOffset: SampleOptionsLayout.numSamples, as: Int64.self)
    let replacement = try flag(p.loadUnaligned(fromByteOffset: SampleOptionsLayout.replacement, as: Int32.self),
                               "options->replacement")
    guard topK >= 0 else { throw SoftmaxKitError(.invalidArgument, "top_k must be >= 0 (0 = off), got \(topK)") }
    guard draws >= 1 else { throw SoftmaxKitError(.invalidArgument, "num_samples must be >= 1, got \(draws)") }
    guard draws <= Int64(maxElementCount) else {
        throw SoftmaxKitError(.sizeOverflow, "num_samples \(draws) is too large to address")
    }
    return SamplingOptions(
        temperature: p.loadUnaligned(fromByteOffset: SampleOptionsLayout.temperature, as: Double.self),
        topK: Int(truncatingIfNeeded: topK),
        topP: p.loadUnaligned(fromByteOffset: SampleOptionsLayout.topP, as: Double.self),
        minP: p.loadUnaligned(fromByteOffset: SampleOptionsLayout.minP, as: Double.self),
        numSamples: Int(truncatingIfNeeded: draws), replacement: replacement,
        rowOffset: p.loadUnaligned(fromByteOffset: SampleOptionsLayout.rowOffset, as: UInt64.self))
}

/// Rows up to this length, alone in their call and without a mask, take
/// `sampleShortRow`.
private let shortRow: Int64 = 1024

private func sampleABI<T: KernelScalar>(
    _ logits: UnsafePointer<T>?, _ mask: UnsafePointer<UInt8>?, _ indices: UnsafeMutablePointer<Int64>?,
    _ logProbs: UnsafeMutablePointer<T>?, _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64,
    _ options: UnsafeRawPointer?, _ seed: UInt64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        // One short row without a mask (an action head's batch of one):
        // the extents are valid and the buffers non-NULL, so the errors
        // below come in the general call's order.
        if outer == 1, inner == 1, n > 0, n <= shortRow, mask == nil, maskCount == 0,
           let logits, let indices {
            let o = try sampleOptions(options)
            let ip = UnsafeMutableRawPointer(indices).assumingMemoryBound(to: Int.self)
            if try sampleShortRow(logits, n: Int(n), index: ip, logProb: logProbs, options: o, seed: seed) { return }
        }
        let e = try extents(outer, n, inner)
        let o = try sampleOptions(options)
        guard let count = SoftmaxKit.elementCount(e.outer, o.numSamples, e.inner) else {
            throw SoftmaxKitError(.sizeOverflow, "outer * num_samples * inner overflows 64 bits")
        }
        let m: UnsafeBufferPointer<UInt8>?
        if maskCount == 0 && mask == nil {
            m = nil
        } else {
            m = try input(mask, try elementCount(maskCount, "mask_count"), "mask")
        }
        let lp = logProbs.map { UnsafeMutableBufferPointer(start: $0, count: count) }
        try sample(try input(logits, e.count, "logits"), mask: m, indices: try indexOutput(indices, count, "indices"),
                   logProbs: lp, extents: e, options: o, seed: seed)
    }
}

@_cdecl("smk_sample_f32")
public func smk_sample_f32(_ logits: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ indices: UnsafeMutablePointer<Int64>?,
                           _ logProbs: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                           _ maskCount: Int64, _ options: UnsafeRawPointer?, _ seed: UInt64) -> Int32 {
    sampleABI(logits, mask, indices, logProbs, outer, n, inner, maskCount, options, seed)
}

@_cdecl("smk_sample_f64")
public func smk_sample_f64(_ logits: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ indices: UnsafeMutablePointer<Int64>?,
                           _ logProbs: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                           _ maskCount: Int64, _ options: UnsafeRawPointer?, _ seed: UInt64) -> Int32 {
    sampleABI(logits, mask, indices, logProbs, outer, n, inner, maskCount, options, seed)
}
