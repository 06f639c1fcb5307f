#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SoftmaxKitSIMD

/// malloc-backed allocation that reports failure instead of trapping, for
/// sizes that come from the caller. Returns nil on overflow or exhaustion.
///
/// Every allocation of the library that may fail comes through here (scratch,
/// packed weights, the model file buffer, the tensor probes, the C handles'
/// strings), so ``FaultInjection`` can fail any one of them.
@usableFromInline
func rawAllocate<T>(_: T.Type, _ count: Int) -> UnsafeMutablePointer<T>? {
    let (bytes, o) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !o, !FaultInjection.allocationFails(), let p = malloc(bytes) else { return nil }
    return p.bindMemory(to: T.self, capacity: max(count, 1))
}

@usableFromInline
func rawFree<T>(_ p: UnsafeMutablePointer<T>?) {
    free(p)
}

/// Resizes a block from ``rawAllocate(_:_:)`` (realloc); nil leaves `p`
/// allocated and unchanged.
func rawReallocate<T>(_ p: UnsafeMutablePointer<T>, _ count: Int) -> UnsafeMutablePointer<T>? {
    let (bytes, o) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !o, !FaultInjection.allocationFails(), let q = realloc(p, bytes) else { return nil }
    return q.bindMemory(to: T.self, capacity: max(count, 1))
}

/// ``rawAllocate(_:_:)`` throwing `.outOfMemory` that names the buffer.
func allocate<T>(_: T.Type, _ count: Int, for what: @autoclosure () -> String) throws(SoftmaxKitError) -> UnsafeMutablePointer<T> {
    guard let p = rawAllocate(T.self, count) else {
        throw SoftmaxKitError(.outOfMemory, "cannot allocate \(what()) (\(count) x \(MemoryLayout<T>.stride) bytes)")
    }
    return p
}

/// Swift arrays trap when malloc fails. Before building one whose size the
/// input decides (a tensor read from a file), a block of the same size is
/// allocated and freed through ``rawAllocate(_:_:)``: the likely failure (an
/// address-space or memory limit, an absurd size) becomes `.outOfMemory`
/// instead of a crash of the host process. A probe, not a guarantee: memory
/// another thread takes in between still traps.
func probeArray<T>(_: T.Type, _ count: Int, for what: @autoclosure () -> String) throws(SoftmaxKitError) {
    rawFree(try allocate(T.self, count, for: what()))
}

/// Fallible allocation for the C ABI target (its handles' strings and
/// copies), so that its allocations fail as cleanly as the core's.
@_spi(CABI) public enum FallibleMemory {
    /// A NUL-terminated copy of `s` to release with `free`, or nil.
    public static func cString(_ s: String) -> UnsafeMutablePointer<CChar>? {
        let c = s.utf8CString  // never empty: it ends with the NUL
        guard let p = rawAllocate(CChar.self, c.count) else { return nil }
        c.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: $0.count) }
        return p
    }

    /// ``probeArray(_:_:for:)`` for arrays the C ABI target builds.
    public static func probe<T>(_: T.Type, _ count: Int, for what: @autoclosure () -> String) throws(SoftmaxKitError) {
        try probeArray(T.self, count, for: what())
    }
}

/// Test hooks, reached by `@_spi(Testing) import SoftmaxKit` (Swift tests)
/// and by the `smk_testing_*` exports of the fault-injection library build
/// (`-DSMK_TESTING_HOOKS`, see TESTING.md); never by a release library.
///
/// A plan is per thread, so a test arming it does not disturb others running
/// in parallel. Unarmed, the cost on each allocation and file read is one
/// relaxed atomic load of the number of armed threads.
@_spi(Testing) public enum FaultInjection {
    /// How a read stops at the armed offset.
    public enum ReadFault: Sendable { case endOfFile, ioError }

    /// What happened while a plan was armed.
    public struct Report: Sendable, Equatable {
        /// Fallible allocations attempted (the failed one included).
        public var allocations = 0
        /// Whether the armed allocation failure was reached.
        public var allocationFailed = false
        /// Whether a file read reached the armed offset.
        public var readFaulted = false
    }

    final class Plan {
        var failAllocation = 0  // the n-th allocation from arming fails; 0: none
        var readStop = -1  // file offset where reads stop; -1: none
        var readFault = ReadFault.endOfFile
        var readChunk = 0  // at most this many bytes per read call; 0: no limit
        var report = Report()
    }

    /// Threads armed now (relaxed atomic adds and loads through the C
    /// module, which every deployment target has).
    nonisolated(unsafe) private static let armedThreads: UnsafeMutablePointer<Int64> = {
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        // A thread that exits armed releases its plan.
        let rc = pthread_key_create(&key) { raw in
            let p: UnsafeMutableRawPointer? = raw  // optional on Linux, not on Darwin
            guard let p else { return }
            Unmanaged<Plan>.fromOpaque(p).release()
            smk_atomic_add_relaxed(FaultInjection.armedThreads, -1)
        }
        return rc == 0 ? key : nil
    }()

    @inline(__always)
    static var plan: Plan? {
        guard smk_atomic_load_relaxed(armedThreads) != 0, let key, let p = pthread_getspecific(key) else { return nil }
        return Unmanaged<Plan>.fromOpaque(p).takeUnretainedValue()
    }

    /// Arms this thread: the `failAllocation`-th fallible allocation from now
    /// fails (1 = the next; nil = none fail, allocations are only counted);
    /// file reads stop with `readFault` at byte `readStopAt`, and return at
    /// most `readChunk` bytes per call. Replaces an earlier plan.
    public static func arm(failAllocation: Int? = nil, readStopAt: Int? = nil, readFault: ReadFault = .endOfFile,
                           readChunk: Int? = nil) {
        _ = disarm()
        guard let key else { return }
        let p = Plan()
        p.failAllocation = max(failAllocation ?? 0, 0)
        p.readStop = readStopAt ?? -1
        p.readFault = readFault
        p.readChunk = max(readChunk ?? 0, 0)
        guard pthread_setspecific(key, Unmanaged.passRetained(p).toOpaque()) == 0 else {
            Unmanaged.passUnretained(p).release()
            return
        }
        smk_atomic_add_relaxed(armedThreads, 1)
    }

    /// Disarms this thread and reports what happened since ``arm``.
    @discardableResult
    public static func disarm() -> Report {
        guard let key, let p = pthread_getspecific(key) else { return Report() }
        pthread_setspecific(key, nil)
        smk_atomic_add_relaxed(armedThreads, -1)
        return Unmanaged<Plan>.fromOpaque(p).takeRetainedValue().report
    }

    @inline(__always)
    static func allocationFails() -> Bool {
        guard let p = plan else { return false }
        p.report.allocations += 1
        guard p.report.allocations == p.failAllocation else { return false }
        p.report.allocationFailed = true
        return true
    }

    /// How many bytes a read at `offset` may return (up to `wanted`), or the
    /// armed fault when `offset` is where reads stop.
    @inline(__always)
    static func readLimit(at offset: Int, wanted: Int) -> Result<Int, ReadFault> {
        guard let p = plan else { return .success(wanted) }
        var n = wanted
        if p.readChunk > 0 { n = min(n, p.readChunk) }
        if p.readStop >= 0 {
            if offset >= p.readStop {
                p.report.readFaulted = true
                return .failure(p.readFault)
            }
            n = min(n, p.readStop - offset)
        }
        return .success(n)
    }
}

extension FaultInjection.ReadFault: Error {}
