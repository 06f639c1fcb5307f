import SoftmaxKit

/// `SMK_VERSION_NUMBER` of the loaded library (major*10000 + minor*100 + patch).
@_cdecl("smk_version")
public func smk_version() -> UInt32 {
    UInt32(SoftmaxKitVersion.number)
}

/// "MAJOR.MINOR.PATCH" of the loaded library; static storage.
@_cdecl("smk_version_string")
public func smk_version_string() -> UnsafePointer<CChar> {
    cString(versionString)
}

private let versionString: StaticString = "0.2.0"

/// The CPU path of these kernels ("avx512", "avx2", "sse2", "generic"):
/// `SoftmaxKitBuild.cpuPath` as a static C string.
@_cdecl("smk_cpu_path")
public func smk_cpu_path() -> UnsafePointer<CChar> {
    #if SMK_CPU_AVX512
    return cString("avx512")
    #elseif SMK_CPU_AVX2
    return cString("avx2")
    #elseif SMK_CPU_SSE2
    return cString("sse2")
    #else
    return cString("generic")
    #endif
}

/// A static, never-NULL description of `status`.
@_cdecl("smk_status_string")
public func smk_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    cString(staticName(status))
}

/// This thread's message for the last failed call; "" when none failed yet.
@_cdecl("smk_last_error_message")
public func smk_last_error_message() -> UnsafePointer<CChar> {
    lastErrorMessage()
}
