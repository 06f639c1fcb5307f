/// The library version. The C header's SMK_VERSION_* macros and the Python
/// package's `__version__` must equal these (checked by Tests/abi).
public enum SoftmaxKitVersion {
    public static let major = 0
    public static let minor = 2
    public static let patch = 0
    /// `major * 10000 + minor * 100 + patch`, as zstd's ZSTD_VERSION_NUMBER.
    public static var number: Int { major * 10000 + minor * 100 + patch }
    public static var string: String { "\(major).\(minor).\(patch)" }
}
