#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(CABI) import SoftmaxKit

// The skin between C and the core: status codes, the thread-local error
// message, and pointer checks. Nothing here may trap: a trap would kill the
// host process.

/// `SMK_OK`; every other status is a `SoftmaxKitError.Kind` raw value.
let statusOK: Int32 = 0

/// One static C string per status (stable storage: returned to C as is).
func staticName(_ status: Int32) -> StaticString {
    switch status {
    case 0: return "SMK_OK: success"
    case SoftmaxKitError.Kind.invalidArgument.rawValue: return "SMK_ERROR_INVALID_ARGUMENT: an argument is outside its valid domain"
    case SoftmaxKitError.Kind.nullPointer.rawValue: return "SMK_ERROR_NULL_POINTER: a pointer is NULL while its count is nonzero"
    case SoftmaxKitError.Kind.sizeOverflow.rawValue: return "SMK_ERROR_SIZE_OVERFLOW: sizes overflow 64 bits"
    case SoftmaxKitError.Kind.shapeMismatch.rawValue: return "SMK_ERROR_SHAPE_MISMATCH: argument shapes do not agree"
    case SoftmaxKitError.Kind.indexOutOfRange.rawValue: return "SMK_ERROR_INDEX_OUT_OF_RANGE: an index is out of range"
    case SoftmaxKitError.Kind.outOfMemory.rawValue: return "SMK_ERROR_OUT_OF_MEMORY: memory allocation failed"
    case SoftmaxKitError.Kind.io.rawValue: return "SMK_ERROR_IO: a file could not be opened or read"
    case SoftmaxKitError.Kind.format.rawValue: return "SMK_ERROR_FORMAT: malformed model file or spec"
    case SoftmaxKitError.Kind.unsupported.rawValue: return "SMK_ERROR_UNSUPPORTED: not supported by this build"
    case SoftmaxKitError.Kind.internal.rawValue: return "SMK_ERROR_INTERNAL: internal error (a bug in SoftmaxKit)"
    default: return "SMK_ERROR_UNKNOWN: unknown status code"
    }
}

func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: Thread-local last error message

private let messageCapacity = 1024

/// One malloc'd buffer per thread, freed by the key's destructor at thread exit.
private let errorKey: pthread_key_t? = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key) { p in free(p) }
    return rc == 0 ? key : nil
}()

private func messageBuffer() -> UnsafeMutablePointer<CChar>? {
    guard let key = errorKey else { return nil }
    if let p = pthread_getspecific(key) { return p.assumingMemoryBound(to: CChar.self) }
    guard let p = calloc(messageCapacity, 1) else { return nil }
    guard pthread_setspecific(key, p) == 0 else { free(p); return nil }
    return p.assumingMemoryBound(to: CChar.self)
}

/// Records this thread's last error message (truncated to 1023 bytes at a
/// UTF-8 character boundary).
func setLastError(_ message: String) {
    guard let buf = messageBuffer() else { return }
    var utf8 = Array(message.utf8.prefix(messageCapacity - 1))
    // Do not cut a multi-byte character in half.
    if utf8.count == messageCapacity - 1 {
        while let last = utf8.last, last & 0xC0 == 0x80 { utf8.removeLast() }
        if let last = utf8.last, last >= 0xC0 { utf8.removeLast() }
    }
    utf8.withUnsafeBufferPointer { b in
        UnsafeMutableRawPointer(buf).copyMemory(from: b.baseAddress!, byteCount: b.count)
    }
    buf[utf8.count] = 0
}

func lastErrorMessage() -> UnsafePointer<CChar> {
    guard let buf = messageBuffer() else { return cString("") }
    return UnsafePointer(buf)
}

// MARK: Calls and pointer checks

/// Runs a core call, mapping a thrown error to its status and message.
@inline(__always)
func abiCall(_ body: () throws(SoftmaxKitError) -> Void) -> Int32 {
    do {
        try body()
        return statusOK
    } catch {
        setLastError(error.message)
        return error.kind.rawValue
    }
}

func nullPointer(_ name: String) -> SoftmaxKitError {
    SoftmaxKitError(.nullPointer, "\(name) is NULL but its element count is nonzero")
}

/// A read-only view of `count` elements; NULL is accepted only when `count == 0`.
/// (Names are autoclosures, built only on failure: some name a head.)
func input<T>(_ p: UnsafePointer<T>?, _ count: Int, _ name: @autoclosure () -> String) throws(SoftmaxKitError) -> UnsafeBufferPointer<T> {
    if count == 0 { return UnsafeBufferPointer(start: p, count: 0) }
    guard let p else { throw nullPointer(name()) }
    return UnsafeBufferPointer(start: p, count: count)
}

/// A writable view of `count` elements; NULL is accepted only when `count == 0`.
func output<T>(_ p: UnsafeMutablePointer<T>?, _ count: Int, _ name: @autoclosure () -> String) throws(SoftmaxKitError) -> UnsafeMutableBufferPointer<T> {
    if count == 0 { return UnsafeMutableBufferPointer(start: p, count: 0) }
    guard let p else { throw nullPointer(name()) }
    return UnsafeMutableBufferPointer(start: p, count: count)
}

/// Extents from C's int64 triple, checked for sign and overflow.
func extents(_ outer: Int64, _ n: Int64, _ inner: Int64) throws(SoftmaxKitError) -> Extents {
    try Extents(outer: Int(truncatingIfNeeded: outer), n: Int(truncatingIfNeeded: n),
                inner: Int(truncatingIfNeeded: inner))
}

/// An element count from C, rejected when negative or too large to address.
func elementCount(_ count: Int64, _ name: String = "count") throws(SoftmaxKitError) -> Int {
    guard count >= 0 else { throw SoftmaxKitError(.invalidArgument, "\(name) must be non-negative, got \(count)") }
    guard count <= Int64(maxElementCount) else { throw SoftmaxKitError(.sizeOverflow, "\(name) \(count) is too large to address") }
    return Int(count)
}
