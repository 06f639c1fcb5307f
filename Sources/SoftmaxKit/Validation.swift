/// Argument checks shared by every public entry point, so each surface
/// reports the same error for the same mistake.

@usableFromInline
func checkTemperature<T: KernelScalar>(_ t: T) throws(SoftmaxKitError) {
    guard t.isFinite, t > 0 else {
        throw .invalid("temperature must be finite and > 0, got \(t)")
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
