/// Argument checks shared by every public entry point, so each surface
/// reports the same error for the same mistake.

@usableFromInline
func checkTemperature<T: KernelScalar>(_ t: T) throws(SoftmaxKitError) {
    // Subnormal temperatures are refused: most have a reciprocal (by which
    // the kernels scale) that overflows to inf and turns every row into NaN,
    // and one rule for all of them is the documented one.
    guard t.isNormal, t > 0 else {
        throw .invalid("temperature must be finite and > 0 and not subnormal, got \(t)")
    }
}

@usableFromInline
func checkCount(_ name: @autoclosure () -> String, _ have: Int, _ need: Int) throws(SoftmaxKitError) {
    // The name is built only on failure: forward passes check one per head.
    guard have >= need else {
        throw .shape("\(name()) holds \(have) elements but the extents need \(need)")
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

/// Two byte ranges that must not overlap at all (an output and an input it
/// is not allowed to alias).
@usableFromInline
func checkDisjoint(_ a: UnsafeRawPointer?, _ aBytes: Int, _ b: UnsafeRawPointer?, _ bBytes: Int,
                   names: (String, String)) throws(SoftmaxKitError) {
    guard let a, let b, aBytes > 0, bBytes > 0 else { return }
    let x = UInt(bitPattern: a), y = UInt(bitPattern: b)
    if x < y + UInt(bBytes) && y < x + UInt(aBytes) {
        throw .invalid("\(names.1) overlaps \(names.0): it must be a separate buffer")
    }
}

/// A loss's output must not share a byte with one of its inputs: a
/// per-sample loss or a gradient written over values that later samples
/// still read would be a silent wrong answer (fuzz_abi: `loss` inside
/// `logits` with reduction none returned SMK_OK).
@inlinable @inline(__always)
func checkSeparate<T, U>(_ output: UnsafeMutableBufferPointer<T>?, _ outputName: String,
                         from input: UnsafeBufferPointer<U>?, _ inputName: String) throws(SoftmaxKitError) {
    guard let output, let input else { return }
    try checkDisjoint(UnsafeRawPointer(input.baseAddress), input.count * MemoryLayout<U>.stride,
                      UnsafeRawPointer(output.baseAddress), output.count * MemoryLayout<T>.stride,
                      names: (inputName, outputName))
}
