#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// malloc-backed allocation that reports failure instead of trapping, for
/// sizes that come from the caller. Returns nil on overflow or exhaustion.
@usableFromInline
func rawAllocate<T>(_: T.Type, _ count: Int) -> UnsafeMutablePointer<T>? {
    let (bytes, o) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !o, let p = malloc(bytes) else { return nil }
    return p.bindMemory(to: T.self, capacity: max(count, 1))
}

@usableFromInline
func rawFree<T>(_ p: UnsafeMutablePointer<T>?) {
    free(p)
}
