import SoftmaxKit

/// Sets how many threads one kernel call may use; n < 1 restores the default.
@_cdecl("smk_set_num_threads")
public func smk_set_num_threads(_ n: Int32) {
    Threading.threadCount = Int(n)
}

/// How many threads one kernel call may use.
@_cdecl("smk_get_num_threads")
public func smk_get_num_threads() -> Int32 {
    Int32(clamping: Threading.threadCount)
}
