@_spi(CABI) import SoftmaxKit

// The chunked normalizer: partial states, their merge, and the finishing
// passes (softmax, log_softmax, logsumexp of a chunk from merged states).

private func stateABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ m: UnsafeMutablePointer<Double>?,
                                       _ s: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64,
                                       _ inner: Int64, _ temperature: T) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try softmaxState(try input(x, e.count, "x"), max: try output(m, e.reducedCount, "max"),
                         sum: try output(s, e.reducedCount, "sum"), extents: e, temperature: temperature)
    }
}

@_cdecl("smk_softmax_state_f32")
public func smk_softmax_state_f32(_ x: UnsafePointer<Float>?, _ max: UnsafeMutablePointer<Double>?,
                                  _ sum: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64,
                                  _ inner: Int64, _ temperature: Float) -> Int32 {
    stateABI(x, max, sum, outer, n, inner, temperature)
}

@_cdecl("smk_softmax_state_f64")
public func smk_softmax_state_f64(_ x: UnsafePointer<Double>?, _ max: UnsafeMutablePointer<Double>?,
                                  _ sum: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64,
                                  _ inner: Int64, _ temperature: Double) -> Int32 {
    stateABI(x, max, sum, outer, n, inner, temperature)
}

@_cdecl("smk_softmax_state_merge")
public func smk_softmax_state_merge(_ maxIn: UnsafePointer<Double>?, _ sumIn: UnsafePointer<Double>?,
                                    _ maxOut: UnsafeMutablePointer<Double>?, _ sumOut: UnsafeMutablePointer<Double>?,
                                    _ parts: Int64, _ count: Int64, _ temperature: Double) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        guard parts >= 1 else { throw SoftmaxKitError(.invalidArgument, "parts must be >= 1, got \(parts)") }
        let c = try elementCount(count)
        guard let total = SoftmaxKit.elementCount(Int(parts), c) else {
            throw SoftmaxKitError(.sizeOverflow, "parts * count (\(parts) * \(count)) overflows 64 bits")
        }
        try mergeSoftmaxStates(max: try input(maxIn, total, "max_in"), sum: try input(sumIn, total, "sum_in"),
                               parts: Int(parts), count: c, intoMax: try output(maxOut, c, "max_out"),
                               sum: try output(sumOut, c, "sum_out"), temperature: temperature)
    }
}

private func finishABI<T: KernelScalar>(_ x: UnsafePointer<T>?, _ m: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                        _ y: UnsafeMutablePointer<T>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                        _ temperature: T, _ takeLog: Bool) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let e = try extents(outer, n, inner)
        try softmaxFinish(try input(x, e.count, "x"), max: try input(m, e.reducedCount, "max"),
                          sum: try input(s, e.reducedCount, "sum"), into: try output(y, e.count, "y"),
                          extents: e, temperature: temperature, log: takeLog)
    }
}

@_cdecl("smk_softmax_finish_f32")
public func smk_softmax_finish_f32(_ x: UnsafePointer<Float>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                   _ y: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                   _ temperature: Float) -> Int32 {
    finishABI(x, max, sum, y, outer, n, inner, temperature, false)
}

@_cdecl("smk_softmax_finish_f64")
public func smk_softmax_finish_f64(_ x: UnsafePointer<Double>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                   _ y: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                   _ temperature: Double) -> Int32 {
    finishABI(x, max, sum, y, outer, n, inner, temperature, false)
}

@_cdecl("smk_log_softmax_finish_f32")
public func smk_log_softmax_finish_f32(_ x: UnsafePointer<Float>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                       _ y: UnsafeMutablePointer<Float>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                       _ temperature: Float) -> Int32 {
    finishABI(x, max, sum, y, outer, n, inner, temperature, true)
}

@_cdecl("smk_log_softmax_finish_f64")
public func smk_log_softmax_finish_f64(_ x: UnsafePointer<Double>?, _ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                       _ y: UnsafeMutablePointer<Double>?, _ outer: Int64, _ n: Int64, _ inner: Int64,
                                       _ temperature: Double) -> Int32 {
    finishABI(x, max, sum, y, outer, n, inner, temperature, true)
}

private func lseFinishABI<T: KernelScalar>(_ m: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                           _ y: UnsafeMutablePointer<T>?, _ count: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let c = try elementCount(count)
        try logSumExpFinish(max: try input(m, c, "max"), sum: try input(s, c, "sum"), into: try output(y, c, "y"), count: c)
    }
}

@_cdecl("smk_logsumexp_finish_f32")
public func smk_logsumexp_finish_f32(_ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                     _ y: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    lseFinishABI(max, sum, y, count)
}

@_cdecl("smk_logsumexp_finish_f64")
public func smk_logsumexp_finish_f64(_ max: UnsafePointer<Double>?, _ sum: UnsafePointer<Double>?,
                                     _ y: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    lseFinishABI(max, sum, y, count)
}
