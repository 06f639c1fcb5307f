import SoftmaxKitSIMD

// MARK: Log-normalizers of short rows (the losses)

/// The pieces of each row's log-normalizer (class axis last): the max and
/// the sum of `exp(x - max)` into `maxes`/`sums` at `r - base`, and
/// `exp(x - max)` into the gradient row when there is one (the loss code
/// scales it). The logs are taken afterwards, many rows in one vector pass
/// (`shortRowLosses`).
@usableFromInline
struct ShortLogNormalizer<T: KernelScalar>: ShortRowKernel {
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let gradient: UnsafeMutablePointer<T>?
    @usableFromInline let maxes: UnsafeMutablePointer<Double>
    @usableFromInline let sums: UnsafeMutablePointer<Double>
    @usableFromInline let base: Int

    @inlinable
    init(_ x: UnsafePointer<T>, gradient: UnsafeMutablePointer<T>?, maxes: UnsafeMutablePointer<Double>,
         sums: UnsafeMutablePointer<Double>, base: Int) {
        self.x = x; self.gradient = gradient; self.maxes = maxes; self.sums = sums; self.base = base
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        s.load(x + r * s.n, readable: room, fill: -.infinity, C.self)
    }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ v: ShortRow<T>, _ s: ShortRows<T>, _: C.Type) -> ShortExps<T> {
        s.exps(v, invT: 1, C.self)
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ a: ShortExps<T>, room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        if let g = gradient { s.store(a.e, g + r * s.n, writable: room, C.self) }
        maxes[r - base] = Double(a.max)
        sums[r - base] = Double(a.sum)
        return 0
    }
}

