import SoftmaxKit

// Two-level (hierarchical) softmax.

/// The C arguments' sizes and the coarse and fine extents (shared by every
/// element type).
func hierarchicalShapes(_ sizes: UnsafePointer<Int64>?, _ batch: Int64, _ groups: Int64,
                        _ fineWidth: Int64) throws(SoftmaxKitError) -> ([Int], Extents, Extents) {
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
    return (s, ce, fe)
}

private func hierarchicalABI<T: KernelScalar>(
    _ coarse: UnsafePointer<T>?, _ fine: UnsafePointer<T>?, _ sizes: UnsafePointer<Int64>?, _ y: UnsafeMutablePointer<T>?,
    _ batch: Int64, _ groups: Int64, _ fineWidth: Int64, _ conditional: Int32
) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let (s, ce, fe) = try hierarchicalShapes(sizes, batch, groups, fineWidth)
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

