/// Argument checks shared by every public entry point, so each surface
/// reports the same error for the same mistake.

@usableFromInline
func checkTemperature<T: KernelScalar>(_ t: T) throws(SoftmaxKitError) {
    // A subnormal temperature passes `> 0` but its reciprocal, by which the
    // kernels scale, overflows to inf and turns every row into NaN.
    guard t.isFinite, t > 0, (1 / t).isFinite else {
        throw .invalid("temperature must be finite and > 0 (and 1/temperature finite), got \(t)")
    }
}

@usableFromInline
func checkCount(_ name: String, _ have: Int, _ need: Int) throws(SoftmaxKitError) {
    guard have >= need else {
        throw .shape("\(name) holds \(have) elements but the extents need \(need)")
    }
}

/// Output may alias input exactly (in place) but never partially.
@usableFromInline
func checkAliasing<T>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, count: Int,
                      names: (String, String) = ("x", "y")) throws(SoftmaxKitError) {
    guard count > 0, let xb = x.baseAddress, let yb = y.baseAddress else { return }
    let xs = UInt(bitPattern: xb), ys = UInt(bitPattern: yb)
    if xs == ys { return }
    let bytes = UInt(count * MemoryLayout<T>.stride)
    if xs < ys + bytes && ys < xs + bytes {
        throw .invalid("\(names.1) partially overlaps \(names.0): outputs may alias inputs only exactly")
    }
}

/// As above for an output `y` of `yCount` elements that may start at `x`
/// (`xCount` elements) but must not overlap it anywhere else (logsumexp).
@usableFromInline
func checkAliasing<T>(_ x: UnsafeBufferPointer<T>, xCount: Int, _ y: UnsafeMutableBufferPointer<T>, yCount: Int,
                      names: (String, String) = ("x", "y")) throws(SoftmaxKitError) {
    guard xCount > 0, yCount > 0, let xb = x.baseAddress, let yb = y.baseAddress else { return }
    let xs = UInt(bitPattern: xb), ys = UInt(bitPattern: yb)
    if xs == ys { return }
    if xs < ys + UInt(yCount * MemoryLayout<T>.stride) && ys < xs + UInt(xCount * MemoryLayout<T>.stride) {
        throw .invalid("\(names.1) partially overlaps \(names.0): outputs may alias inputs only exactly")
    }
}
