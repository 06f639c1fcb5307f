/// Every failure the core can report. Each case maps to exactly one C status
/// code (see `SoftmaxKitError.Kind` and include/softmaxkit.h) and one Python
/// exception class, so the three surfaces agree on what went wrong.
public struct SoftmaxKitError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The failure class. Raw values are the C ABI's `smk_status` values.
    public enum Kind: Int32, CaseIterable, Sendable {
        /// An argument is outside its documented domain (axis, temperature, k, ...).
        case invalidArgument = 1
        /// A pointer is NULL while its matching count is nonzero.
        case nullPointer = 2
        /// A product of extents or a byte count does not fit in 64 bits.
        case sizeOverflow = 3
        /// Two arguments' shapes do not agree (mask, weights, layouts, ...).
        case shapeMismatch = 4
        /// An index (class target, offset) lies outside its valid range.
        case indexOutOfRange = 5
        /// Memory could not be allocated.
        case outOfMemory = 6
        /// A file could not be opened or read.
        case io = 7
        /// A model file or spec is malformed.
        case format = 8
        /// The request is well-formed but not supported by this build.
        case unsupported = 9
        /// A bug in SoftmaxKit: please report it.
        case `internal` = 10
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func invalid(_ message: String) -> SoftmaxKitError { .init(.invalidArgument, message) }
    static func overflow(_ message: String) -> SoftmaxKitError { .init(.sizeOverflow, message) }
    static func shape(_ message: String) -> SoftmaxKitError { .init(.shapeMismatch, message) }
}
