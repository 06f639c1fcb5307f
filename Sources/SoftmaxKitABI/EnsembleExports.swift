import SoftmaxKit

// Ensemble averaging of tensors.

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

