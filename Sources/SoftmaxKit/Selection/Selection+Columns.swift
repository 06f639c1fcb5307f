import SoftmaxKitSIMD

/// Top-k and the fused softmax + top-k over a middle axis (`inner > 1`),
/// down the columns of each `n x inner` block a vector of columns at a time
/// (as `Columns` does for softmax): no fibre is gathered or transposed.
///
/// Pass 1 takes each column's maxima over `2k` groups of rows; the k-th
/// largest of them is a floor with at least k elements at or above it (about
/// k + 2 on random columns). Pass 2 marks the rows that reach the floor in
/// some lane (a compare and a store per row); their list, made branch-free,
/// is then offered to k sorted slots per lane, in selection's order: NaN
/// first, then larger, ties to the lower row. The fused kernel also sums
/// `exp((x - max) / T)` in pass 2, the max being the first group maximum.
/// (Offering every row to the slots made "some lane of 16 enters" true for
/// about half the rows, each a mispredicted branch and an insertion.)

/// The largest `k` the column kernels take (their slots and the group maxima
/// sit in a small scratch; larger `k` gather fibres).
@usableFromInline let columnTopKLimit = 16

/// Whether the column kernels take a top-k of `k` over a middle axis of
/// length `n` (row indices are held exactly in `T`).
@inlinable
func columnTopKApplies<T: KernelScalar>(_: T.Type, k: Int, n: Int, inner: Int) -> Bool {
    inner > 1 && k > 0 && k <= columnTopKLimit && n <= (T.self == Float.self ? 1 << 24 : 1 << 52)
}

/// Top-k over the `n` extent of extents `e` (`columnTopKApplies`): outer
/// blocks in parallel, a vector of columns at a time. With `invT`, the fused
/// softmax + top-k (probabilities, not logits, into `values`).
@inlinable
func columnTopK<T: KernelScalar>(_ x: UnsafePointer<T>, _ e: Extents, _ k: Int, _ values: UnsafeMutablePointer<T>,
                                 _ indices: UnsafeMutablePointer<Int>, softmax invT: T?) {
    let n = e.n, inner = e.inner, w = T.width
    parallelFor(e.outer, work: e.count) { blocks in
        // The rows' marks and their list (without them, rows are offered
        // one by one: slower, same result, so a failed allocation is no error).
        let marked = rawAllocate(UInt16.self, n), listed = rawAllocate(Int32.self, n + 16)
        defer { rawFree(marked); rawFree(listed) }
        let marks = marked.flatMap { m in listed.map { (m, $0) } }
        // The slots (values, indices) and the floor's slots: 4k vectors.
        withUnsafeTemporaryAllocation(of: T.Vector.self, capacity: 4 * columnTopKLimit) { buffer in
            let slots = buffer.baseAddress!
            for o in blocks {
                var c = 0
                while c < inner {
                    let lanes = min(w, inner - c), at = o * n * inner + c
                    let block = ColumnBlock(x: x + at, n: n, inner: inner, lanes: lanes, readable: e.count - at)
                    let vb = values + o * k * inner + c, ib = indices + o * k * inner + c
                    let (m, low, floor) = block.floorAndBounds(k, slots)
                    if let invT {
                        let f = block.select(k, slots, floor: floor, max: m, low: low, invT: invT, marks: marks)
                        let vs = T.Vector(repeating: invT)
                        block.store(k, slots, vb, ib) { T.vexp(($0 - m) * vs) * f }
                    } else {
                        _ = block.select(k, slots, floor: floor, max: m, low: low, invT: nil, marks: marks)
                        block.store(k, slots, vb, ib) { $0 }
                    }
                    c += w
                }
            }
        }
    }
}

/// One vector of columns (`lanes <= width` of them) of an `n x inner` block.
@usableFromInline
struct ColumnBlock<T: KernelScalar> {
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let n: Int
    @usableFromInline let inner: Int
    @usableFromInline let lanes: Int
    /// Elements readable from `x`.
    @usableFromInline let readable: Int

    @inlinable
    init(x: UnsafePointer<T>, n: Int, inner: Int, lanes: Int, readable: Int) {
        self.x = x; self.n = n; self.inner = inner; self.lanes = lanes; self.readable = readable
    }

    /// Row `j` (lanes past `lanes`: -inf).
    @inlinable @inline(__always)
    func row(_ j: Int) -> T.Vector {
        lanes == T.width ? vload(x + j * inner) : vloadTail(x + j * inner, lanes, readable: readable - j * inner, fill: -.infinity)
    }

    /// Empties `k` slots at `slots` (values, then indices): index -1.
    @inlinable @inline(__always)
    func empty(_ k: Int, _ slots: UnsafeMutablePointer<T.Vector>) {
        slots.update(repeating: T.Vector(repeating: -.infinity), count: k)
        (slots + k).update(repeating: T.Vector(repeating: -1), count: k)
    }

    /// Pass 1: the columns' maxima over `2k` groups of rows, the k largest
    /// kept in `slots[2k ..< 4k]`. Returns the columns' max and min (NaN
    /// ignored) and the floor: the k-th largest group maximum (+inf past
    /// `lanes`, so that those lanes are never offered).
    @inlinable
    func floorAndBounds(_ k: Int, _ slots: UnsafeMutablePointer<T.Vector>) -> (max: T.Vector, low: T.Vector, floor: T.Vector) {
        let groups = 2 * k, per = (n + groups - 1) / groups
        let fs = slots + 2 * k
        empty(k, fs)
        var low = T.Vector(repeating: .infinity)
        var j = 0, g = 0
        while j < n {
            let end = min(n, j + per)
            var m0 = T.Vector(repeating: -.infinity), m1 = m0
            while j + 2 <= end {
                let a = row(j), b = row(j + 1)
                m0 = T.vmax(m0, a); m1 = T.vmax(m1, b)
                low = T.vmin(low, T.vmin(a, b))
                j += 2
            }
            if j < end { let a = row(j); m0 = T.vmax(m0, a); low = T.vmin(low, a); j += 1 }
            T.slotsOffer(UnsafeMutableRawPointer(fs), UnsafeMutableRawPointer(fs + k), k: k, T.vmax(m0, m1),
                         T.Vector(repeating: T(g)), floor: T.Vector(repeating: -.infinity))
            g += 1
        }
        // (n < 2k leaves groups empty; n >= k groups still fill the k slots.)
        return (fs[0], low, T.vkeepFirst(fs[k - 1], lanes, fill: .infinity))
    }

    /// Pass 2: the k first of each column, from the rows at or above `floor`
    /// (NaN included), into `slots[0 ..< 2k]`; with `invT`, also returns
    /// `1 / sum exp((x - max) / T)` per column (sums in doubles, flushed
    /// every 256 rows, as `Columns`'s), else junk.
    @inlinable
    func select(_ k: Int, _ slots: UnsafeMutablePointer<T.Vector>, floor: T.Vector, max m: T.Vector, low: T.Vector,
                invT: T?, marks: ColumnMarks?) -> T.Vector {
        empty(k, slots)
        guard let invT else {
            return select(k, slots, floor: floor, max: m, invT: 0, marks: marks, NoSum<T>.self, NormalExp.self)
        }
        // The cheaper exp where every exponent stays normal (lanes past `lanes`: 0).
        let spread = T.hmin(T.vkeepFirst((low - m) * T.Vector(repeating: invT), lanes, fill: 0))
        if spread >= -T.expNormalLimit {
            return select(k, slots, floor: floor, max: m, invT: invT, marks: marks, ExpSum<T>.self, NormalExp.self)
        }
        return select(k, slots, floor: floor, max: m, invT: invT, marks: marks, ExpSum<T>.self, AnyExp.self)
    }

    @inlinable
    func select<S: ColumnSum, E: ExpKind>(_ k: Int, _ slots: UnsafeMutablePointer<T.Vector>, floor: T.Vector, max m: T.Vector,
                                         invT: T, marks: ColumnMarks?, _: S.Type, _: E.Type) -> T.Vector where S.Scalar == T {
        let vals = UnsafeMutableRawPointer(slots), idx = UnsafeMutableRawPointer(slots + k)
        let scale = T.Vector(repeating: invT)
        var sum = S()
        // The rows reaching the floor in some lane are marked, then listed
        // (branch-free) and offered: a branch per row mispredicted on each
        // of the ~k + 2 candidates of every lane.
        let marked = marks?.0, listed = marks?.1
        let whole = lanes == T.width
        @inline(__always) func take(_ v: T.Vector, _ j: Int, odd: Bool) {
            if S.summing {
                // Lanes past `lanes` get exponent 0 (never stored).
                let z = (v - m) * scale
                sum.add(E.exp(whole ? z : T.vkeepFirst(z, lanes, fill: 0), T.self), odd: odd)
            }
            if let marked {
                marked[j] = UInt16(truncatingIfNeeded: T.offerBits(v, floor: floor))
            } else {  // (no scratch: offered row by row)
                T.slotsOffer(vals, idx, k: k, v, T.Vector(repeating: T(j)), floor: floor)
            }
        }
        var j = 0
        while j < n {
            let end = min(n, j + 256)
            while j + 2 <= end {
                take(row(j), j, odd: false); take(row(j + 1), j + 1, odd: true)
                j += 2
            }
            if j < end { take(row(j), j, odd: false); j += 1 }
            sum.flush()
        }
        if let marked, let listed {
            let count = Int(smk_simd_list_nonzero_u16(marked, Int64(n), listed))
            for t in 0 ..< count {
                let r = Int(listed[t])
                T.slotsOffer(vals, idx, k: k, row(r), T.Vector(repeating: T(r)), floor: floor)
            }
        }
        return sum.reciprocal
    }

    /// Writes the k slots to `(k, inner)`-strided outputs: `values[s * inner + l]`
    /// (through `value`) and `indices[s * inner + l]`.
    @inlinable @inline(__always)
    func store(_ k: Int, _ slots: UnsafePointer<T.Vector>, _ values: UnsafeMutablePointer<T>,
               _ indices: UnsafeMutablePointer<Int>, value: (T.Vector) -> T.Vector) {
        for s in 0 ..< k {
            let v = value(slots[s]), iv = slots[k + s], q = values + s * inner, p = indices + s * inner
            if lanes == T.width { vstore(v, q) } else { vstorePartial(v, q, lanes) }
            for l in 0 ..< lanes { p[l] = Int(iv[l]) }
        }
    }
}

/// One thread's row marks (`n`) and their list (`n + 16`) for `select`.
@usableFromInline typealias ColumnMarks = (UnsafeMutablePointer<UInt16>, UnsafeMutablePointer<Int32>)

/// Whether and how pass 2 sums exponentials: a type, so that top-k's loop
/// has no sum at all.
@usableFromInline protocol ColumnSum {
    associatedtype Scalar: KernelScalar
    static var summing: Bool { get }
    init()
    mutating func add(_ e: Scalar.Vector, odd: Bool)
    mutating func flush()
    var reciprocal: Scalar.Vector { get }
}

@usableFromInline struct NoSum<T: KernelScalar>: ColumnSum {
    @usableFromInline typealias Scalar = T
    @inlinable static var summing: Bool { false }
    @inlinable init() {}
    @inlinable @inline(__always) mutating func add(_ e: T.Vector, odd: Bool) {}
    @inlinable @inline(__always) mutating func flush() {}
    @inlinable var reciprocal: T.Vector { T.Vector(repeating: 0) }
}

/// Two vector accumulators (even and odd rows) flushed into doubles.
@usableFromInline struct ExpSum<T: KernelScalar>: ColumnSum {
    @usableFromInline typealias Scalar = T
    @inlinable static var summing: Bool { true }
    @usableFromInline var a: T.Vector, b: T.Vector
    @usableFromInline var total = SIMDDouble()
    @inlinable init() { a = T.Vector(repeating: 0); b = a }
    @inlinable @inline(__always) mutating func add(_ e: T.Vector, odd: Bool) { if odd { b += e } else { a += e } }
    @inlinable @inline(__always) mutating func flush() {
        total.add(a + b)
        a = T.Vector(repeating: 0); b = a
    }
    @inlinable var reciprocal: T.Vector { total.reciprocal(T.self) }
}
