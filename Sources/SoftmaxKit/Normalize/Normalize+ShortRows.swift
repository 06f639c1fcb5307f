import SoftmaxKitSIMD

// MARK: Softmax and log-softmax of short rows

/// `exp((x - max) / T) / sum` or `(x - max) / T - log(sum)` of each row.
/// Rows follow each other, or with `rowStride` they start that many
/// elements apart (a short segment of longer rows: then nothing past a
/// segment is read or written, the neighbouring segments being another
/// activation's).
@usableFromInline
struct ShortNormalize<T: KernelScalar>: ShortRowKernel {
    /// Also rows of two vectors four at a time (measured faster than two).
    @inlinable static func sideBySide(vectors: Int) -> Int { vectors <= 2 ? 4 : 2 }
    @usableFromInline let kind: NormalizerKind
    @usableFromInline let x: UnsafePointer<T>
    @usableFromInline let y: UnsafeMutablePointer<T>
    @usableFromInline let invT: T
    @usableFromInline let inPlace: Bool
    /// 0: contiguous rows.
    @usableFromInline let rowStride: Int

    @inlinable
    init(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, invT: T, rowStride: Int = 0) {
        self.kind = kind; self.x = x; self.y = y; self.invT = invT; self.rowStride = rowStride
        inPlace = UnsafePointer(y) == x
    }

    @inlinable @inline(__always)
    func load<C: StaticCount>(_ r: Int, room: Int, _ s: ShortRows<T>, _: C.Type) -> ShortRow<T> {
        s.load(x + r * (rowStride == 0 ? s.n : rowStride), readable: rowStride == 0 ? room : s.n, fill: -.infinity, C.self)
    }

    @inlinable @inline(__always)
    func reduce<C: StaticCount>(_ v: ShortRow<T>, _ s: ShortRows<T>, _: C.Type) -> ShortExps<T> {
        s.exps(v, invT: invT, C.self)
    }

    @inlinable @inline(__always)
    func finish<C: StaticCount>(_ r: Int, _ a: ShortExps<T>, room: Int, _ s: ShortRows<T>, _: C.Type) -> Double {
        let out = kind == .softmax ? a.e * T.Vector(repeating: 1 / a.sum) : a.z - T.Vector(repeating: T.libmLog(a.sum))
        s.store(out, y + r * (rowStride == 0 ? s.n : rowStride), writable: inPlace || rowStride != 0 ? s.n : room, C.self)
        return 0
    }
}

