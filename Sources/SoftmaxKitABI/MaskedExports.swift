import SoftmaxKit

// Masked softmax and log-softmax: a mask (full-shape or one pattern) or
// per-fibre lengths says which positions take part.

/// Where the selected positions come from.
private enum Selection {
    case mask(UnsafePointer<UInt8>?)
    case lengths(UnsafePointer<Int64>?)
}

/// One masked call: `mode` is the `renormalize` flag of a softmax, nil for a
/// log-softmax.
private func masked<T: KernelScalar>(
    _ x: UnsafePointer<T>?, _ selection: Selection, _ y: UnsafeMutablePointer<T>?,
    _ outer: Int64, _ n: Int64, _ inner: Int64, _ selectionCount: Int64, _ mode: Int32?
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        switch selection {
        case .mask(let mask):
            let mc = try elementCount(selectionCount, "mask_count")
            let xb = try input(x, e.count, "x"), yb = try output(y, e.count, "y")
            let mb = try input(mask, mc, "mask")
            if let mode {
                try maskedSoftmax(xb, mask: mb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
            } else {
                try maskedLogSoftmax(xb, mask: mb, into: yb, extents: e)
            }
        case .lengths(let lengths):
            let lc = try elementCount(selectionCount, "lengths_count")
            let xb = try input(x, e.count, "x"), yb = try output(y, e.count, "y")
            let lb = try input(lengths, lc, "lengths")
            if let mode {
                try maskedSoftmax(xb, lengths: lb, into: yb, extents: e, renormalize: try flag(mode, "renormalize"))
            } else {
                try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e)
            }
        }
    }
}

@_cdecl("smk_masked_softmax_f32")
public func smk_masked_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, .mask(mask), y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_softmax_f64")
public func smk_masked_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                   _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, .mask(mask), y, outer, n, inner, maskCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_f32")
public func smk_masked_log_softmax_f32(_ x: UnsafePointer<Float>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Float>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, .mask(mask), y, outer, n, inner, maskCount, nil)
}

@_cdecl("smk_masked_log_softmax_f64")
public func smk_masked_log_softmax_f64(_ x: UnsafePointer<Double>?, _ mask: UnsafePointer<UInt8>?, _ y: UnsafeMutablePointer<Double>?,
                                       _ outer: Int64, _ n: Int64, _ inner: Int64, _ maskCount: Int64) -> Int32 {
    masked(x, .mask(mask), y, outer, n, inner, maskCount, nil)
}

@_cdecl("smk_masked_softmax_lengths_f32")
public func smk_masked_softmax_lengths_f32(_ x: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, .lengths(lengths), y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_softmax_lengths_f64")
public func smk_masked_softmax_lengths_f64(_ x: UnsafePointer<Double>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                           _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64, _ renormalize: Int32) -> Int32 {
    masked(x, .lengths(lengths), y, outer, n, inner, lengthsCount, renormalize)
}

@_cdecl("smk_masked_log_softmax_lengths_f32")
public func smk_masked_log_softmax_lengths_f32(_ x: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Float>?,
                                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64) -> Int32 {
    masked(x, .lengths(lengths), y, outer, n, inner, lengthsCount, nil)
}

@_cdecl("smk_masked_log_softmax_lengths_f64")
public func smk_masked_log_softmax_lengths_f64(_ x: UnsafePointer<Double>?, _ lengths: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<Double>?,
                                               _ outer: Int64, _ n: Int64, _ inner: Int64, _ lengthsCount: Int64) -> Int32 {
    masked(x, .lengths(lengths), y, outer, n, inner, lengthsCount, nil)
}
