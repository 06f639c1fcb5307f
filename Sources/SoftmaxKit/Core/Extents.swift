/// The layout every kernel sees: a C-contiguous tensor viewed as
/// `(outer, n, inner)`, reduced over `n`. Element `(o, j, i)` lives at
/// `(o * n + j) * inner + i`.
///
/// A `[rows, cols]` tensor reduced over its last axis is `(rows, cols, 1)`;
/// axis 1 of `[3, 4, 5]` is `(3, 4, 5)`. Any extent may be 0 (an empty
/// tensor: nothing to do, not an error).
public struct Extents: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let outer: Int
    public let n: Int
    public let inner: Int
    /// `outer * n * inner`, checked for overflow at construction.
    public let count: Int

    /// Creates extents, rejecting negative values and products that overflow.
    public init(outer: Int, n: Int, inner: Int = 1) throws(SoftmaxKitError) {
        guard outer >= 0, n >= 0, inner >= 0 else {
            throw .invalid("extents must be non-negative, got (\(outer), \(n), \(inner))")
        }
        // The reduced result (outer, 1, inner) must be addressable even when n == 0.
        guard let c = elementCount(outer, n, inner), elementCount(outer, inner) != nil else {
            throw .overflow("extents (\(outer), \(n), \(inner)) overflow 64 bits")
        }
        self.outer = outer; self.n = n; self.inner = inner; self.count = c
    }

    /// `(1, n, inner)` for `n` consecutive rows of a validated tensor with
    /// this `inner` (a sub-block: its products cannot overflow).
    @inlinable
    init(block n: Int, inner: Int) { self.init(checked: 1, n, inner) }

    /// Maps a shape and an axis (negative counts from the back) to extents.
    /// A rank-0 shape is one element: `(1, 1, 1)`, and only axis 0 or -1 is valid.
    public init(shape: [Int], axis: Int) throws(SoftmaxKitError) {
        if shape.isEmpty {
            guard axis == 0 || axis == -1 else {
                throw .invalid("axis \(axis) is out of range for a rank-0 tensor")
            }
            try self.init(outer: 1, n: 1, inner: 1)
            return
        }
        let rank = shape.count
        guard axis >= -rank, axis < rank else {
            throw .invalid("axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        let a = axis < 0 ? axis + rank : axis
        for d in shape where d < 0 { throw .invalid("shape \(shape) has a negative dimension \(d)") }
        guard let outer = product(shape[..<a]), let inner = product(shape[(a + 1)...]) else {
            throw .overflow("shape \(shape) overflows 64 bits")
        }
        try self.init(outer: outer, n: shape[a], inner: inner)
    }

    /// The extents of a reduction's result: `(outer, 1, inner)`.
    @inlinable
    public var reduced: Extents { Extents(checked: outer, 1, inner) }

    /// Elements of a reduction's result: `outer * inner` (checked at construction).
    @inlinable
    public var reducedCount: Int { outer &* inner }

    /// Extents whose products are known not to overflow (no checks: a
    /// reduction's result or a sub-block of validated extents).
    @inlinable
    init(checked outer: Int, _ n: Int, _ inner: Int) {
        self.outer = outer; self.n = n; self.inner = inner; count = outer &* n &* inner
    }

    public var description: String { "(\(outer), \(n), \(inner))" }
}
