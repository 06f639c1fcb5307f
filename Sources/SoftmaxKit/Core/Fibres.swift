/// Contiguous views of the fibres `(o, :, i)` of an `(outer, n, inner)` tensor,
/// so that the row kernels of the variant families run unchanged on any axis.
///
/// Fibre `r` (`0 ..< outer * inner`, the index of the reduced result) is
/// `o = r / inner`, `i = r % inner`. With `inner == 1` a fibre is a row and is
/// used in place. Otherwise fibres are handled in tiles of up to 16
/// neighbours `i0 ..< i0 + L` of one `o`: reading the tile's first fibre
/// transposes the whole `[n, L]` block into `[L, n]` scratch (each source
/// row of the block is one contiguous run, so each cache line is read
/// once), and committing the tile's last fibre transposes results back,
/// a vector-sized square at a time (`KernelScalar.transposeBlock`).
/// Fibres must therefore be visited in increasing `r`, reading before
/// committing, as every caller does. A tile is gathered before any of its
/// results is scattered, so outputs may alias inputs exactly.
@usableFromInline
struct Fibres<T: KernelScalar> {
    @usableFromInline let n: Int
    @usableFromInline let inner: Int
    @usableFromInline let count: Int
    /// Fibres per tile (1 when `n` is so long that 16 rows would not fit the budget).
    @usableFromInline let tile: Int
    @usableFromInline let scratch: UnsafeMutablePointer<T>?
    @usableFromInline let bytes: UnsafeMutablePointer<UInt8>?

    /// Elements of scratch per slot at most (beyond it tiles shrink): 8 MB of f64.
    @usableFromInline static var slotBudget: Int { 1 << 20 }

    /// `slots` tiles of scratch for `T` data and, if `maskSlot`, one byte tile.
    @usableFromInline
    init(_ e: Extents, slots: Int, maskSlot: Bool = false) throws(SoftmaxKitError) {
        n = e.n; inner = e.inner; count = e.outer * e.inner
        guard inner > 1, n > 0 else { tile = 1; scratch = nil; bytes = nil; return }
        tile = max(1, min(16, inner, Self.slotBudget / n))
        guard let perSlot = elementCount(tile, n), let total = elementCount(slots, perSlot),
              let s = rawAllocate(T.self, total) else {
            throw SoftmaxKitError(.outOfMemory, "could not allocate scratch for \(slots) tiles of \(tile) x \(n)")
        }
        if maskSlot {
            guard let b = rawAllocate(UInt8.self, perSlot) else {
                rawFree(s)
                throw SoftmaxKitError(.outOfMemory, "could not allocate mask scratch for \(tile) x \(n)")
            }
            bytes = b
        } else {
            bytes = nil
        }
        scratch = s
    }

    @usableFromInline func free() { rawFree(scratch); rawFree(bytes) }

    /// Offset of element `(o, 0, i)` of fibre `r`.
    @inlinable @inline(__always)
    func base(_ r: Int) -> Int { inner == 1 ? r * n : (r / inner) * n * inner + r % inner }

    /// The tile holding fibre `r`: its first `i`, its length, and `r`'s place in it.
    @inlinable @inline(__always)
    func tileOf(_ r: Int) -> (i0: Int, length: Int, position: Int) {
        let i = r % inner, i0 = i / tile * tile
        return (i0, min(tile, inner - i0), i - i0)
    }

    /// Fibre `r` of `p` as a contiguous row (its tile gathered into `slot` when strided).
    @inlinable
    func read(_ p: UnsafePointer<T>, _ r: Int, slot: Int) -> UnsafePointer<T> {
        guard let s = scratch else { return p + base(r) }
        let (i0, length, position) = tileOf(r)
        let d = s + slot * tile * n
        if position == 0 {
            // Blocks of width x width: source rows j, lanes t -> rows t, lanes j.
            let src = p + (r / inner) * n * inner + i0, w = T.width
            for g in stride(from: 0, to: length, by: w) {
                for j0 in stride(from: 0, to: n, by: w) {
                    T.transposeBlock(src + j0 * inner + g, inner, rows: min(w, n - j0), columns: min(w, length - g),
                                     d + g * n + j0, n)
                }
            }
        }
        return UnsafePointer(d + position * n)
    }

    /// Fibre `r` of a full-shape byte mask as a contiguous row.
    @inlinable
    func readMask(_ p: UnsafePointer<UInt8>, _ r: Int) -> UnsafePointer<UInt8> {
        guard let d = bytes else { return p + base(r) }
        let (i0, length, position) = tileOf(r)
        if position == 0 {
            let src = p + (r / inner) * n * inner + i0
            for j in 0..<n {
                let row = src + j * inner
                for t in 0..<length { d[t * n + j] = row[t] }
            }
        }
        return UnsafePointer(d + position * n)
    }

    /// Where to write fibre `r` of `p`: in place, or scratch `slot` to `commit` later.
    @inlinable @inline(__always)
    func target(_ p: UnsafeMutablePointer<T>, _ r: Int, slot: Int) -> UnsafeMutablePointer<T> {
        guard let s = scratch else { return p + base(r) }
        return s + slot * tile * n + tileOf(r).position * n
    }

    /// After the last fibre of a tile, scatters scratch `slot` into `p`
    /// (nothing to do for rows).
    @inlinable
    func commit(_ p: UnsafeMutablePointer<T>, _ r: Int, slot: Int) {
        guard let s = scratch else { return }
        let (i0, length, position) = tileOf(r)
        guard position == length - 1 else { return }
        let src = s + slot * tile * n, dst = p + (r / inner) * n * inner + i0, w = T.width
        for g in stride(from: 0, to: length, by: w) {
            for j0 in stride(from: 0, to: n, by: w) {
                T.transposeBlock(src + g * n + j0, n, rows: min(w, length - g), columns: min(w, n - j0),
                                 dst + j0 * inner + g, inner)
            }
        }
    }
}
