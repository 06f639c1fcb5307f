import SoftmaxKit

// Half precision for the structured operations: hardmax, partitioned
// activations, segment softmax, hierarchical softmax and masked softmax /
// log-softmax with per-fibre lengths, on float16 (smk_f16, Swift's Float16)
// and bfloat16 (smk_bf16, SoftmaxKit's BFloat16). The C types are structs
// holding the 16 bits, so the Swift side sees their storage as UInt16.

// MARK: Hardmax

private func hardmaxHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try hardmax(try halfInput(x, e.count, "x", H.self), into: try halfOutput(y, e.count, "y", H.self), extents: e)
    }
}

// MARK: Partitioned

private func partitionedHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ layout: UnsafeRawPointer?,
                                           _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                           _ layoutCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try withPartitionLayout(layout, layoutCount) { (segments) throws(SoftmaxKitError) in
            try partitioned(try halfInput(x, e.count, "x", H.self), layout: segments,
                            into: try halfOutput(y, e.count, "y", H.self), extents: e)
        }
    }
}

// MARK: Segment softmax

private func segmentHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ offsets: UnsafePointer<Int64>?,
                                       _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                       _ offsetCount: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let o = try smallIndexArray(offsets, offsetCount, "offsets")
        try segmentSoftmax(try halfInput(x, e.count, "x", H.self), offsets: o, into: try halfOutput(y, e.count, "y", H.self), extents: e)
    }
}

// MARK: Hierarchical softmax

private func hierarchicalHalf<H: HalfFloat>(_: H.Type, _ coarse: UnsafePointer<UInt16>?, _ fine: UnsafePointer<UInt16>?,
                                            _ sizes: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<UInt16>?,
                                            _ batch: Int64, _ groups: Int64, _ fineWidth: Int64, _ conditional: Int32) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let (s, ce, fe) = try hierarchicalShapes(sizes, batch, groups, fineWidth)
        let cond = try flag(conditional, "conditional")
        try hierarchicalSoftmax(coarse: try halfInput(coarse, ce.count, "coarse", H.self), fine: try halfInput(fine, fe.count, "fine", H.self),
                                sizes: s, into: try halfOutput(y, fe.count, "y", H.self), batch: ce.outer, conditional: cond)
    }
}

// MARK: Masked with lengths

private func maskedLengthsHalf<H: HalfFloat>(_: H.Type, _ x: UnsafePointer<UInt16>?, _ lengths: UnsafePointer<Int64>?,
                                             _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                             _ lengthsCount: Int64, _ mode: Int32?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        let lc = try elementCount(lengthsCount, "lengths_count")
        let xb = try halfInput(x, e.count, "x", H.self), yb = try halfOutput(y, e.count, "y", H.self)
        let lb = try input(lengths, lc, "lengths")
        if let mode {
            try maskedSoftmax(xb, lengths: lb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
        } else {
            try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e)
        }
    }
}

// MARK: Exports

@_cdecl("smk_hardmax_f16")
public func smk_hardmax_f16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64,
                            _ inner: Int64) -> Int32 {
    hardmaxHalf(Float16.self, x, y, outer, n, inner)
}

@_cdecl("smk_hardmax_bf16")
public func smk_hardmax_bf16(_ x: UnsafePointer<UInt16>?, _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64,
                             _ inner: Int64) -> Int32 {
    hardmaxHalf(BFloat16.self, x, y, outer, n, inner)
}

@_cdecl("smk_partitioned_f16")
public func smk_partitioned_f16(_ x: UnsafePointer<UInt16>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<UInt16>?,
                                _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64) -> Int32 {
    partitionedHalf(Float16.self, x, layout, y, outer, n, inner, layoutCount)
}

@_cdecl("smk_partitioned_bf16")
public func smk_partitioned_bf16(_ x: UnsafePointer<UInt16>?, _ layout: UnsafeRawPointer?, _ y: UnsafeMutablePointer<UInt16>?,
                                 _ outer: Int64, _ n: Int64, _ inner: Int64, _ layoutCount: Int64) -> Int32 {
    partitionedHalf(BFloat16.self, x, layout, y, outer, n, inner, layoutCount)
}

@_cdecl("smk_segment_softmax_f16")
public func smk_segment_softmax_f16(_ x: UnsafePointer<UInt16>?, _ offsets: UnsafePointer<Int64>?,
                                    _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                    _ offsetCount: Int64) -> Int32 {
    segmentHalf(Float16.self, x, offsets, y, outer, n, inner, offsetCount)
}

@_cdecl("smk_segment_softmax_bf16")
public func smk_segment_softmax_bf16(_ x: UnsafePointer<UInt16>?, _ offsets: UnsafePointer<Int64>?,
                                     _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                     _ offsetCount: Int64) -> Int32 {
    segmentHalf(BFloat16.self, x, offsets, y, outer, n, inner, offsetCount)
}

@_cdecl("smk_hierarchical_softmax_f16")
public func smk_hierarchical_softmax_f16(_ coarse: UnsafePointer<UInt16>?, _ fine: UnsafePointer<UInt16>?,
                                         _ sizes: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<UInt16>?, _ batch: Int64,
                                         _ groups: Int64, _ fineWidth: Int64, _ conditional: Int32) -> Int32 {
    hierarchicalHalf(Float16.self, coarse, fine, sizes, y, batch, groups, fineWidth, conditional)
}

@_cdecl("smk_hierarchical_softmax_bf16")
public func smk_hierarchical_softmax_bf16(_ coarse: UnsafePointer<UInt16>?, _ fine: UnsafePointer<UInt16>?,
                                          _ sizes: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<UInt16>?, _ batch: Int64,
                                          _ groups: Int64, _ fineWidth: Int64, _ conditional: Int32) -> Int32 {
    hierarchicalHalf(BFloat16.self, coarse, fine, sizes, y, batch, groups, fineWidth, conditional)
}

@_cdecl("smk_masked_softmax_lengths_f16")
public func smk_masked_softmax_lengths_f16(_ x: UnsafePointer<UInt16>?, _ lengths: UnsafePointer<Int64>?,
                                           _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                           _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedLengthsHalf(Float16.self, x, lengths, y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_softmax_lengths_bf16")
public func smk_masked_softmax_lengths_bf16(_ x: UnsafePointer<UInt16>?, _ lengths: UnsafePointer<Int64>?,
                                            _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                            _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    maskedLengthsHalf(BFloat16.self, x, lengths, y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_lengths_f16")
public func smk_masked_log_softmax_lengths_f16(_ x: UnsafePointer<UInt16>?, _ lengths: UnsafePointer<Int64>?,
                                               _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                               _ lengthsCount: Int64) -> Int32 {
    maskedLengthsHalf(Float16.self, x, lengths, y, outer, n, inner, lengthsCount, nil)
}

@_cdecl("smk_masked_log_softmax_lengths_bf16")
public func smk_masked_log_softmax_lengths_bf16(_ x: UnsafePointer<UInt16>?, _ lengths: UnsafePointer<Int64>?,
                                                _ y: UnsafeMutablePointer<UInt16>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                                _ lengthsCount: Int64) -> Int32 {
    maskedLengthsHalf(BFloat16.self, x, lengths, y, outer, n, inner, lengthsCount, nil)
}
