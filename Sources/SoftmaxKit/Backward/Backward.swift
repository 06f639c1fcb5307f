/// Vector-Jacobian products of the normalizers, given their forward outputs:
///
///   softmax      dx = y * (dy - sum_j dy_j y_j)           y = softmax(x)
///   log_softmax  dx = dy - exp(y) * sum_j dy_j            y = log_softmax(x)
///   sigmoid      dx = dy * y * (1 - y)                    y = sigmoid(x), element-wise
/// (PyTorch's `_softmax_backward_data`, `_log_softmax_backward_data`,
/// `sigmoid_backward`.) The sums run over the `n` extent, accumulated in
/// double blocks. `dx` may be `y` or `dy` exactly.

/// Softmax backward over the `n` extent.
/// - Throws: `.shapeMismatch` for short buffers; `.invalidArgument` for
///   partial overlaps. Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func softmaxBackward<T: KernelScalar>(
    y: UnsafeBufferPointer<T>, dy: UnsafeBufferPointer<T>, into dx: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    try backward(y, dy, dx, extents, columns: .softmax) { yr, dyr, dxr, n in
        let d = T(rowDot(yr, dyr, n))
        let vd = T.Vector(repeating: d), w = T.width
        var i = 0
        while i + w <= n { vstore(vload(yr + i) * (vload(dyr + i) - vd), dxr + i); i += w }
        while i < n { dxr[i] = yr[i] * (dyr[i] - d); i += 1 }
    }
}

/// Log-softmax backward over the `n` extent; errors as ``softmaxBackward(y:dy:into:extents:)``.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSoftmaxBackward<T: KernelScalar>(
    y: UnsafeBufferPointer<T>, dy: UnsafeBufferPointer<T>, into dx: UnsafeMutableBufferPointer<T>, extents: Extents
) throws(SoftmaxKitError) {
    try backward(y, dy, dx, extents, columns: .logSoftmax) { yr, dyr, dxr, n in
        let s = T(rowSum(dyr, n))
        // exp(y) through the normalizers' exp-sum kernel (stored into dx), then
        // dx = dy - dx * s: an inline vexp here compiled to partly scalar code.
        // The cheaper exp is exact for exponents in [-limit, limit] (log-softmax
        // outputs are <= 0); one min/max pass decides, as for softmax rows.
        let (lo, hi) = rowMinMax(yr, n)
        let lowest = hi <= T.expNormalLimit ? lo : -T.infinity
        if UnsafePointer(dxr) == dyr {
            // dx is dy: the exps of a chunk go to the stack first, so that dy_j
            // is read before dx_j is written; same kernel and same exp path as
            // below, so in place gives the bits of out of place (fuzz_abi
            // found libm's exp here differing in the last bit).
            let chunk = 256
            withUnsafeTemporaryAllocation(of: T.self, capacity: chunk) { tmp in
                let t = tmp.baseAddress!
                var i = 0
                while i < n {
                    let len = min(chunk, n - i)
                    _ = rowExpSum(yr + i, t, len, shift: 0, scale: 1, lowest: lowest)
                    for j in 0..<len { dxr[i + j] = dyr[i + j] - t[j] * s }
                    i += len
                }
            }
            return
        }
        _ = rowExpSum(yr, dxr, n, shift: 0, scale: 1, lowest: lowest)
        let vs = T.Vector(repeating: s), w = T.width
        var i = 0
        while i + w <= n { vstore(vload(dyr + i) - vload(UnsafePointer(dxr + i)) * vs, dxr + i); i += w }
        while i < n { dxr[i] = dyr[i] - dxr[i] * s; i += 1 }
    }
}

/// Sigmoid backward over `count` elements.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func sigmoidBackward<T: KernelScalar>(
    y: UnsafeBufferPointer<T>, dy: UnsafeBufferPointer<T>, into dx: UnsafeMutableBufferPointer<T>, count: Int
) throws(SoftmaxKitError) {
    try checkElementwise(y, dx, count)
    try checkCount("dy", dy.count, count)
    try checkAliasing(dy, dx, count: count, names: ("dy", "dx"))
    guard count > 0 else { return }
    let yp = y.baseAddress!, dp = dy.baseAddress!, xp = dx.baseAddress!
    let one = T.Vector(repeating: 1), w = T.width
    var i = 0
    while i + w <= count {
        let yv = vload(yp + i)
        vstore(vload(dp + i) * yv * (one - yv), xp + i)
        i += w
    }
    while i < count { xp[i] = dp[i] * yp[i] * (1 - yp[i]); i += 1 }
}

/// Array forms: `y`, `dy` of one `shape`, reduced over `axis`.
public func softmaxBackward<T: KernelScalar>(y: [T], dy: [T], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [T] {
    try backwardArray(y, dy, shape, axis) { (a, b, c, e) throws(SoftmaxKitError) in try softmaxBackward(y: a, dy: b, into: c, extents: e) }
}

public func logSoftmaxBackward<T: KernelScalar>(y: [T], dy: [T], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [T] {
    try backwardArray(y, dy, shape, axis) { (a, b, c, e) throws(SoftmaxKitError) in try logSoftmaxBackward(y: a, dy: b, into: c, extents: e) }
}

public func sigmoidBackward<T: KernelScalar>(y: [T], dy: [T]) throws(SoftmaxKitError) -> [T] {
    try backwardArray(y, dy, nil, -1) { (a, b, c, e) throws(SoftmaxKitError) in try sigmoidBackward(y: a, dy: b, into: c, count: e.count) }
}

private func backwardArray<T: KernelScalar>(
    _ y: [T], _ dy: [T], _ shape: [Int]?, _ axis: Int,
    _ op: (UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [T] {
    guard y.count == dy.count else { throw .shape("dy holds \(dy.count) elements but y holds \(y.count)") }
    let e = try Extents(shape: shape ?? [y.count], axis: axis)
    try checkCount("y", y.count, e.count)
    return try mapArray(y) { (yb, dxb) throws(SoftmaxKitError) in
        try dy.withUnsafeBufferPointer { (db) throws(SoftmaxKitError) in try op(yb, db, dxb, e) }
    }
}

/// Checks, then runs `row(y, dy, dx, n)` on every row (`inner == 1`), or
/// the column form of `columns` on every outer block (`inner > 1`).
private func backward<T: KernelScalar>(
    _ y: UnsafeBufferPointer<T>, _ dy: UnsafeBufferPointer<T>, _ dx: UnsafeMutableBufferPointer<T>, _ e: Extents,
    columns: NormalizerKind,
    _ row: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>, Int) -> Void
) throws(SoftmaxKitError) {
    try checkCount("y", y.count, e.count)
    try checkCount("dy", dy.count, e.count)
    try checkCount("dx", dx.count, e.count)
    try checkAliasing(y, dx, count: e.count, names: ("y", "dx"))
    try checkAliasing(dy, dx, count: e.count, names: ("dy", "dx"))
    guard e.count > 0 else { return }
    let yp = y.baseAddress!, dp = dy.baseAddress!, xp = dx.baseAddress!
    if e.inner == 1 {
        let n = e.n
        parallelFor(e.outer, work: e.count) { rows in
            for r in rows { row(yp + r * n, dp + r * n, xp + r * n, n) }
        }
        return
    }
    // Columns: vectors run along the contiguous inner extent (no transpose).
    // Scratch: the column sums in double, then as T, then one row of exps.
    let inner = e.inner, n = e.n
    let sums = try allocate(Double.self, inner, for: "column sums of \(inner) fibres")
    defer { rawFree(sums) }
    let scratch = try allocate(T.self, 2 * inner, for: "column scratch of \(inner) fibres")
    defer { rawFree(scratch) }
    let d = scratch, exps = scratch + inner, w = T.width
    for o in 0..<e.outer {
        let base = o * n * inner
        // The column sums (dot(y, dy) or sum(dy)): 64 rows at a time in the
        // dtype, then into double, as the row kernels' blocks.
        sums.update(repeating: 0, count: inner)
        var j0 = 0
        while j0 < n {
            let j1 = min(n, j0 + 64)
            var c = 0
            while c + w <= inner {
                var acc = T.Vector(repeating: 0)
                for j in j0..<j1 {
                    let at = base + j * inner + c
                    acc += columns == .softmax ? vload(yp + at) * vload(dp + at) : vload(dp + at)
                }
                for k in 0..<w { sums[c + k] += Double(acc[k]) }
                c += w
            }
            while c < inner {
                for j in j0..<j1 {
                    let at = base + j * inner + c
                    sums[c] += columns == .softmax ? Double(yp[at]) * Double(dp[at]) : Double(dp[at])
                }
                c += 1
            }
            j0 = j1
        }
        for i in 0..<inner { d[i] = T(sums[i]) }
        // dx row by row (contiguous; dx may be y or dy exactly: each element
        // is read before it is written, and the sums are complete).
        for j in 0..<n {
            let at = base + j * inner
            let yr = yp + at, dyr = dp + at, dxr = xp + at
            if columns == .softmax {
                var i = 0
                while i + w <= inner {
                    vstore(vload(yr + i) * (vload(dyr + i) - vload(UnsafePointer(d + i))), dxr + i); i += w
                }
                while i < inner { dxr[i] = yr[i] * (dyr[i] - d[i]); i += 1 }
            } else {
                // exp(y) as the row kernel takes it (the cheaper exp when the
                // row's values allow), then dx = dy - exp(y) * sum.
                let (lo, hi) = rowMinMax(yr, inner)
                _ = rowExpSum(yr, exps, inner, shift: 0, scale: 1, lowest: hi <= T.expNormalLimit ? lo : -T.infinity)
                var i = 0
                while i + w <= inner {
                    vstore(vload(dyr + i) - vload(UnsafePointer(exps + i)) * vload(UnsafePointer(d + i)), dxr + i); i += w
                }
                while i < inner { dxr[i] = dyr[i] - exps[i] * d[i]; i += 1 }
            }
        }
    }
}

/// `sum_j a_j b_j` in double blocks.
@inlinable
func rowDot<T: KernelScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> Double {
    var total = 0.0, i = 0
    while i < n {
        let end = min(n, i + accumulationBlock)
        var acc = T.Vector(repeating: 0)
        while i + T.width <= end { acc += vload(a + i) * vload(b + i); i += T.width }
        total += Double(T.hsum(acc))
        while i < end { total += Double(a[i]) * Double(b[i]); i += 1 }
    }
    return total
}

/// `sum_j a_j` in double blocks.
@inlinable
func rowSum<T: KernelScalar>(_ a: UnsafePointer<T>, _ n: Int) -> Double {
    var total = 0.0, i = 0
    while i < n {
        let end = min(n, i + accumulationBlock)
        var acc = T.Vector(repeating: 0)
        while i + T.width <= end { acc += vload(a + i); i += T.width }
        total += Double(T.hsum(acc))
        while i < end { total += Double(a[i]); i += 1 }
    }
    return total
}
