/// softmax, log_softmax and logsumexp over the `n` extent of `(outer, n, inner)`.
///
/// Numerics (DESIGN.md): with `m = max_j x_j` and temperature `T`,
///   softmax_j     = exp((x_j - m)/T) / sum_k exp((x_k - m)/T)
///   log_softmax_j = (x_j - m)/T - log(sum_k exp((x_k - m)/T))   (never log(softmax))
///   logsumexp     = m + log(sum_k exp(x_k - m))
/// A NaN makes its row NaN; `-inf` entries give 0 when the row has a finite
/// maximum; an all `-inf` row is NaN for softmax/log_softmax (0/0, as PyTorch
/// and JAX) and `-inf` for logsumexp. Sums are accumulated in blocks into a
/// `Double`, so float32 rows of millions of elements stay within ~1e-6 relative.

// MARK: Public API: unsafe buffers (no copies)

/// Softmax of `x` over the `n` extent, written to `y` (`y` may be `x`).
/// - Throws: `.invalidArgument` for a temperature that is not finite and > 0
///   or for partially overlapping buffers; `.shapeMismatch` for buffers
///   shorter than `extents.count`. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, extents.count)
    try checkAliasing(x, y, count: extents.count)
    guard extents.count > 0 else { return }
    try Normalizer<T>.run(.softmax, x.baseAddress!, y.baseAddress!, extents, invT: 1 / temperature)
}

/// Log-softmax of `x` over the `n` extent, written to `y` (`y` may be `x`).
/// Same errors as ``softmax(_:into:extents:temperature:)``.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSoftmax<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, temperature: T = 1
) throws(SoftmaxKitError) {
    try checkTemperature(temperature)
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, extents.count)
    try checkAliasing(x, y, count: extents.count)
    guard extents.count > 0 else { return }
    try Normalizer<T>.run(.logSoftmax, x.baseAddress!, y.baseAddress!, extents, invT: 1 / temperature)
}

/// `log(sum(exp(x)))` over the `n` extent; `y` holds `outer * inner` results
/// (the reduced extents). An empty row (`n == 0`) gives `-inf`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSumExp<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    let outCount = extents.reduced.count
    try checkCount("x", x.count, extents.count)
    try checkCount("y", y.count, outCount)
    guard outCount > 0 else { return }
    if extents.count > 0 {
        // y is smaller than x: any overlap that is not the start is partial.
        try checkAliasing(x, y, count: min(extents.count, outCount))
    }
    let yp = y.baseAddress!
    if extents.n == 0 {
        for i in 0..<outCount { yp[i] = -.infinity }
        return
    }
    try Normalizer<T>.logSumExp(x.baseAddress!, yp, extents)
}

// MARK: Public API: arrays

/// Softmax of an array viewed as `shape` (default: 1-D) over `axis`.
public func softmax<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1, temperature: T = 1
) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    return try mapArray(x) { (xb, yb) throws(SoftmaxKitError) in
        try softmax(xb, into: yb, extents: e, temperature: temperature)
    }
}

/// Log-softmax of an array viewed as `shape` (default: 1-D) over `axis`.
public func logSoftmax<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1, temperature: T = 1
) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    return try mapArray(x) { (xb, yb) throws(SoftmaxKitError) in
        try logSoftmax(xb, into: yb, extents: e, temperature: temperature)
    }
}

/// Logsumexp of an array viewed as `shape` over `axis`; the result has the
/// shape with that axis removed (`outer * inner` elements).
public func logSumExp<T: KernelScalar>(
    _ x: [T], shape: [Int]? = nil, axis: Int = -1
) throws(SoftmaxKitError) -> [T] {
    let e = try Extents(shape: shape ?? [x.count], axis: axis)
    try checkCount("x", x.count, e.count)
    var y = [T](repeating: 0, count: e.reduced.count)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
            try logSumExp(xb, into: yb, extents: e)
        }
    }
    return y
}

/// Runs a same-shape kernel on an array into a fresh array.
@usableFromInline
func mapArray<T: KernelScalar>(
    _ x: [T], _ body: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [T] {
    var y = [T](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { (xb) throws(SoftmaxKitError) in
        try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
            try body(xb, yb)
        }
    }
    return y
}

// MARK: Kernels

@usableFromInline
enum NormalizerKind { case softmax, logSoftmax }

@usableFromInline
enum Normalizer<T: KernelScalar> {
    /// Dispatches contiguous rows (`inner == 1`) and strided columns.
    @usableFromInline
    static func run(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ e: Extents, invT: T) throws(SoftmaxKitError) {
        if e.n == 0 { return }
        if e.inner == 1 {
            parallelFor(e.outer, work: e.count) { rows in
                for o in rows {
                    row(kind, x + o * e.n, y + o * e.n, e.n, readable: (e.outer - o) * e.n, invT: invT)
                }
            }
        } else {
            // Every thread's scratch is allocated before any output is written,
            // so running out of memory leaves y untouched.
            let threads = plannedThreads(e.outer, work: e.count)
            let scratches = try Scratch<T>.many(threads, columns: e.inner)
            defer { scratches.forEach { $0.free() } }
            parallelPieces(threads, threads: threads) { k in
                let blocks = (e.outer * k / threads)..<(e.outer * (k + 1) / threads)
                strided(kind, x, y, e, blocks, scratches[k], invT: invT)
            }
        }
    }

    /// One contiguous row: max, exp-sum (softmax stores the exponentials), then scale.
    @inlinable
    static func row(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                    _ n: Int, readable: Int, invT: T) {
        let (lo, m) = rowMinMax(x, n, readable: readable)
        switch kind {
        case .softmax:
            let s = rowExpSum(x, y, n, shift: m, scale: invT, lowest: lo, readable: readable)
            rowScale(y, y, n, T(1 / s))
        case .logSoftmax:
            let s = rowExpSum(x, nil, n, shift: m, scale: invT, lowest: lo, readable: readable)
            rowShiftScaleOffset(x, y, n, shift: m, scale: invT, offset: T(T.libmLog(T(s))))
        }
    }

    /// `inner > 1`: reduce along `n` with vectors running over the contiguous
    /// `inner` extent (the layout PyTorch's CPU kernel once ran scalar on).
    static func strided(_ kind: NormalizerKind, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                        _ e: Extents, _ blocks: Range<Int>, _ scratch: Scratch<T>, invT: T) {
        let inner = e.inner, n = e.n
        let vInvT = T.Vector(repeating: invT)
        for o in blocks {
            let xo = x + o * n * inner, yo = y + o * n * inner
            columnMax(xo, n, inner, scratch.max)
            // Exponentials and their sums, flushed to Double every block of rows.
            scratch.clearSums()
            for j in 0..<n {
                let xj = xo + j * inner, yj = yo + j * inner
                forEachVector(inner, T.self) { i, r in
                    let xv = r == 0 ? vload(xj + i) : vloadPartial(xj + i, r, fill: 0)
                    let mv = r == 0 ? vload(UnsafePointer(scratch.max + i)) : vloadPartial(scratch.max + i, r, fill: 0)
                    let ev = T.vexp((xv - mv) * vInvT)
                    if kind == .softmax {
                        if r == 0 { vstore(ev, yj + i) } else { vstorePartial(ev, yj + i, r) }
                    }
                    let sv = (r == 0 ? vload(UnsafePointer(scratch.partial + i)) : vloadPartial(scratch.partial + i, r, fill: 0)) + ev
                    if r == 0 { vstore(sv, scratch.partial + i) } else { vstorePartial(sv, scratch.partial + i, r) }
                }
                if (j + 1) % 64 == 0 || j == n - 1 { scratch.flushSums() }
            }
            switch kind {
            case .softmax:
                for i in 0..<inner { scratch.partial[i] = T(1 / scratch.sums[i]) }
                for j in 0..<n {
                    let yj = yo + j * inner
                    forEachVector(inner, T.self) { i, r in
                        if r == 0 {
                            vstore(vload(UnsafePointer(yj + i)) * vload(UnsafePointer(scratch.partial + i)), yj + i)
                        } else {
                            for k in 0..<r { yj[i + k] *= scratch.partial[i + k] }
                        }
                    }
                }
            case .logSoftmax:
                for i in 0..<inner { scratch.partial[i] = T(T.libmLog(T(scratch.sums[i]))) }
                for j in 0..<n {
                    let xj = xo + j * inner, yj = yo + j * inner
                    forEachVector(inner, T.self) { i, r in
                        if r == 0 {
                            let v = (vload(xj + i) - vload(UnsafePointer(scratch.max + i))) * vInvT
                                - vload(UnsafePointer(scratch.partial + i))
                            vstore(v, yj + i)
                        } else {
                            for k in 0..<r {
                                yj[i + k] = (xj[i + k] - scratch.max[i + k]) * invT - scratch.partial[i + k]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Logsumexp of each `(o, :, i)` fibre into `y[o * inner + i]`.
    static func logSumExp(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ e: Extents) throws(SoftmaxKitError) {
        let n = e.n, inner = e.inner
        if inner == 1 {
            parallelFor(e.outer, work: e.count) { rows in
                for o in rows {
                    let xo = x + o * n
                    let avail = (e.outer - o) * n
                    let (lo, m) = rowMinMax(xo, n, readable: avail)
                    y[o] = finishLogSumExp(m, m.isFinite ? rowExpSum(xo, nil, n, shift: m, scale: 1, lowest: lo, readable: avail) : 0) {
                        (0..<n).contains { xo[$0].isNaN }
                    }
                }
            }
            return
        }
        let scratch = try Scratch<T>(inner)
        defer { scratch.free() }
        for o in 0..<e.outer {
            let xo = x + o * n * inner
            columnMax(xo, n, inner, scratch.max)
            scratch.clearSums()
            for j in 0..<n {
                let xj = xo + j * inner
                forEachVector(inner, T.self) { i, r in
                    let xv = r == 0 ? vload(xj + i) : vloadPartial(xj + i, r, fill: 0)
                    var mv = r == 0 ? vload(UnsafePointer(scratch.max + i)) : vloadPartial(scratch.max + i, r, fill: 0)
                    // Infinite maxima are settled in finishLogSumExp; keep their lanes finite here.
                    mv = T.vzeroNonFinite(mv)
                    let ev = T.vexp(xv - mv)
                    let sv = (r == 0 ? vload(UnsafePointer(scratch.partial + i)) : vloadPartial(scratch.partial + i, r, fill: 0)) + ev
                    if r == 0 { vstore(sv, scratch.partial + i) } else { vstorePartial(sv, scratch.partial + i, r) }
                }
                if (j + 1) % 64 == 0 || j == n - 1 { scratch.flushSums() }
            }
            for i in 0..<inner {
                let m = scratch.max[i]
                y[o * inner + i] = finishLogSumExp(m, scratch.sums[i]) {
                    (0..<n).contains { xo[$0 * inner + i].isNaN }
                }
            }
        }
    }

    /// `m + log(s)` with the infinite cases of DESIGN.md: a row whose max is
    /// `-inf` (all `-inf`) gives `-inf`, `+inf` gives `+inf`, unless the row
    /// holds a NaN (the max ignores NaN, so `hasNaN` rescans only then).
    @inlinable
    static func finishLogSumExp(_ m: T, _ s: Double, hasNaN: () -> Bool) -> T {
        if m.isFinite { return m + T(T.libmLog(T(s))) }
        return hasNaN() ? .nan : m
    }
}

/// Column maxima of an `n x inner` block into `m[0..<inner]` (NaN ignored).
@inlinable
func columnMax<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int, _ inner: Int, _ m: UnsafeMutablePointer<T>) {
    m.update(repeating: -.infinity, count: inner)
    for j in 0..<n {
        let xj = x + j * inner
        forEachVector(inner, T.self) { i, r in
            if r == 0 {
                vstore(T.vmax(vload(UnsafePointer(m + i)), vload(xj + i)), m + i)
            } else {
                for k in 0..<r where xj[i + k] > m[i + k] { m[i + k] = xj[i + k] }
            }
        }
    }
}

/// Calls `body(i, 0)` for each full vector starting at `i` in `0..<count`,
/// then `body(i, r)` once for a partial tail of `r` lanes.
@inlinable @inline(__always)
func forEachVector<T: KernelScalar>(_ count: Int, _: T.Type = T.self, _ body: (Int, Int) -> Void) {
    let w = T.width
    var i = 0
    while i + w <= count { body(i, 0); i += w }
    if i < count { body(i, count - i) }
}

/// Per-column working storage of the strided kernels, from malloc so that an
/// impossible size is an error rather than a trap.
@usableFromInline
struct Scratch<T: KernelScalar> {
    let max: UnsafeMutablePointer<T>
    let partial: UnsafeMutablePointer<T>
    let sums: UnsafeMutablePointer<Double>
    let count: Int

    /// `k` scratches, all or none: on failure the ones already made are freed.
    static func many(_ k: Int, columns: Int) throws(SoftmaxKitError) -> [Scratch<T>] {
        var made: [Scratch<T>] = []
        do throws(SoftmaxKitError) {
            for _ in 0..<k { made.append(try Scratch<T>(columns)) }
        } catch {
            made.forEach { $0.free() }
            throw error
        }
        return made
    }

    init(_ count: Int) throws(SoftmaxKitError) {
        let m = rawAllocate(T.self, count), p = rawAllocate(T.self, count), s = rawAllocate(Double.self, count)
        guard let m, let p, let s else {
            rawFree(m); rawFree(p); rawFree(s)
            throw SoftmaxKitError(.outOfMemory, "could not allocate scratch for \(count) columns")
        }
        max = m; partial = p; sums = s; self.count = count
    }

    func clearSums() {
        partial.update(repeating: 0, count: count)
        sums.update(repeating: 0, count: count)
    }

    func flushSums() {
        for i in 0..<count { sums[i] += Double(partial[i]); partial[i] = 0 }
    }

    func free() {
        rawFree(max); rawFree(partial); rawFree(sums)
    }
}
