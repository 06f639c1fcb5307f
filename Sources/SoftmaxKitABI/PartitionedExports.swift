import SoftmaxKit

// Partitioned rows: per-segment activations.

/// The C `smk_partition` struct, read by byte offset (C layout):
/// `int64_t width` @0, `int32_t activation` @8, sizeof == 16.
private let partitionStride = 16

/// The name of an `smk_activation`, NULL for values outside the enum.
@_cdecl("smk_activation_name")
public func smk_activation_name(_ activation: Int32) -> UnsafePointer<CChar>? {
    guard let a = RowActivation(rawValue: activation) else { return nil }
    return cString(a.staticName)
}

/// Reads the C layout (`layout_count` smk_partition structs) and runs
/// `body` on it as PartitionSegments (shared by every element type).
func withPartitionLayout(_ layout: UnsafeRawPointer?, _ layoutCount: Int64,
                         _ body: (UnsafeBufferPointer<PartitionSegment>) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
    let lc = try elementCount(layoutCount, "layout_count")
    guard lc <= Int.max / partitionStride else {
        throw SoftmaxKitError(.sizeOverflow, "layout_count \(lc) is too large to address")
    }
    guard lc == 0 || layout != nil else { throw nullPointer("layout") }
    func segment(_ k: Int) throws(SoftmaxKitError) -> PartitionSegment {
        let width = layout!.loadUnaligned(fromByteOffset: k * partitionStride, as: Int64.self)
        let code = layout!.loadUnaligned(fromByteOffset: k * partitionStride + 8, as: Int32.self)
        guard let a = RowActivation(rawValue: code) else {
            throw SoftmaxKitError(.invalidArgument, "layout[\(k)].activation \(code) is not an smk_activation")
        }
        return PartitionSegment(width: Int(truncatingIfNeeded: width), activation: a)
    }
    // Real heads' layouts are converted on the stack: nothing allocated per call.
    if lc <= 256 {
        try withUnsafeTemporaryAllocation(of: PartitionSegment.self, capacity: lc) { (s) throws(SoftmaxKitError) in
            for k in 0..<lc { (s.baseAddress! + k).initialize(to: try segment(k)) }
            try body(UnsafeBufferPointer(s))
        }
    } else {
        var segments: [PartitionSegment] = []
        segments.reserveCapacity(1024)  // one allocation for any real layout, not one per doubling
        for k in 0..<lc { segments.append(try segment(k)) }
        try segments.withUnsafeBufferPointer { (s) throws(SoftmaxKitError) in try body(s) }
    }
}

private func partitionedABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try withPartitionLayout(layout, layoutCount) { (segments) throws(SoftmaxKitError) in
            try partitioned(try input(x, e.count, "x"), layout: segments, into: try output(y, e.count, "y"), extents: e)
        }
    }
}

@_cdecl("smk_partitioned_f32")
public func smk_partitioned_f32(_ x: UnsafePointer<Float>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<Float>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64) -> Int32 {
    partitionedABI(x, layout, y, outer, n, inner, layoutCount)
}

@_cdecl("smk_partitioned_f64")
public func smk_partitioned_f64(_ x: UnsafePointer<Double>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<Double>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64) -> Int32 {
    partitionedABI(x, layout, y, outer, n, inner, layoutCount)
}

