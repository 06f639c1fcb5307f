/// Reductions over `n` when `inner > 1`: the fibres run down columns of an
/// `n x inner` block, so vectors run along the contiguous `inner` extent (the
/// layout PyTorch's CPU softmax once ran scalar on, pytorch#34728). Columns
/// are taken four vectors at a time with their maxima, minima and sums in
/// registers; each block of `n x 4w` elements is read three times while it
/// sits in cache. No scratch memory, so these never fail.

/// What a row or column driver computes over `n`: softmax, log-softmax, or
/// logsumexp (one value a fibre; the column driver's alone, rows have
/// `Normalizer.logSumExp`).
@usableFromInline
enum NormalizerKind { case softmax, logSoftmax, logSumExp }

@usableFromInline
enum Columns<T: KernelScalar> {
    /// Runs `op` over outer blocks `blocks` of a tensor of extents `e`.
    /// `logSumExp` writes `y[o * inner + i]`; the others write `y` like `x`.
    @inlinable
    static func run(_ op: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ e: Extents, _ blocks: Range<Int>, invT: T) {
        run(op, x, y, e, blocks, invT: invT, EveryLane())
    }

    /// As `run`, over the elements `sel` selects (masked softmax and
    /// log-softmax): the others add nothing and come out 0 (log: `-inf`),
    /// as does every element of a column with none selected.
    @inlinable
    static func run<S: ColumnSelection>(_ op: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                        _ e: Extents, _ blocks: Range<Int>, invT: T, _ sel: S) {
        let inner = e.inner, n = e.n, w = T.width
        for o in blocks {
            let base = o * n * inner
            let yBase = op == .logSumExp ? o * inner : base
            var c = 0
            // Two four-vector blocks side by side take their maxima and
            // minima in one pass, so that it reads whole 8w-lane stretches
            // of each row: reading half of every 512-byte row ran slower per
            // element than reading whole 256-byte rows.
            while c + 8 * w <= inner {
                let a = sel.block(at: base + c), b = sel.block(at: base + c + 4 * w)
                let (ba, bb) = boundsPair(x + base + c, n, inner, a, b)
                block(op, x + base + c, y + yBase + c, n, inner, lanes: 4 * w, readable: e.count - base - c, invT: invT,
                      a, bounds: ba, Count4.self)
                block(op, x + base + c + 4 * w, y + yBase + c + 4 * w, n, inner, lanes: 4 * w,
                      readable: e.count - base - c - 4 * w, invT: invT, b, bounds: bb, Count4.self)
                c += 8 * w
            }
            while c + 4 * w <= inner {
                let a = sel.block(at: base + c), readable = e.count - base - c
                block(op, x + base + c, y + yBase + c, n, inner, lanes: 4 * w, readable: readable, invT: invT, a,
                      bounds: bounds(x + base + c, n, inner, lanes: 4 * w, readable: readable, a, Count4.self),
                      Count4.self)
                c += 4 * w
            }
            while c < inner {
                let lanes = min(w, inner - c), a = sel.block(at: base + c), readable = e.count - base - c
                if lanes == w {
                    block(op, x + base + c, y + yBase + c, n, inner, lanes: w, readable: readable, invT: invT, a,
                          bounds: bounds(x + base + c, n, inner, lanes: w, readable: readable, a, Count1.self),
                          Count1.self)
                } else {
                    block(op, x + base + c, y + yBase + c, n, inner, lanes: lanes, readable: readable, invT: invT, a,
                          bounds: bounds(x + base + c, n, inner, lanes: lanes, readable: readable, a, Count0.self),
                          Count0.self)
                }
                c += w
            }
        }
    }

    /// Pass 1 of a block of `lanes` columns (4w, or 1...w): column maxima
    /// and minima of the selected elements. The four vector slots are
    /// written out so they stay in registers; slots past `lanes` are unused.
    @inlinable
    static func bounds<S: ColumnSelection, K: StaticCount>(
        _ x: UnsafePointer<T>, _ n: Int, _ inner: Int, lanes: Int, readable: Int, _ sel: S, _: K.Type
    ) -> ColumnBounds<T> {
        let w = T.width
        let lanes = K.count > 0 ? K.count * w : lanes  // a constant for whole vectors
        let wide = lanes == 4 * w
        let first = wide ? w : lanes  // lanes of slot 0
        var b = ColumnBounds<T>()
        for j in 0..<n where sel.takes(row: j) {
            let p = x + j * inner, at = j * inner
            let a = lanes == w || wide ? vload(p) : vloadTail(p, lanes, readable: readable - at, fill: -.infinity)
            b.m0 = T.vmax(b.m0, sel.pick(row: j, a, at: at, lanes: first, else: -T.infinity))
            b.l0 = T.vmin(b.l0, T.vkeepFirst(sel.pick(row: j, a, at: at, lanes: first, else: T.infinity), lanes, fill: .infinity))
            if wide { b.addWide(j, vload(p + w), vload(p + 2 * w), vload(p + 3 * w), at: at, sel) }
        }
        return b
    }

    /// Pass 1 of two four-vector blocks side by side (at `x` and `x + 4w`).
    @inlinable
    static func boundsPair<S: ColumnSelection>(_ x: UnsafePointer<T>, _ n: Int, _ inner: Int, _ sa: S, _ sb: S)
        -> (ColumnBounds<T>, ColumnBounds<T>) {
        let w = T.width
        var a = ColumnBounds<T>(), b = ColumnBounds<T>()
        for j in 0..<n where sa.takes(row: j) {  // (a row pattern is the same for both)
            let p = x + j * inner, at = j * inner
            a.addFirst(j, vload(p), at: at, sa)
            a.addWide(j, vload(p + w), vload(p + 2 * w), vload(p + 3 * w), at: at, sa)
            b.addFirst(j, vload(p + 4 * w), at: at, sb)
            b.addWide(j, vload(p + 5 * w), vload(p + 6 * w), vload(p + 7 * w), at: at, sb)
        }
        return (a, b)
    }

    /// Passes 2 and 3 of one block of `lanes` columns (4w, or 1...w) given
    /// its pass-1 `bounds`.
    @inlinable
    static func block<S: ColumnSelection, K: StaticCount>(
        _ op: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
        _ n: Int, _ inner: Int, lanes: Int, readable: Int, invT: T, _ sel: S, bounds: ColumnBounds<T>, _: K.Type
    ) {
        let w = T.width
        let lanes = K.count > 0 ? K.count * w : lanes  // a constant for whole vectors
        let wide = lanes == 4 * w
        let (m0, m1, m2, m3) = (bounds.m0, bounds.m1, bounds.m2, bounds.m3)
        let (l0, l1, l2, l3) = (bounds.l0, bounds.l1, bounds.l2, bounds.l3)
        // The cheaper exp is safe when every exponent (x - max) / T stays normal.
        // A column of only -inf gives a NaN spread; vmin ignores NaN only in its
        // second operand, so fold every spread into a NaN-free accumulator
        // (a NaN first operand would hide a smaller spread in the reduction).
        var low = T.vmin(T.Vector(repeating: .infinity), T.vkeepFirst((l0 - m0) * invT, lanes, fill: 0))
        if wide {
            low = T.vmin(low, (l1 - m1) * invT)
            low = T.vmin(low, (l2 - m2) * invT)
            low = T.vmin(low, (l3 - m3) * invT)
        }
        let spread = T.hmin(low)
        if spread >= -T.expNormalLimit {
            sums(op, x, y, n, inner, lanes: lanes, readable: readable, invT: invT, max: (m0, m1, m2, m3), NormalExp.self, sel, K.self)
        } else {
            sums(op, x, y, n, inner, lanes: lanes, readable: readable, invT: invT, max: (m0, m1, m2, m3), AnyExp.self, sel, K.self)
        }
    }

    /// Passes 2 and 3: exponentials and their sums (flushed into doubles every
    /// 256 rows for float32 accuracy), then the scaled or shifted outputs.
    /// Unselected elements get exponent 0 before the exp (whatever they
    /// hold never reaches it) and exponential 0 after.
    @inlinable
    static func sums<E: ExpKind, S: ColumnSelection, K: StaticCount>(
        _ op: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
        _ n: Int, _ inner: Int, lanes: Int, readable: Int, invT: T,
        max m: (T.Vector, T.Vector, T.Vector, T.Vector), _: E.Type, _ sel: S, _: K.Type
    ) {
        let w = T.width
        let lanes = K.count > 0 ? K.count * w : lanes  // a constant for whole vectors
        let wide = lanes == 4 * w
        let first = wide ? w : lanes  // lanes of slot 0
        let scale = T.Vector(repeating: invT)
        // (x - max) / T, subtracting first (the fused x/T - max/T loses
        // |max|/T * eps and overflows for huge logits). A column whose max is
        // infinite (or all NaN) gets NaN sums: right for softmax, and
        // logsumexp settles such columns from the max alone.
        let sh0 = m.0, sh1 = m.1, sh2 = m.2, sh3 = m.3
        var a0 = T.Vector(repeating: 0), a1 = a0, a2 = a0, a3 = a0
        var totals = (SIMDDouble(), SIMDDouble(), SIMDDouble(), SIMDDouble())
        @inline(__always) func flush() {
            totals.0.add(a0); totals.1.add(a1); totals.2.add(a2); totals.3.add(a3)
            a0 = T.Vector(repeating: 0); a1 = a0; a2 = a0; a3 = a0
        }
        // The exponent (x - max) / T (0 where unselected), and its exponential (0 there).
        @inline(__always) func exponent(_ j: Int, _ v: T.Vector, _ shift: T.Vector, at: Int, lanes: Int) -> T.Vector {
            sel.pick(row: j, (v - shift) * scale, at: at, lanes: lanes, else: T(0))
        }
        @inline(__always) func exp(_ j: Int, _ z: T.Vector, at: Int, lanes: Int) -> T.Vector {
            sel.pick(row: j, E.exp(z, T.self), at: at, lanes: lanes, else: T(0))
        }
        // Every row, selected or not (a row test here made LLVM split the
        // exp into 128-bit pieces): unselected elements give exponential 0.
        // Softmax keeps the exponentials in y, log-softmax the exponents:
        // either way y's lines are written while the exps keep the core busy
        // (log-softmax writing y only in pass 3 waited on each line).
        for j in 0..<n {
            let p = x + j * inner, q = y + j * inner, at = j * inner
            let xa = lanes == w || wide ? vload(p) : vloadTail(p, lanes, readable: readable - j * inner, fill: 0)
            let z0 = exponent(j, xa, sh0, at: at, lanes: first)
            let e0 = T.vkeepFirst(exp(j, z0, at: at, lanes: first), lanes, fill: 0)
            a0 += e0
            if wide {
                let z1 = exponent(j, vload(p + w), sh1, at: at + w, lanes: w)
                let z2 = exponent(j, vload(p + 2 * w), sh2, at: at + 2 * w, lanes: w)
                let z3 = exponent(j, vload(p + 3 * w), sh3, at: at + 3 * w, lanes: w)
                let e1 = exp(j, z1, at: at + w, lanes: w)
                let e2 = exp(j, z2, at: at + 2 * w, lanes: w)
                let e3 = exp(j, z3, at: at + 3 * w, lanes: w)
                a1 += e1; a2 += e2; a3 += e3
                if op == .softmax { vstore(e0, q); vstore(e1, q + w); vstore(e2, q + 2 * w); vstore(e3, q + 3 * w) }
                if op == .logSoftmax { vstore(z0, q); vstore(z1, q + w); vstore(z2, q + 2 * w); vstore(z3, q + 3 * w) }
            } else if op == .softmax {
                if lanes == w { vstore(e0, q) } else { vstorePartial(e0, q, lanes) }
            } else if op == .logSoftmax {
                if lanes == w { vstore(z0, q) } else { vstorePartial(z0, q, lanes) }
            }
            if j & 255 == 255 { flush() }
        }
        flush()
        switch op {
        case .softmax:
            let f0 = totals.0.reciprocal(T.self), f1 = totals.1.reciprocal(T.self)
            let f2 = totals.2.reciprocal(T.self), f3 = totals.3.reciprocal(T.self)
            // An unselected element holds 0 from pass 2, but a column with
            // none selected has 1/0 factors: the selection writes its 0s.
            @inline(__always) func scaled(_ j: Int, _ q: UnsafeMutablePointer<T>, _ f: T.Vector, at: Int, lanes: Int) -> T.Vector {
                sel.pick(row: j, vload(UnsafePointer(q)) * f, at: at, lanes: lanes, else: T(0))
            }
            for j in 0..<n where sel.takes(row: j) {  // other rows hold 0 from pass 2
                let q = y + j * inner, at = j * inner
                if wide {
                    vstore(scaled(j, q, f0, at: at, lanes: w), q); vstore(scaled(j, q + w, f1, at: at + w, lanes: w), q + w)
                    vstore(scaled(j, q + 2 * w, f2, at: at + 2 * w, lanes: w), q + 2 * w)
                    vstore(scaled(j, q + 3 * w, f3, at: at + 3 * w, lanes: w), q + 3 * w)
                } else if lanes == w {
                    vstore(scaled(j, q, f0, at: at, lanes: w), q)
                } else {
                    let v = vloadPartial(UnsafePointer(q), lanes, fill: 0) * f0
                    vstorePartial(sel.pick(row: j, v, at: at, lanes: lanes, else: T(0)), q, lanes)
                }
            }
        case .logSoftmax:
            let g0 = totals.0.log(T.self), g1 = totals.1.log(T.self)
            let g2 = totals.2.log(T.self), g3 = totals.3.log(T.self)
            // y holds the exponents (x - max) / T from pass 2.
            @inline(__always) func shifted(_ j: Int, _ q: UnsafeMutablePointer<T>, _ g: T.Vector, at: Int, lanes: Int) -> T.Vector {
                sel.pick(row: j, vload(UnsafePointer(q)) - g, at: at, lanes: lanes, else: -T.infinity)
            }
            for j in 0..<n {
                let q = y + j * inner, at = j * inner
                if wide {
                    vstore(shifted(j, q, g0, at: at, lanes: w), q); vstore(shifted(j, q + w, g1, at: at + w, lanes: w), q + w)
                    vstore(shifted(j, q + 2 * w, g2, at: at + 2 * w, lanes: w), q + 2 * w)
                    vstore(shifted(j, q + 3 * w, g3, at: at + 3 * w, lanes: w), q + 3 * w)
                } else {
                    // Lanes past `lanes` compute on a fill and are not stored.
                    let z = lanes == w ? vload(UnsafePointer(q)) : vloadPartial(UnsafePointer(q), lanes, fill: 0)
                    let out = sel.pick(row: j, z - g0, at: at, lanes: lanes, else: -T.infinity)
                    if lanes == w { vstore(out, q) } else { vstorePartial(out, q, lanes) }
                }
            }
        case .logSumExp:
            let vs = [m.0, m.1, m.2, m.3], gs = [totals.0, totals.1, totals.2, totals.3]
            for k in 0..<lanes {
                let mk = vs[k / w][k % w]
                y[k] = Normalizer<T>.finishLogSumExp(mk, gs[k / w].lanes[k % w]) {
                    (0..<n).contains { x[$0 * inner + k].isNaN }
                }
            }
        }
    }
}

/// Column maxima (`m`) and minima (`l`) of a block's four vector slots.
@usableFromInline
struct ColumnBounds<T: KernelScalar> {
    @usableFromInline var m0, m1, m2, m3, l0, l1, l2, l3: T.Vector

    @inlinable @inline(__always)
    init() {
        m0 = T.Vector(repeating: -.infinity); m1 = m0; m2 = m0; m3 = m0
        l0 = T.Vector(repeating: .infinity); l1 = l0; l2 = l0; l3 = l0
    }

    /// Takes in slot 0 of row `j` (at element `at` of a four-vector block).
    @inlinable @inline(__always)
    mutating func addFirst<S: ColumnSelection>(_ j: Int, _ a: T.Vector, at: Int, _ sel: S) {
        m0 = T.vmax(m0, sel.pick(row: j, a, at: at, lanes: T.width, else: -T.infinity))
        l0 = T.vmin(l0, sel.pick(row: j, a, at: at, lanes: T.width, else: T.infinity))
    }

    /// Takes in slots 1 to 3 of row `j` (at element `at` of the block).
    @inlinable @inline(__always)
    mutating func addWide<S: ColumnSelection>(_ j: Int, _ b: T.Vector, _ c: T.Vector, _ d: T.Vector, at: Int, _ sel: S) {
        let w = T.width
        m1 = T.vmax(m1, sel.pick(row: j, b, at: at + w, lanes: w, else: -T.infinity))
        m2 = T.vmax(m2, sel.pick(row: j, c, at: at + 2 * w, lanes: w, else: -T.infinity))
        m3 = T.vmax(m3, sel.pick(row: j, d, at: at + 3 * w, lanes: w, else: -T.infinity))
        l1 = T.vmin(l1, sel.pick(row: j, b, at: at + w, lanes: w, else: T.infinity))
        l2 = T.vmin(l2, sel.pick(row: j, c, at: at + 2 * w, lanes: w, else: T.infinity))
        l3 = T.vmin(l3, sel.pick(row: j, d, at: at + 3 * w, lanes: w, else: T.infinity))
    }
}

/// Per-lane double accumulators for up to 16 lanes (a vector of either type).
@usableFromInline
struct SIMDDouble {
    @usableFromInline var lanes = SIMD16<Double>(repeating: 0)

    @inlinable init() {}

    @inlinable @inline(__always)
    mutating func add<V: SIMD>(_ v: V) where V.Scalar: BinaryFloatingPoint {
        for k in 0..<V.scalarCount { lanes[k] += Double(v[k]) }
    }

    /// `1 / sum` per lane, as a vector of `T`.
    @inlinable @inline(__always)
    func reciprocal<T: KernelScalar>(_: T.Type) -> T.Vector {
        var r = T.Vector(repeating: 0)
        for k in 0..<T.Vector.scalarCount { r[k] = T(1 / lanes[k]) }
        return r
    }

    /// `log(sum)` per lane, as a vector of `T`.
    @inlinable @inline(__always)
    func log<T: KernelScalar>(_: T.Type) -> T.Vector {
        var r = T.Vector(repeating: 0)
        for k in 0..<T.Vector.scalarCount { r[k] = T(T.libmLog(T(lanes[k]))) }
        return r
    }
}

/// Which elements of a column block take part (masked softmax and
/// log-softmax over a middle axis). A type parameter, so that the unmasked
/// kernels compile exactly as without it.
@usableFromInline
protocol ColumnSelection {
    /// The selection of the block whose first element is `x[offset]`.
    func block(at offset: Int) -> Self
    /// Whether row `j` of the block takes part at all.
    func takes(row j: Int) -> Bool
    /// `v`, the vector at element `at` of the block (in row `j`; `lanes` of
    /// it in use), where selected, else `fill`.
    func pick<T: KernelScalar>(row j: Int, _ v: T.Vector, at: Int, lanes: Int, else fill: T) -> T.Vector
}

/// Every element (softmax, log-softmax, logsumexp).
@usableFromInline
struct EveryLane: ColumnSelection {
    @inlinable init() {}
    @inlinable @inline(__always) func block(at offset: Int) -> EveryLane { self }
    @inlinable @inline(__always) func takes(row j: Int) -> Bool { true }
    @inlinable @inline(__always)
    func pick<T: KernelScalar>(row j: Int, _ v: T.Vector, at: Int, lanes: Int, else fill: T) -> T.Vector { v }
}

