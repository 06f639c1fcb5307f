/// Partitioned rows: a fibre of length `n` split into consecutive segments,
/// each with its own activation (output-layer partitioning: one
/// softmax head for actions beside an identity head for a force, ...).
///
///   identity     y = x
///   softmax      y = softmax(x) over the segment
///   log_softmax  y = log_softmax(x) over the segment
///   sigmoid      y = 1 / (1 + e^-x), element-wise
///   tanh         y = tanh(x), element-wise
/// Each segment follows its activation's own edge-case rules (docs/DESIGN.md).

/// The activation of one segment. Raw values are the C ABI's `smk_activation`
/// values; `name` is the spelling shared with Python and the model format.
public enum RowActivation: Int32, CaseIterable, Sendable {
    case identity = 0
    case softmax = 1
    case logSoftmax = 2
    case sigmoid = 3
    case tanh = 4

    /// The normalizer of a softmax or log-softmax segment, else nil.
    @inlinable var normalizer: NormalizerKind? {
        switch self {
        case .softmax: .softmax
        case .logSoftmax: .logSoftmax
        default: nil
        }
    }

    /// "identity", "softmax", "log_softmax", "sigmoid" or "tanh".
    public var name: String { staticName.description }

    /// `name` in static storage (handed to C as is).
    public var staticName: StaticString {
        switch self {
        case .identity: "identity"
        case .softmax: "softmax"
        case .logSoftmax: "log_softmax"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }

    /// The activation spelled `name`, or nil.
    public init?(name: String) {
        guard let a = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = a
    }
}

/// Encoded as its `name` (a model file's `[width, "log_softmax"]`).
extension RowActivation: Codable {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let a = RowActivation(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "unknown activation \"\(name)\" (expected one of \(Self.allCases.map(\.name).joined(separator: ", ")))"))
        }
        self = a
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

/// `width` consecutive positions of a row under one activation.
public struct PartitionSegment: Equatable, Hashable, Sendable {
    public var width: Int
    public var activation: RowActivation
    public init(width: Int, activation: RowActivation) {
        self.width = width; self.activation = activation
    }
}

/// Applies `layout` to every fibre of `x` over the `n` extent, into `y`
/// (`y` may be `x`).
/// - Throws: `.invalidArgument` for a negative width; `.shapeMismatch` when
///   the widths do not sum to `extents.n`; the buffer errors of
///   ``softmax(_:into:extents:temperature:)``. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func partitioned<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, layout: [PartitionSegment], into y: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    try layout.withUnsafeBufferPointer { (l) throws(SoftmaxKitError) in try partitionedFibres(x, l, y, extents) }
}

/// As ``partitioned(_:layout:into:extents:)`` with the layout in a buffer
/// (the C ABI's path: a call allocates nothing for its layout).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func partitioned<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, layout: UnsafeBufferPointer<PartitionSegment>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents
) throws(SoftmaxKitError) {
    try partitionedFibres(x, layout, y, extents)
}

/// The body of both `partitioned` overloads (one calling the other lost the
/// callee's exported specializations in this compiler).
@inlinable
func partitionedFibres<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, _ layout: UnsafeBufferPointer<PartitionSegment>, _ y: UnsafeMutableBufferPointer<T>,
    _ extents: Extents
) throws(SoftmaxKitError) {
    try checkLayout(layout, n: extents.n)
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, extents.count)
    try checkAliasing(x, y, count: extents.count)
    try checkDisjoint(UnsafeRawPointer(layout.baseAddress), layout.count * MemoryLayout<PartitionSegment>.stride,
                      UnsafeRawPointer(y.baseAddress), extents.count * MemoryLayout<T>.stride, names: ("layout", "y"))
    guard extents.count > 0 else { return }
    if extents.inner == 1 {
        partitionedRows(x.baseAddress!, y.baseAddress!, layout, rows: extents.outer, n: extents.n)
        return
    }
    try forEachFibre(x.baseAddress!, y.baseAddress!, extents) { xr, yr in partitionedRow(xr, yr, layout) }
}

/// `rows` contiguous rows of `n` elements under `layout` (widths summing to
/// `n`; the model heads call this directly).
@inlinable
func partitionedRows<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ layout: UnsafeBufferPointer<PartitionSegment>,
                                      rows: Int, n: Int) {
    if let short = ShortRows<T>(n), short.vectors <= ShortPlan.maxVectors {
        shortPartitioned(x, y, layout, rows: rows, short)
        return
    }
    // Calls larger than the cache write y with streaming stores, as softmax
    // does (a plain store first reads the line it writes: a third more
    // memory traffic); softmax segments then keep their exponentials in a
    // row of scratch. Same bits either way.
    let stream = streamingStores(bytes: 2 * rows * n * MemoryLayout<T>.stride)
    let widest = layout.reduce(0) { $0 > $1.width || $1.activation != .softmax ? $0 : $1.width }
    parallelFor(rows, work: rows * n) { range in streamingRange(stream, scratch: widest, T.self) { streaming, scratch in
        // A normalized segment longer than a short row takes its min/max from
        // the exp-sum loop of the same segment in the row before, as
        // softmax's rows do (the first row of a range takes its own pass).
        // Same bits either way.
        // A short segment (at most four vectors) other than tanh runs by a
        // short-row kernel striding from row to row, over tiles of about
        // 8 KB of rows (two rows at a time, rows still in L1), after the
        // tile's rows took their other segments (a one-row call per row
        // paid a call and a memmove per segment and row). Without such a
        // segment a tile is one row.
        @inline(__always) func striding(_ s: PartitionSegment) -> Bool {
            s.activation != .tanh && ShortRows<T>(s.width) != nil
        }
        let strided = layout.contains(where: striding)
        let tile = strided ? max(1, (8 << 10) / (n * MemoryLayout<T>.stride)) : 1
        withUnsafeTemporaryAllocation(of: (min: T, max: T).self, capacity: layout.count) { bounds in
            var from = range.lowerBound
            while from < range.upperBound {
                let tileRows = from ..< min(range.upperBound, from + tile)
                for r in tileRows {
                    let xr = x + r * n, yr = y + r * n, last = r + 1 == range.upperBound
                    var start = 0
                    for (g, s) in layout.enumerated() {
                        let xs = xr + start, ys = yr + start, width = s.width
                        start += width
                        if striding(s) { continue }  // (after the tile)
                        guard let kind = s.activation.normalizer else {
                            applyActivation(s.activation, xs, ys, width, streaming: streaming)
                            continue
                        }
                        // Elements readable from xs; the exp-sum reads `next` (n
                        // further on) up to `readable - width`, so with a next
                        // segment the claim is what that one allows, plus width.
                        let here = (rows - r) * n - (start - width)
                        let readable = last ? here : here - n + width
                        if r == range.lowerBound { bounds[g] = rowMinMax(xs, width, readable: here) }
                        bounds[g] = Normalizer<T>.row(kind, xs, ys, width, readable: readable, invT: 1,
                                                      bounds: bounds[g], next: last ? nil : xs + n,
                                                      streaming: streaming, scratch: scratch)
                    }
                }
                if strided {  // (also when a row is longer than a tile: one row)
                    var start = 0
                    for s in layout {
                        let xs = x + start, ys = y + start
                        start += s.width
                        guard striding(s), let short = ShortRows<T>(s.width) else { continue }
                        if let kind = s.activation.normalizer {
                            short.run(ShortNormalize(kind, xs, ys, invT: 1, rowStride: n), tileRows)
                        } else if s.activation == .sigmoid || UnsafePointer(ys) != xs {
                            short.run(ShortElementwise(s.activation, xs, ys, rowStride: n), tileRows)
                        }
                    }
                }
                from = tileRows.upperBound
            }
        }
    } }
}

/// One row, segment by segment.
@inlinable
func partitionedRow<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ layout: UnsafeBufferPointer<PartitionSegment>) {
    var start = 0
    for s in layout {
        applyActivation(s.activation, x + start, y + start, s.width)
        start += s.width
    }
}

/// Partitioned activations of an array viewed as `shape` over `axis`.
public func partitioned<T: KernelScalar>(
    _ x: [T], layout: [PartitionSegment], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    return try mapArray(x, shape: shape, axis: axis) { (xb, yb, e) throws(SoftmaxKitError) in
        try partitioned(xb, layout: layout, into: yb, extents: e)
    }
}

@usableFromInline
func checkLayout(_ layout: UnsafeBufferPointer<PartitionSegment>, n: Int) throws(SoftmaxKitError) {
    var total = 0
    for (k, s) in layout.enumerated() {
        guard s.width >= 0 else { throw .invalid("layout[\(k)] has negative width \(s.width)") }
        let (t, o) = total.addingReportingOverflow(s.width)
        guard !o else { throw .overflow("layout widths overflow 64 bits") }
        total = t
    }
    guard total == n else {
        throw .shape("layout widths sum to \(total) but the axis has length \(n)")
    }
}

/// `rows` short rows of `x` under `layout` into `y`, through one `ShortPlan`.
@inlinable
func shortPartitioned<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ layout: UnsafeBufferPointer<PartitionSegment>,
                                       rows: Int, _ short: ShortRows<T>) {
    let segments = ShortPlan.normalizedSegments(layout)
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ShortPlan.bytes(segments: segments, T.self)) { plan in
        ShortPlan.build(layout, segments: segments, into: plan.baseAddress!, T.self)
        let kernel = ShortPartition(x, y, plan: plan.baseAddress!, segments: segments, layout: layout)
        parallelFor(rows, work: rows * short.n) { r in short.run(kernel, r) }
    }
}

/// Runs a row kernel on every fibre (one input, one output): rows in
/// parallel when `inner == 1`, strided fibres gathered one at a time.
/// `body` may run on several threads at once, each on its own rows.
@usableFromInline
func forEachFibre<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ e: Extents,
    _ body: (UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void
) throws(SoftmaxKitError) {
    if e.inner == 1 {
        let n = e.n
        parallelFor(e.outer, work: e.count) { rows in
            for r in rows { body(x + r * n, y + r * n) }
        }
        return
    }
    let f = try Fibres<T>(e, slots: 2)
    defer { f.free() }
    for r in 0..<f.count {
        let yr = f.target(y, r, slot: 1)
        body(f.read(x, r, slot: 0), yr)
        f.commit(y, r, slot: 1)
    }
}

/// One activation over `n` contiguous elements (in place allowed). With
/// `streaming`, identity and sigmoid write `y` with non-temporal stores (the
/// caller fences).
@inlinable
func applyActivation<T: KernelScalar>(_ a: RowActivation, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int,
                                      streaming: Bool = false) {
    guard n > 0 else { return }
    switch a {
    case .identity:
        guard UnsafePointer(y) != x else { return }
        if streaming { rowStream(y, n, vector: { vload(x + $0) }, scalar: { x[$0] }) } else { y.update(from: x, count: n) }
    case .softmax, .logSoftmax:
        // As a one-row softmax call: a short segment from registers.
        Normalizer<T>.rows(a == .softmax ? .softmax : .logSoftmax, x, y, rows: 1, n: n, invT: 1)
    case .sigmoid:
        sigmoidKernel(x, y, n, streaming: streaming)
    case .tanh:
        for j in 0..<n { y[j] = T.libmTanh(x[j]) }
    }
}
