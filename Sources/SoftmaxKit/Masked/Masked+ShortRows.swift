import SoftmaxKitSIMD

// MARK: Masked softmax of short rows

/// Masked softmax / log-softmax of each row (`Masked.swift` for the rules).
/// Unselected lanes get exponent 0 before the exp and exponential 0 after:
/// whatever they hold (NaN, inf) never reaches the sum, and a fully masked
/// row comes out all 0 (log: `-inf`) through the final select alone.
@usableFromInline
struct ShortMasked<T: KernelScalar>: ShortRowKernel {
    @usableFromInline let kind: MaskedKind
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let mask: UnsafePointer<UInt8>
    /// One `n`-byte pattern for every row, or a full-shape mask.
    @usableFromInline let pattern: Bool
    @usableFromInline let y: UnsafeMutablePointer<T>
    @usableFromInline let inPlace: Bool

    @inlinable
    init(_ kind: MaskedKind, _ x: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>, pattern: Bool, _ y: UnsafeMutablePointer<T>) {
        self.kind = kind; self.x = x; self.mask = mask; self.pattern = pattern; self.y = y
        inPlace = UnsafePointer(y) == x
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> (ShortRow<T>, ShortMask<T>) {
        let m = pattern ? s.loadMask(mask, readable: s.n, C.self) : s.loadMask(mask + r * s.n, readable: room, C.self)
        return (s.load(x + r * s.n, readable: room, fill: -.infinity, C.self), m)
    }

    /// One path for every kind (no branch: four rows side by side stay one
    /// basic block): softmax-then-mask selects every lane, which gives
    /// `exps`'s bits (lanes past the row are -inf, then reset by `keepRow`).
    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ input: (ShortRow<T>, ShortMask<T>), _ s: ShortRows<T>, _: C.Type) -> (ShortExps<T>, ShortMask<T>) {
        let (v, k) = input
        let zero = ShortRow<T>(repeating: 0)
        let t = kind == .softmaxThenMask ? ShortMask<T>(all: true) : k
        let m = v.select(t, else: ShortRow(repeating: -.infinity)).max(C.self)
        let z = s.keepRow((v - T.Vector(repeating: m)).select(t, else: zero), fill: 0, C.self)
        let e = s.keepRow(z.exp(C.self).select(t, else: zero), fill: 0, C.self)
        return (ShortExps(z: z, e: e, sum: s.sum(e, C.self)), k)
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ a: (ShortExps<T>, ShortMask<T>), room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        let (x, k) = a
        let out: ShortRow<T>
        if kind == .logSoftmax {
            out = (x.z - T.Vector(repeating: T.libmLog(x.sum))).select(k, else: ShortRow(repeating: -.infinity))
        } else {
            out = (x.e * T.Vector(repeating: 1 / x.sum)).select(k, else: ShortRow(repeating: 0))
        }
        s.store(out, y + r * s.n, writable: inPlace ? s.n : room, C.self)
        return 0
    }
}

