/// Contiguous views of the fibres `(o, :, i)` of an `(outer, n, inner)` tensor,
/// so that the row kernels of the variant families run unchanged on any axis.
///
/// Fibre `r` (`0 ..< outer * inner`, the index of the reduced result) is
/// `o = r / inner`, `i = r % inner`. With `inner == 1` a fibre is a row and is
/// used in place; otherwise it is gathered into per-slot scratch and results
/// are scattered back with `commit`. A gather completes before its scatter,
/// so outputs may alias inputs exactly.
@usableFromInline
struct Fibres<T: KernelScalar> {
    @usableFromInline let n: Int
    @usableFromInline let inner: Int
    @usableFromInline let count: Int
    @usableFromInline let scratch: UnsafeMutablePointer<T>?
    @usableFromInline let bytes: UnsafeMutablePointer<UInt8>?

    /// `slots` rows of scratch for `T` data and, if `maskSlot`, one byte row.
    @usableFromInline
    init(_ e: Extents, slots: Int, maskSlot: Bool = false) throws(SoftmaxKitError) {
        n = e.n; inner = e.inner; count = e.outer * e.inner
        guard inner > 1, n > 0 else { scratch = nil; bytes = nil; return }
        let (total, o) = slots.multipliedReportingOverflow(by: n)
        guard !o, let s = rawAllocate(T.self, total) else {
            throw SoftmaxKitError(.outOfMemory, "could not allocate scratch for \(slots) fibres of \(n)")
        }
        if maskSlot {
            guard let b = rawAllocate(UInt8.self, n) else {
                rawFree(s)
                throw SoftmaxKitError(.outOfMemory, "could not allocate mask scratch for \(n)")
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

    /// Fibre `r` of `p` as a contiguous row (gathered into `slot` when strided).
    @inlinable
    func read(_ p: UnsafePointer<T>, _ r: Int, slot: Int) -> UnsafePointer<T> {
        let b = base(r)
        guard let s = scratch else { return p + b }
        let d = s + slot * n
        for j in 0..<n { d[j] = p[b + j * inner] }
        return UnsafePointer(d)
    }

    /// Fibre `r` of a full-shape byte mask as a contiguous row.
    @inlinable
    func readMask(_ p: UnsafePointer<UInt8>, _ r: Int) -> UnsafePointer<UInt8> {
        let b = base(r)
        guard let d = bytes else { return p + b }
        for j in 0..<n { d[j] = p[b + j * inner] }
        return UnsafePointer(d)
    }

    /// Where to write fibre `r` of `p`: in place, or scratch `slot` to `commit` later.
    @inlinable @inline(__always)
    func target(_ p: UnsafeMutablePointer<T>, _ r: Int, slot: Int) -> UnsafeMutablePointer<T> {
        guard let s = scratch else { return p + base(r) }
        return s + slot * n
    }

    /// Scatters scratch `slot` into fibre `r` of `p` (nothing to do for rows).
    @inlinable
    func commit(_ p: UnsafeMutablePointer<T>, _ r: Int, slot: Int) {
        guard let s = scratch else { return }
        let b = base(r), src = s + slot * n
        for j in 0..<n { p[b + j * inner] = src[j] }
    }
}
