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
        let m = hmax(v)
        let z = (v - V(repeating: m)) * V(repeating: invT)
        let e = Float.vexp(z)
        let s = Float.hsum(e)
        let out = kind == .softmax ? e * V(repeating: 1 / s) : z - V(repeating: Float.libmLog(s))
        if writable >= V.scalarCount { vstore(out, y) } else { vstorePartial(out, y, n) }
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
