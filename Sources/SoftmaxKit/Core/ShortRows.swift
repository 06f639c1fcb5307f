import SoftmaxKitSIMD

/// Short rows: contiguous rows of at most four vectors (64 floats, 32
/// doubles), the width of nearly every classifier head, held whole in
/// registers. A row costs one load per vector, one horizontal max, one exp
/// per vector, one horizontal sum and one store per vector; the general row
/// kernel (min/max pass, blocked exp-sum into a `Double`, scale pass, each
/// with its own tail handling) costs several times that on such rows, and
/// dominated every variant at 1x10 and 64x10 (BENCHMARKS.md).
///
/// Every short-row kernel (softmax and log-softmax, masked, partitioned and
/// segment, hierarchical, cross-entropy, fused softmax + top-k, and the model
/// heads through them) loads, reduces and stores through `ShortRows`.
///
/// Layout of a row of `n` elements over `C = ceil(n / w)` vectors (`w` lanes):
/// slots `0 ..< C-1` sit at offsets `0, w, 2w`; when `n > w` the last slot
/// ends at the row's end (offset `n - w`), overlapping the slot before it by
/// `overlap = C w - n` lanes, so every load and store of such a row stays
/// inside it (no partial copies, and in-place calls are safe). Overlapped
/// lanes hold the same elements and produce the same outputs as in the
/// earlier slot; only sums must skip them (`sum` does). A row of `n < w`
/// elements is one slot whose lanes past `n` hold a fill (`-inf` for
/// logits: they add nothing to a max or an exp-sum); it is loaded whole when
/// `readable` allows and stored whole when `writable` does (the spilled
/// lanes land in the next rows' slots, which the same loop writes after).
///
/// Sums are taken in `T` (at most 64 terms, added lane-wise then as a
/// halving tree: within a few ulp), exponentials with the full-range `vexp`
/// (which equals `vexpNormal` bit for bit wherever that applies), so a
/// row's result never depends on which rows share its call or thread.

/// A short-row kernel in three phases, so that the shared driver can run two
/// or four rows side by side: the rows are loaded, then reduced (pure vector
/// work through the sums, one basic block: their dependency chains
/// interleave), then finished in order (scalar calls such as `log`, outputs,
/// stores). Loading every row of a group before storing any also keeps a
/// spilling store from reaching a row of the group not yet read.
@usableFromInline protocol ShortRowKernel {
    associatedtype Scalar: KernelScalar
    associatedtype Input
    associatedtype Reduced
    /// Row `r`'s inputs; `room` elements from the row's start belong to this call's rows.
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<Scalar>, _: C.Type) -> Input
    func reduce<C: StaticCount>(_ input: Input, _ s: ShortRows<Scalar>, _: C.Type) -> Reduced
    /// Writes row `r`'s outputs; returns a value the driver sums in row order (a loss, or 0).
    func finish<C: StaticCount>(_ r: Int, _ row: Reduced, room: Int, _ s: ShortRows<Scalar>, _: C.Type) -> Double
    /// How many rows of `vectors` vectors the driver runs side by side: 2 or 4.
    static func sideBySide(vectors: Int) -> Int
}

extension ShortRowKernel {
    /// Rows of one vector four at a time: their chains are short next to the
    /// latencies of a max, an exp and a sum, so four in flight beat two for
    /// every kernel. Longer rows two (four of them lost for the partitioned
    /// and cross-entropy kernels).
    @inlinable static func sideBySide(vectors: Int) -> Int { vectors == 1 ? 4 : 2 }
}

/// The vectors of one short row. Arithmetic runs on all four slots: the
/// slots past a row's count are never stored or reduced, so the optimizer
/// drops their work. (No closures here: a closure taking a vector is
/// outlined, its vector split into pieces and its exp partly scalarised.)
@usableFromInline
struct ShortRow<T: KernelScalar> {
    @usableFromInline var v0, v1, v2, v3: T.Vector

    @_transparent @usableFromInline
    init(repeating s: T) {
        v0 = T.Vector(repeating: s); v1 = v0; v2 = v0; v3 = v0
    }

    @_transparent @usableFromInline
    init(_ v0: T.Vector, _ v1: T.Vector, _ v2: T.Vector, _ v3: T.Vector) {
        self.v0 = v0; self.v1 = v1; self.v2 = v2; self.v3 = v3
    }

    @_transparent @usableFromInline
    static func - (a: ShortRow, b: T.Vector) -> ShortRow { ShortRow(a.v0 - b, a.v1 - b, a.v2 - b, a.v3 - b) }
    @_transparent @usableFromInline
    static func * (a: ShortRow, b: T.Vector) -> ShortRow { ShortRow(a.v0 * b, a.v1 * b, a.v2 * b, a.v3 * b) }
    @_transparent @usableFromInline
    static func - (a: ShortRow, b: ShortRow) -> ShortRow { ShortRow(a.v0 - b.v0, a.v1 - b.v1, a.v2 - b.v2, a.v3 - b.v3) }
    @_transparent @usableFromInline
    static func * (a: ShortRow, b: ShortRow) -> ShortRow { ShortRow(a.v0 * b.v0, a.v1 * b.v1, a.v2 * b.v2, a.v3 * b.v3) }

    /// `e^x` of every lane of the used slots (`T.vexp`; unused slots keep
    /// their values, so no exp is spent on them even if this is not inlined).
    @_transparent @usableFromInline
    func exp<C: StaticCount>(_: C.Type) -> ShortRow {
        var r = self
        r.v0 = T.vexp(v0)
        if C.count > 1 { r.v1 = T.vexp(v1) }
        if C.count > 2 { r.v2 = T.vexp(v2) }
        if C.count > 3 { r.v3 = T.vexp(v3) }
        return r
    }

    /// `-|x|` of every lane.
    @_transparent @usableFromInline
    func negAbs() -> ShortRow { ShortRow(T.vnegAbs(v0), T.vnegAbs(v1), T.vnegAbs(v2), T.vnegAbs(v3)) }

    /// The sigmoid of `self` from `e = e^-|self|`.
    @_transparent @usableFromInline
    func sigmoid(fromExp e: ShortRow) -> ShortRow {
        ShortRow(T.vsigmoidFinish(v0, e.v0), T.vsigmoidFinish(v1, e.v1), T.vsigmoidFinish(v2, e.v2), T.vsigmoidFinish(v3, e.v3))
    }

    /// `self` where `mask` is nonzero, `b` elsewhere (a select: nothing of the
    /// unselected operand leaks).
    @_transparent @usableFromInline
    func select(_ mask: ShortMask<T>, else b: ShortRow) -> ShortRow {
        ShortRow(T.vselect(mask.m0, v0, b.v0), T.vselect(mask.m1, v1, b.v1),
                 T.vselect(mask.m2, v2, b.v2), T.vselect(mask.m3, v3, b.v3))
    }

    /// Largest lane (NaN lanes may be ignored: callers see NaN through the sum).
    @_transparent @usableFromInline
    func max<C: StaticCount>(_: C.Type) -> T {
        var m = v0
        if C.count > 1 { m = T.vmax(m, v1) }
        if C.count > 2 { m = T.vmax(m, v2) }
        if C.count > 3 { m = T.vmax(m, v3) }
        return T.hmax(m)
    }
}

/// The mask bytes of one short row, in the same slots as its values.
@usableFromInline
struct ShortMask<T: KernelScalar> {
    @usableFromInline var m0, m1, m2, m3: T.MaskVector

    @inlinable @inline(__always)
    init() { m0 = T.MaskVector(repeating: 0); m1 = m0; m2 = m0; m3 = m0 }

    /// Every lane selected (`all`) or none.
    @inlinable @inline(__always)
    init(all: Bool) { m0 = T.MaskVector(repeating: all ? 1 : 0); m1 = m0; m2 = m0; m3 = m0 }
}

/// The geometry of short rows of one length, and their loads, sums and stores.
@usableFromInline
struct ShortRows<T: KernelScalar> {
    /// Elements per row (1 ... 4w).
    @usableFromInline let n: Int
    /// Vectors per row (1 ... 4).
    @usableFromInline let vectors: Int
    /// Offset of the last slot: `n - w` when the row spans several vectors.
    @usableFromInline let lastOffset: Int
    /// Leading lanes of the last slot that the slot before already holds.
    @usableFromInline let overlap: Int

    /// Longest row taken: four vectors.
    @inlinable static var maxLength: Int { 4 * T.width }

    /// The geometry for rows of `n` elements; nil unless `1 <= n <= maxLength`.
    @inlinable
    init?(_ n: Int) {
        let w = T.width
        guard n > 0, n <= 4 * w else { return nil }
        self.n = n
        vectors = (n + w - 1) / w
        lastOffset = n > w ? n - w : 0
        overlap = n > w ? vectors * w - n : 0
    }

    /// Runs `kernel` over `rows` (two or four at a time) and returns the sum, in row
    /// order, of what its `finish` returns.
    @inlinable
    @discardableResult
    func run<K: ShortRowKernel>(_ kernel: K, _ rows: Range<Int>) -> Double where K.Scalar == T {
        switch vectors {
        case 1: return drive(kernel, rows, Count1.self)
        case 2: return drive(kernel, rows, Count2.self)
        case 3: return drive(kernel, rows, Count3.self)
        default: return drive(kernel, rows, Count4.self)
        }
    }

    @inlinable
    func drive<K: ShortRowKernel, C: StaticCount>(_ k: K, _ rows: Range<Int>, _: C.Type) -> Double where K.Scalar == T {
        let end = rows.upperBound
        var r = rows.lowerBound, total = 0.0
        if K.sideBySide(vectors: C.count) == 4 {
            while r + 4 <= end {
                let room = (end - r) * n
                let ia = k.load(r, room: room, self, C.self), ib = k.load(r + 1, room: room - n, self, C.self)
                let ic = k.load(r + 2, room: room - 2 * n, self, C.self), id = k.load(r + 3, room: room - 3 * n, self, C.self)
                let a = k.reduce(ia, self, C.self), b = k.reduce(ib, self, C.self)
                let c = k.reduce(ic, self, C.self), d = k.reduce(id, self, C.self)
                total += k.finish(r, a, room: room, self, C.self)
                total += k.finish(r + 1, b, room: room - n, self, C.self)
                total += k.finish(r + 2, c, room: room - 2 * n, self, C.self)
                total += k.finish(r + 3, d, room: room - 3 * n, self, C.self)
                r += 4
            }
        }
        while r + 2 <= end {
            let room = (end - r) * n
            let ia = k.load(r, room: room, self, C.self), ib = k.load(r + 1, room: room - n, self, C.self)
            let a = k.reduce(ia, self, C.self), b = k.reduce(ib, self, C.self)
            total += k.finish(r, a, room: room, self, C.self)
            total += k.finish(r + 1, b, room: room - n, self, C.self)
            r += 2
        }
        if r < end {
            let a = k.reduce(k.load(r, room: n, self, C.self), self, C.self)
            total += k.finish(r, a, room: n, self, C.self)
        }
        return total
    }

    /// One row from `x`; `readable >= n` elements may be read there (a whole
    /// vector of a row shorter than one is then loaded without a copy).
    /// Lanes past `n` of a one-slot row hold `fill`.
    @inlinable @inline(__always)
    func load<C: StaticCount>(_ x: UnsafePointer<T>, readable: Int, fill: T, _: C.Type) -> ShortRow<T> {
        let w = T.width
        var r = ShortRow<T>(repeating: fill)
        if C.count == 1 {
            r.v0 = n == w ? vload(x) : vloadTail(x, n, readable: readable, fill: fill)
            return r
        }
        r.v0 = vload(x)
        if C.count == 2 { r.v1 = vload(x + lastOffset) }
        if C.count == 3 { r.v1 = vload(x + w); r.v2 = vload(x + lastOffset) }
        if C.count == 4 { r.v1 = vload(x + w); r.v2 = vload(x + 2 * w); r.v3 = vload(x + lastOffset) }
        return r
    }

    /// One row of mask bytes from `m` (`readable` as for `load`). Lanes past
    /// `n` of a one-slot row may hold any byte: the values there are `-inf`
    /// fills, which add nothing whether selected or not.
    @inlinable @inline(__always)
    func loadMask<C: StaticCount>(_ m: UnsafePointer<UInt8>, readable: Int, _: C.Type) -> ShortMask<T> {
        let w = T.width
        var r = ShortMask<T>()
        if C.count == 1 {
            r.m0 = n == w || readable >= w ? mload(m, T.self) : mloadPartial(m, n, T.self)
            return r
        }
        r.m0 = mload(m, T.self)
        if C.count == 2 { r.m1 = mload(m + lastOffset, T.self) }
        if C.count == 3 { r.m1 = mload(m + w, T.self); r.m2 = mload(m + lastOffset, T.self) }
        if C.count == 4 { r.m1 = mload(m + w, T.self); r.m2 = mload(m + 2 * w, T.self); r.m3 = mload(m + lastOffset, T.self) }
        return r
    }

    /// Stores a row at `y`; `writable >= n` elements may be written there
    /// (pass `n` when nothing past the row may be touched, e.g. in place,
    /// where the next row is still to be read).
    @inlinable @inline(__always)
    func store<C: StaticCount>(_ r: ShortRow<T>, _ y: UnsafeMutablePointer<T>, writable: Int, _: C.Type) {
        let w = T.width
        if C.count == 1 {
            if n == w || writable >= w { vstore(r.v0, y) } else { vstorePartial(r.v0, y, n) }
            return
        }
        vstore(r.v0, y)
        if C.count == 2 { vstore(r.v1, y + lastOffset) }
        if C.count == 3 { vstore(r.v1, y + w); vstore(r.v2, y + lastOffset) }
        if C.count == 4 { vstore(r.v1, y + w); vstore(r.v2, y + 2 * w); vstore(r.v3, y + lastOffset) }
    }

    /// Sum of the row's elements (overlapped lanes counted once; fill lanes
    /// must hold 0 or come from a `-inf` fill through an exp).
    @inlinable @inline(__always)
    func sum<C: StaticCount>(_ r: ShortRow<T>, _: C.Type) -> T {
        if C.count == 1 { return T.hsum(r.v0) }
        var s = r.v0
        if C.count == 2 { s += T.vdropFirst(r.v1, overlap, fill: 0) }
        if C.count == 3 { s += r.v1; s += T.vdropFirst(r.v2, overlap, fill: 0) }
        if C.count == 4 { s += r.v1; s += r.v2; s += T.vdropFirst(r.v3, overlap, fill: 0) }
        return T.hsum(s)
    }

    /// `r` with the lanes past the row (those of a one-slot row shorter than
    /// a vector) set to `fill`. Exponents of those lanes must be replaced
    /// before the exp: `e^(-inf - max)` makes `vexp` compute a subnormal
    /// intermediate, and every such lane costs a microcode assist (measured:
    /// half the time of a 10-element row).
    @inlinable @inline(__always)
    func keepRow<C: StaticCount>(_ r: ShortRow<T>, fill: T, _: C.Type) -> ShortRow<T> {
        guard C.count == 1, n < T.width else { return r }
        var k = r
        k.v0 = T.vkeepFirst(r.v0, n, fill: fill)
        return k
    }

    /// Writes the row's `n` elements to `out[0 ..< n]` (`out` holds `maxLength`).
    @inlinable @inline(__always)
    func spill<C: StaticCount>(_ r: ShortRow<T>, _ out: UnsafeMutablePointer<T>, _: C.Type) {
        store(r, out, writable: Self.maxLength, C.self)
    }

    /// The offset of slot `k`'s lane 0.
    @inlinable @inline(__always)
    func offset<C: StaticCount>(_ k: Int, _: C.Type) -> Int {
        k == C.count - 1 ? lastOffset : k * T.width
    }
}

/// A row's exponents `z = (x - max) / T`, exponentials `e = e^z`, their sum and the max.
@usableFromInline
struct ShortExps<T: KernelScalar> {
    @usableFromInline var z: ShortRow<T>
    @usableFromInline var e: ShortRow<T>
    @usableFromInline var sum: T
    @usableFromInline var max: T
    @inlinable @inline(__always)
    init(z: ShortRow<T>, e: ShortRow<T>, sum: T, max: T = 0) { self.z = z; self.e = e; self.sum = sum; self.max = max }
}

extension ShortRows {
    /// The softmax reduction of a loaded row (fill `-inf`): max, exponents,
    /// exponentials and sum. Lanes past the row get exponent 0 and
    /// exponential 0. A NaN makes the sum NaN; an all `-inf` row gives NaN
    /// exponents (0/0, as docs/DESIGN.md asks).
    @inlinable @inline(__always)
    func exps<C: StaticCount>(_ v: ShortRow<T>, invT: T, _: C.Type) -> ShortExps<T> {
        let m = v.max(C.self)
        let z = keepRow((v - T.Vector(repeating: m)) * T.Vector(repeating: invT), fill: 0, C.self)
        let e = keepRow(z.exp(C.self), fill: 0, C.self)
        return ShortExps(z: z, e: e, sum: sum(e, C.self), max: m)
    }
}

