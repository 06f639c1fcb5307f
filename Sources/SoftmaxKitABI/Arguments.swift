import SoftmaxKit

// Argument conversions shared by the variant, selection and loss exports.

/// A small int64 array from C (offsets, sizes) copied into `[Int]`.
func smallIndexArray(_ p: UnsafePointer<Int64>?, _ count: Int64, _ name: String) throws(SoftmaxKitError) -> [Int] {
    let c = try elementCount(count, "\(name) count")
    let b = try input(p, c, name)
    return b.map { Int(truncatingIfNeeded: $0) }
}

/// A read-only view of `count` int64 indices as `Int` (same layout on 64-bit
/// platforms, the only ones this library builds for).
func indexInput(_ p: UnsafePointer<Int64>?, _ count: Int, _ name: String) throws(SoftmaxKitError) -> UnsafeBufferPointer<Int> {
    let b = try input(p, count, name)
    return UnsafeBufferPointer(start: UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: Int.self), count: b.count)
}

/// A writable view of `count` int64 indices as `Int`.
func indexOutput(_ p: UnsafeMutablePointer<Int64>?, _ count: Int, _ name: String) throws(SoftmaxKitError) -> UnsafeMutableBufferPointer<Int> {
    let b = try output(p, count, name)
    return UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(b.baseAddress)?.assumingMemoryBound(to: Int.self), count: b.count)
}

/// An optional input: NULL means "absent" (not an error).
func optionalInput<T>(_ p: UnsafePointer<T>?, _ count: Int) -> UnsafeBufferPointer<T>? {
    guard let p else { return nil }
    return UnsafeBufferPointer(start: p, count: count)
}

/// A C `int` flag (0 = false) that must be 0 or 1.
func flag(_ v: Int32, _ name: String) throws(SoftmaxKitError) -> Bool {
    guard v == 0 || v == 1 else { throw SoftmaxKitError(.invalidArgument, "\(name) must be 0 or 1, got \(v)") }
    return v == 1
}

/// A float16 / bfloat16 input of `count` elements as `H` (the C ABI passes
/// half values as `uint16_t` bits).
func halfInput<H: HalfFloat>(_ p: UnsafePointer<UInt16>?, _ count: Int, _ name: String, _: H.Type) throws(SoftmaxKitError)
    -> UnsafeBufferPointer<H> {
    let b = try input(p, count, name)
    return UnsafeBufferPointer(start: UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: H.self), count: b.count)
}

/// A float16 / bfloat16 output of `count` elements as `H`.
func halfOutput<H: HalfFloat>(_ p: UnsafeMutablePointer<UInt16>?, _ count: Int, _ name: String, _: H.Type) throws(SoftmaxKitError)
    -> UnsafeMutableBufferPointer<H> {
    let b = try output(p, count, name)
    return UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(b.baseAddress)?.assumingMemoryBound(to: H.self), count: b.count)
}
