import SoftmaxKitSIMD

// MARK: Fused softmax + top-k of short rows

/// Probabilities and indices of the `k` largest logits of each row, in
/// selection's order (`T.rankScatter`); a row whose sum is not finite (a
/// NaN, an infinity, or all `-inf`) goes to the general row kernel, which
/// orders NaN first. `scratch` holds `maxLength` scalars for this call's
/// thread (the row's probabilities).
@usableFromInline
struct ShortSoftmaxTopK<T: KernelScalar>: ShortRowKernel {
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let k: Int
    @usableFromInline let invT: T
    @usableFromInline let vals: UnsafeMutablePointer<T>
    @usableFromInline let idx: UnsafeMutablePointer<Int>
    @usableFromInline let scratch: UnsafeMutablePointer<T>

    @inlinable
    init(_ x: UnsafePointer<T>, k: Int, invT: T, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>,
         scratch: UnsafeMutablePointer<T>) {
        self.x = x; self.k = k; self.invT = invT; self.vals = vals; self.idx = idx; self.scratch = scratch
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        s.load(x + r * s.n, readable: room, fill: -.infinity, C.self)
    }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ v: ShortRow<T>, _ s: ShortRows<T>, _: C.Type) -> ShortExps<T> {
        s.exps(v, invT: invT, C.self)
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ ex: ShortExps<T>, room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        let n = s.n, xr = x + r * n, vr = vals + r * k, ir = idx + r * k
        guard ex.sum.isFinite else {
            rowSoftmaxTopK(xr, n, k, invT, vr, ir)
            return 0
        }
        // Ranked by the logits: the order of the probabilities, with ties
        // where exp rounds two logits alike broken by the logits.
        s.spill(ex.e * T.Vector(repeating: 1 / ex.sum), scratch, C.self)
        _ = T.rankScatter(xr, scratch, n: n, vectors: C.count, k: k, vr, ir, positions: nil)
        return 0
    }
}

// MARK: Top-k of short rows

/// Values and indices of the `k` first elements of each row, ranked as
/// `ShortSoftmaxTopK` ranks them; a row holding a NaN goes to the general
/// row kernel (NaN ranks first there).
@usableFromInline
struct ShortTopK<T: KernelScalar>: ShortRowKernel {
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let k: Int
    @usableFromInline let vals: UnsafeMutablePointer<T>
    @usableFromInline let idx: UnsafeMutablePointer<Int>

    @inlinable
    init(_ x: UnsafePointer<T>, k: Int, _ vals: UnsafeMutablePointer<T>, _ idx: UnsafeMutablePointer<Int>) {
        self.x = x; self.k = k; self.vals = vals; self.idx = idx
    }

    /// Nothing to load: the ranking reads the row itself.
    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> Int { r }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ r: Int, _ s: ShortRows<T>, _: C.Type) -> Int { r }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        let n = s.n, xr = x + r * n, vr = vals + r * k, ir = idx + r * k
        if T.rankScatter(xr, xr, n: n, vectors: C.count, k: k, vr, ir, positions: nil) {
            rowTopK(xr, n, k, vr, ir)
        }
        return 0
    }
}

