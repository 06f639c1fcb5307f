import SoftmaxKitSIMD

// MARK: Element-wise segments of short rows

/// Sigmoid or identity of a short segment of longer rows, `rowStride`
/// elements apart (partitioned layouts, beside `ShortNormalize`): nothing
/// past a segment is read or written. The sigmoid is `vsigmoid`'s formula
/// on the full-range exp, so the bits equal `sigmoidKernel`'s.
@usableFromInline
struct ShortElementwise<T: KernelScalar>: ShortRowKernel {
    /// `.sigmoid` or `.identity`.
    @usableFromInline let activation: RowActivation
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let y: UnsafeMutablePointer<T>
    @usableFromInline let rowStride: Int

    @inlinable
    init(_ activation: RowActivation, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, rowStride: Int) {
        self.activation = activation; self.x = x; self.y = y; self.rowStride = rowStride
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        s.load(x + r * rowStride, readable: s.n, fill: 0, C.self)
    }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ v: ShortRow<T>, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        activation == .sigmoid ? v.sigmoid(fromExp: v.negAbs().exp(C.self)) : v
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ out: ShortRow<T>, room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        s.store(out, y + r * rowStride, writable: s.n, C.self)
        return 0
    }
}

// MARK: Partitioned rows, segment softmax and hierarchical fine rows

/// Lane patterns of a partition layout for short rows: `n`-byte rows (zero
/// padded to `4w`) marking the normalized lanes (softmax and log-softmax),
/// the log-softmax lanes, the sigmoid lanes, then one row per normalized
/// segment, then one byte per normalized segment (1 = log-softmax).
@usableFromInline
struct ShortPlan {
    @usableFromInline static func stride<T: KernelScalar>(_: T.Type) -> Int { 4 * T.width }
    /// Rows of up to three vectors take plans; at four, the per-segment
    /// reductions over every slot cost more than the general per-segment
    /// kernels save (BENCHMARKS.md).
    @usableFromInline static var maxVectors: Int { 3 }
    /// Bytes of a plan with `segments` normalized segments.
    @usableFromInline static func bytes<T: KernelScalar>(segments: Int, _: T.Type) -> Int { (3 + segments) * stride(T.self) + segments }

    /// Writes the plan of `layout` (widths summing to the row length, at
    /// most `4w` lanes, with `segments` normalized segments) into `p`
    /// (`bytes(segments:)` of them): each row from a bit mask of its lanes.
    @usableFromInline
    static func build<T: KernelScalar>(_ layout: UnsafeBufferPointer<PartitionSegment>, segments: Int,
                                       into p: UnsafeMutablePointer<UInt8>, _: T.Type) {
        let w = stride(T.self)
        var normalized: UInt64 = 0, log: UInt64 = 0, sigmoid: UInt64 = 0
        var o = 0, g = 0
        for seg in layout {
            let start = o, width = seg.width
            o += width
            if width == 0 { continue }
            let lanes = (UInt64.max &>> (64 &- width)) &<< start  // (start + width <= 4w <= 64)
            switch seg.activation {
            case .softmax, .logSoftmax:
                let isLog = seg.activation == .logSoftmax
                normalized |= lanes
                if isLog { log |= lanes }
                smk_simd_bits_to_bytes(lanes, p + (3 + g) * w, Int64(w))
                p[(3 + segments) * w + g] = isLog ? 1 : 0
                g += 1
            case .sigmoid:
                sigmoid |= lanes
            case .identity, .tanh:
                break
            }
        }
        smk_simd_bits_to_bytes(normalized, p, Int64(w))
        smk_simd_bits_to_bytes(log, p + w, Int64(w))
        smk_simd_bits_to_bytes(sigmoid, p + 2 * w, Int64(w))
    }

    @usableFromInline static func normalizedSegments(_ layout: UnsafeBufferPointer<PartitionSegment>) -> Int {
        layout.reduce(0) { $0 + ($1.width > 0 && ($1.activation == .softmax || $1.activation == .logSoftmax) ? 1 : 0) }
    }
}

/// Partitioned activations of each row from a `ShortPlan`: one load, one
/// max per normalized segment, one exp for the whole row (softmax lanes take
/// `x - max`, sigmoid lanes `-|x|`, the rest 0), one sum per normalized
/// segment, one store; tanh segments are finished with libm afterwards.
/// With `weights` (hierarchical joint probabilities), segment `g` of row `r`
/// is also scaled by `weights[r * segments + g]`.
@usableFromInline
struct ShortPartition<T: KernelScalar>: ShortRowKernel {
    /// Also rows of two vectors four at a time (measured faster than two).
    @inlinable static func sideBySide(vectors: Int) -> Int { vectors <= 2 ? 4 : 2 }
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let y: UnsafeMutablePointer<T>
    @usableFromInline let plan: UnsafePointer<UInt8>
    @usableFromInline let segments: Int
    @usableFromInline let weights: UnsafePointer<T>?
    /// The layout when it has tanh segments (finished per row), else empty.
    @usableFromInline let tanhLayout: UnsafeBufferPointer<PartitionSegment>
    @usableFromInline let inPlace: Bool

    @inlinable
    init(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, plan: UnsafePointer<UInt8>, segments: Int,
         layout: UnsafeBufferPointer<PartitionSegment>, weights: UnsafePointer<T>? = nil) {
        self.x = x; self.y = y; self.plan = plan; self.segments = segments; self.weights = weights
        tanhLayout = layout.contains { $0.activation == .tanh && $0.width > 0 } ? layout : UnsafeBufferPointer(start: nil, count: 0)
        inPlace = UnsafePointer(y) == x
    }

    @inlinable @inline(__always)
    func pattern<C: StaticCount>(_ k: Int, _ s: ShortRows<T>, _: C.Type) -> ShortMask<T> {
        let w = ShortPlan.stride(T.self)
        return s.loadMask(plan + k * w, readable: w, C.self)
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        s.load(x + r * s.n, readable: room, fill: -.infinity, C.self)
    }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ v: ShortRow<T>, _ s: ShortRows<T>, _: C.Type) -> (ShortRow<T>, ShortExps<T>) {
        let zero = ShortRow<T>(repeating: 0), ninf = ShortRow<T>(repeating: -.infinity)
        var shift = zero
        if segments == 1 {
            // One normalized segment (the usual multi-head layout): straight
            // code, so the rows side by side stay one basic block.
            let k = pattern(0, s, C.self)
            let m = T.Vector(repeating: v.select(k, else: ninf).max(C.self))
            let z = (v - m).select(k, else: v.negAbs().select(pattern(2, s, C.self), else: zero))
            return (v, ShortExps(z: z, e: z.exp(C.self), sum: 0))
        }
        for g in 0 ..< segments {
            let k = pattern(3 + g, s, C.self)
            shift = ShortRow(repeating: v.select(k, else: ninf).max(C.self)).select(k, else: shift)
        }
        let z = (v - shift).select(pattern(0, s, C.self), else: v.negAbs().select(pattern(2, s, C.self), else: zero))
        let e = z.exp(C.self)
        return (v, ShortExps(z: z, e: e, sum: 0))
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ a: (ShortRow<T>, ShortExps<T>), room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        let (v, x) = a
        let zero = ShortRow<T>(repeating: 0)
        let logFlags = plan + (3 + segments) * ShortPlan.stride(T.self)
        let others = v.sigmoid(fromExp: x.e).select(pattern(2, s, C.self), else: v)
        let out: ShortRow<T>
        if segments == 1 && weights == nil {
            // One segment: its lanes are softmax or log-softmax, not both.
            let k = pattern(0, s, C.self)
            let total = s.sum(x.e.select(k, else: zero), C.self)
            let normalized = logFlags[0] != 0 ? x.z - T.Vector(repeating: T.libmLog(total))
                                              : x.e * T.Vector(repeating: 1 / total)
            out = normalized.select(k, else: others)
        } else {
            var f = zero
            for g in 0 ..< segments {
                let k = pattern(3 + g, s, C.self)
                let total = s.sum(x.e.select(k, else: zero), C.self)
                let scale = weights.map { $0[r * segments + g] } ?? 1
                f = ShortRow(repeating: logFlags[g] != 0 ? T.libmLog(total) : scale / total).select(k, else: f)
            }
            out = (x.z - f).select(pattern(1, s, C.self), else: (x.e * f).select(pattern(0, s, C.self), else: others))
        }
        let yr = y + r * s.n
        s.store(out, yr, writable: inPlace ? s.n : room, C.self)
        // tanh lanes were stored as x: finish them in place with libm.
        var o = 0
        for seg in tanhLayout {
            if seg.activation == .tanh { for j in o ..< o + seg.width { yr[j] = T.libmTanh(yr[j]) } }
            o += seg.width
        }
        return 0
    }
}

