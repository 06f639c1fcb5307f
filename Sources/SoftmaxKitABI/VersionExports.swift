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

private let versionString: StaticString = "0.1.0"

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
