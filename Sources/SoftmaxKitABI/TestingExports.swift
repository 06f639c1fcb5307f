// Fault injection for the C fault tests (Tests/c/fault_*.c), compiled only
// into library builds made with -DSMK_TESTING_HOOKS (`make fault`, and the
// sanitizer and valgrind builds). The release library, the header and the
// Python binding never have these symbols: they are no user feature.
// The fault tests declare the two prototypes themselves.
#if SMK_TESTING_HOOKS
@_spi(Testing) import SoftmaxKit

/// Arms this thread (replacing an earlier plan): the `fail_allocation`-th
/// fallible allocation from now fails (0: none, they are only counted); file
/// reads stop at byte `read_stop_at` (-1: never) with end of file
/// (`read_fault` 0) or EIO (1), and return at most `read_chunk` bytes per
/// call (0: no limit).
@_cdecl("smk_testing_fault_arm")
public func smk_testing_fault_arm(_ failAllocation: Int64, _ readStopAt: Int64, _ readFault: Int32, _ readChunk: Int64) {
    FaultInjection.arm(failAllocation: failAllocation > 0 ? Int(failAllocation) : nil,
                       readStopAt: readStopAt >= 0 ? Int(readStopAt) : nil,
                       readFault: readFault == 0 ? .endOfFile : .ioError,
                       readChunk: readChunk > 0 ? Int(readChunk) : nil)
}

/// Disarms this thread. Returns the fallible allocations attempted since
/// arming; `*fired` gets 1 when the armed allocation failed, 2 when a read
/// reached the armed offset, 3 for both, 0 for neither (`fired` may be NULL).
@_cdecl("smk_testing_fault_disarm")
public func smk_testing_fault_disarm(_ fired: UnsafeMutablePointer<Int32>?) -> Int64 {
    let r = FaultInjection.disarm()
    fired?.pointee = (r.allocationFailed ? 1 : 0) | (r.readFaulted ? 2 : 0)
    return Int64(r.allocations)
}
#endif
