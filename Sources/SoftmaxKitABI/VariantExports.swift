import SoftmaxKit

// Masked, partitioned, segment and hierarchical softmax; ensemble mean.

private func masked<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ mode: Int32?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let mc = try elementCount(maskCount, "mask_count")
        let xb = try input(x, e.count, "x"), yb = try output(y, e.count, "y")
        let mb = try input(mask, mc, "mask")
        if let mode {
            try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
        } else {
            try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
        }
    }
}

@_cdecl("smk_masked_softmax_f32")
public func smk_masked_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_softmax_f64")
public func smk_masked_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_f32")
public func smk_masked_log_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, nil)
}

@_cdecl("smk_masked_log_softmax_f64")
public func smk_masked_log_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, mask, y, outer, n, inner, maskCount, nil)
}

/// The C `smk_partition` struct, read by byte offset (C layout):
/// `int64_t width` @0, `int32_t activation` @8, sizeof == 16.
private let partitionStride = 16

/// The name of an `smk_activation`, NULL for values outside the enum.
@_cdecl("smk_activation_name")
public func smk_activation_name(_ activation: Int32) -> UnsafePointer<CChar>? {
    guard let a = RowActivation(rawValue: activation) else { return nil }
    return cString(a.staticName)
}

private func partitionedABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
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
        func run(_ segments: UnsafeBufferPointer<PartitionSegment>) throws(SoftmaxKitError) {
            try partitioned(try input(x, e.count, "x"), layout: segments, into: try output(y, e.count, "y"), extents: e)
        }
        // Real heads' layouts are converted on the stack: nothing allocated per call.
        if lc <= 256 {
            try withUnsafeTemporaryAllocation(of: PartitionSegment.self, capacity: lc) { (s) throws(SoftmaxKitError) in
                for k in 0..<lc { (s.baseAddress! + k).initialize(to: try segment(k)) }
                try run(UnsafeBufferPointer(s))
            }
        } else {
            var segments: [PartitionSegment] = []
            segments.reserveCapacity(1024)  // one allocation for any real layout, not one per doubling
            for k in 0..<lc { segments.append(try segment(k)) }
            try segments.withUnsafeBufferPointer { (s) throws(SoftmaxKitError) in try run(s) }
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

private func segmentABI<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try smallIndexArray(offsets, offsetCount, "offsets")
        try segmentSoftmax(try input(x, e.count, "x"), offsets: o, into: try output(y, e.count, "y"), extents: e)
    }
}

@_cdecl("smk_segment_softmax_f32")
public func smk_segment_softmax_f32(_ x: UnsafePointer<Float>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64) -> Int32 {
    segmentABI(x, offsets, y, outer, n, inner, offsetCount)
}

@_cdecl("smk_segment_softmax_f64")
public func smk_segment_softmax_f64(_ x: UnsafePointer<Double>?, _ offsets: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                    _ outer: Int64, _ n: Int64, _ inner: Int64, _ offsetCount: Int64) -> Int32 {
    segmentABI(x, offsets, y, outer, n, inner, offsetCount)
}

private func hierarchicalABI<T: KernelScalar>(
    _ coarse: UnsafePointer<T>?, _ fine: UnsafePointer<T>?, _ sizes: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<T>?,
    _ batch: Int64, _ groups: Int64, _ fineWidth: Int64, _ conditional: Int32
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let s = try smallIndexArray(sizes, groups, "sizes")
        let ce = try extents(batch, groups, 1), fe = try extents(batch, fineWidth, 1)
        // Sizes < 1 are reported by the core; here the sum must match fine_width.
        if s.allSatisfy({ $0 >= 1 }) {
            let (total, o) = s.reduce((0, false)) { acc, v in
                let (t, o) = acc.0.addingReportingOverflow(v); return (t, acc.1 || o)
            }
            guard !o, total == fe.n else {
                throw SoftmaxKitError(.shapeMismatch, "sizes sum to \(o ? "more than 2^63" : String(total)) but fine_width is \(fe.n)")
            }
        }
        let cond = try flag(conditional, "conditional")
        try hierarchicalSoftmax(coarse: try input(coarse, ce.count, "coarse"), fine: try input(fine, fe.count, "fine"),
                                sizes: s, into: try output(y, fe.count, "y"), batch: ce.outer, conditional: cond)
    }
}

@_cdecl("smk_hierarchical_softmax_f32")
public func smk_hierarchical_softmax_f32(_ coarse: UnsafePointer<Float>?, _ fine: UnsafePointer<Float>?, _ sizes: UnsafePointer<Int64>?,
                                         _ y: UnsafeMutablePointer<Float>?, _ batch: Int64, _ groups: Int64,
                                         _ fineWidth: Int64, _ conditional: Int32) -> Int32 {
    hierarchicalABI(coarse, fine, sizes, y, batch, groups, fineWidth, conditional)
}

@_cdecl("smk_hierarchical_softmax_f64")
public func smk_hierarchical_softmax_f64(_ coarse: UnsafePointer<Double>?, _ fine: UnsafePointer<Double>?, _ sizes: UnsafePointer<Int64>?,
                                         _ y: UnsafeMutablePointer<Double>?, _ batch: Int64, _ groups: Int64,
                                         _ fineWidth: Int64, _ conditional: Int32) -> Int32 {
    hierarchicalABI(coarse, fine, sizes, y, batch, groups, fineWidth, conditional)
}

private func ensembleABI<T: KernelScalar>(
    _ members: UnsafePointer<UnsafePointer<T>?>?, _ y: UnsafeMutablePointer<T>?, _ memberCount: Int64,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        guard let m = EnsembleMode(rawValue: mode) else {
            throw SoftmaxKitError(.invalidArgument, "mode \(mode) is not an smk_ensemble_mode")
        }
        let mc = try elementCount(memberCount, "member_count")
        let list = try input(members, mc, "members")
        var bufs: [UnsafeBufferPointer<T>] = []
        for (k, p) in list.enumerated() { bufs.append(try input(p, e.count, "members[\(k)]")) }
        try ensembleMean(bufs, into: try output(y, e.count, "y"), extents: e, mode: m)
    }
}

@_cdecl("smk_ensemble_mean_f32")
public func smk_ensemble_mean_f32(_ members: UnsafePointer<UnsafePointer<Float>?>?, _ y: UnsafeMutablePointer<Float>?,
                                  _ memberCount: Int64, _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32) -> Int32 {
    ensembleABI(members, y, memberCount, outer, n, inner, mode)
}

@_cdecl("smk_ensemble_mean_f64")
public func smk_ensemble_mean_f64(_ members: UnsafePointer<UnsafePointer<Double>?>?, _ y: UnsafeMutablePointer<Double>?,
                                  _ memberCount: Int64, _ outer: Int64, _ n: Int64, _ inner: Int64, _ mode: Int32) -> Int32 {
    ensembleABI(members, y, memberCount, outer, n, inner, mode)
}
