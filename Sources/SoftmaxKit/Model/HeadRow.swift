/// Softmax and log-softmax of one head row. Rows of at most one vector (16
/// floats: nearly every classifier head) take a single-vector path: one
/// load, one max, one exp, one sum, one store. The general row kernel
/// (`Normalizer.row`: min/max pass, blocked exp-sum in double, scale) costs
/// about five times more on such rows, which dominated small-head models at
/// large batch. Same edge cases as the row kernel: a NaN makes the row NaN,
/// `-inf` entries give 0 beside a finite maximum, an all `-inf` row is NaN.
/// Sums of at most 16 float32 terms stay within 1e-6 relative.
enum HeadRow {
    typealias V = SIMD16<Float>

    /// `readable` elements may be read from `x` and `writable` written at
    /// `y` (the rest of the layer buffer and of the output, which later rows
    /// overwrite in order): with a whole vector of each, no partial copies.
    @inline(__always)
    static func normalize(_ kind: NormalizerKind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                          readable: Int, writable: Int, invT: Float) {
        guard n <= V.scalarCount, n > 0 else {
            Normalizer<Float>.row(kind, x, y, n, readable: readable, invT: invT)
            return
        }
        let v = readable >= V.scalarCount ? Float.vkeepFirst(vload(x), n, fill: -.infinity)
                                          : vloadPartial(x, n, fill: -.infinity)
        let out = vector(kind, v, invT)
        if writable >= V.scalarCount { vstore(out, y) } else { vstorePartial(out, y, n) }
    }

    /// `rows` contiguous rows of `n` values from `x` to `y` (distinct
    /// buffers). Short rows go four at a time: the four dependency chains
    /// (max, exp, sum, scale) overlap instead of each waiting on the last.
    /// Full-vector stores spill into the next rows' slots, which are written
    /// after, in order.
    static func normalizeRows(_ kind: NormalizerKind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                              rows: Int, n: Int, invT: Float) {
        var r = 0
        if n <= V.scalarCount && n > 0 {
            while r + 4 <= rows && (rows - r - 3) * n >= V.scalarCount {
                let p = x + r * n, q = y + r * n
                // Written out (not through `vector`, which the optimizer keeps
                // as a call): four independent chains the core can overlap.
                let v0 = Float.vkeepFirst(vload(p), n, fill: -.infinity)
                let v1 = Float.vkeepFirst(vload(p + n), n, fill: -.infinity)
                let v2 = Float.vkeepFirst(vload(p + 2 * n), n, fill: -.infinity)
                let v3 = Float.vkeepFirst(vload(p + 3 * n), n, fill: -.infinity)
                let t = V(repeating: invT)
                let z0 = (v0 - V(repeating: hmax(v0))) * t, z1 = (v1 - V(repeating: hmax(v1))) * t
                let z2 = (v2 - V(repeating: hmax(v2))) * t, z3 = (v3 - V(repeating: hmax(v3))) * t
                let e0 = Float.vexp(z0), e1 = Float.vexp(z1), e2 = Float.vexp(z2), e3 = Float.vexp(z3)
                let s0 = Float.hsum(e0), s1 = Float.hsum(e1), s2 = Float.hsum(e2), s3 = Float.hsum(e3)
                let o0, o1, o2, o3: V
                if kind == .softmax {
                    o0 = e0 * V(repeating: 1 / s0); o1 = e1 * V(repeating: 1 / s1)
                    o2 = e2 * V(repeating: 1 / s2); o3 = e3 * V(repeating: 1 / s3)
                } else {
                    o0 = z0 - V(repeating: Float.libmLog(s0)); o1 = z1 - V(repeating: Float.libmLog(s1))
                    o2 = z2 - V(repeating: Float.libmLog(s2)); o3 = z3 - V(repeating: Float.libmLog(s3))
                }
                vstore(o0, q); vstore(o1, q + n); vstore(o2, q + 2 * n); vstore(o3, q + 3 * n)
                r += 4
            }
        }
        while r < rows {
            normalize(kind, x + r * n, y + r * n, n, readable: (rows - r) * n, writable: (rows - r) * n, invT: invT)
            r += 1
        }
    }

    /// Softmax or log-softmax of one row held in a vector (padding lanes `-inf`).
    @inline(__always)
    static func vector(_ kind: NormalizerKind, _ v: V, _ invT: Float) -> V {
        let m = hmax(v)
        let z = (v - V(repeating: m)) * V(repeating: invT)
        let e = Float.vexp(z)
        let s = Float.hsum(e)
        return kind == .softmax ? e * V(repeating: 1 / s) : z - V(repeating: Float.libmLog(s))
    }

    /// Horizontal maximum (NaN lanes ignored) with each halving step on a
    /// concrete vector type: written against the generic `SIMD` protocol, the
    /// compares become a branchy scalar loop over the lanes.
    @inline(__always)
    static func hmax(_ v: V) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }
}
