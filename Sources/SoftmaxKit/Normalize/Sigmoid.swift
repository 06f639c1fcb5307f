/// Element-wise sigmoid and log-sigmoid.
///
///   sigmoid(x)     = 1 / (1 + e^-x)           for x >= 0
///                  = e^x / (1 + e^x)          for x < 0
///   log_sigmoid(x) = min(x, 0) - log1p(e^-|x|)
/// Both forms only ever exponentiate `-|x|`, so nothing overflows: sigmoid
/// saturates to exactly 0 and 1, and `log_sigmoid(-1e4) == -1e4`.

/// Sigmoid of `count` elements from `x` into `y` (`y` may be `x`).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func sigmoid<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, count: Int
) throws(SoftmaxKitError) {
    try elementwise(x, y, count) { sigmoidKernel($0, $1, $2) }
}

/// Log-sigmoid of `count` elements from `x` into `y` (`y` may be `x`).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logSigmoid<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, count: Int
) throws(SoftmaxKitError) {
    try elementwise(x, y, count, logSigmoidKernel)
}

/// Sigmoid of every element of an array.
public func sigmoid<T: KernelScalar>(_ x: [T]) -> [T] {
    // Cannot throw: the buffers are fresh and exactly x.count long.
    try! mapArray(x) { (xb, yb) throws(SoftmaxKitError) in try sigmoid(xb, into: yb, count: x.count) }
}

/// Log-sigmoid of every element of an array.
public func logSigmoid<T: KernelScalar>(_ x: [T]) -> [T] {
    try! mapArray(x) { (xb, yb) throws(SoftmaxKitError) in try logSigmoid(xb, into: yb, count: x.count) }
}

/// Checks the buffers, then runs `kernel` over `count` elements in parallel
/// slices (nothing is written unless the checks pass).
@inlinable
func elementwise<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ count: Int,
    _ kernel: (UnsafePointer<T>, UnsafeMutablePointer<T>, Int) -> Void
) throws(SoftmaxKitError) {
    try checkElementwise(x, y, count)
    guard count > 0 else { return }
    let xp = x.baseAddress!, yp = y.baseAddress!
    // Threads split at multiples of the sigmoid's 1024-element blocks, so each
    // block takes the same exp path (and gives the same bits) at any thread count.
    let blocks = (count + sigmoidBlock - 1) / sigmoidBlock
    parallelFor(blocks, work: count) { r in
        let lo = r.lowerBound * sigmoidBlock, hi = min(count, r.upperBound * sigmoidBlock)
        kernel(xp + lo, yp + lo, hi - lo)
    }
}

@usableFromInline
func checkElementwise<T>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, _ count: Int) throws(SoftmaxKitError) {
    guard count >= 0 else { throw .invalid("count must be non-negative, got \(count)") }
    try checkCount("x", x.count, count)
    try checkCount("y", y.count, count)
    try checkAliasing(x, y, count: count)
}

/// Elements per exp-path decision in `sigmoidKernel`.
@usableFromInline let sigmoidBlock = 1024

/// Blocks of 1024 elements whose largest |x| keeps e^-|x| normal (almost
/// always) take the cheaper exp; a block holding a huge, infinite or NaN
/// value takes the full-range one (NaN is not <= the limit).
/// With `streaming`, y is written by `rowStream` (the caller fences); the
/// ends of each block then take the block's exp, like its middle.
@inlinable
func sigmoidKernel<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ count: Int,
                                    streaming: Bool = false) {
    let w = T.width
    var start = 0
    while start < count {
        let end = min(count, start + sigmoidBlock)
        var i = start
        var big = T.Vector(repeating: 0)
        while i + w <= end { big = T.vmax(big, T.vabs(vload(x + i))); i += w }
        // One max-|x| reduction, not rowMinMax: measured cheaper on the short
        // sigmoid segments of partitioned rows. NaN may take either path
        // (both propagate it); +-inf may not.
        var normal = T.hmax(big) <= T.expNormalLimit
        while i < end { if !(abs(x[i]) <= T.expNormalLimit) && !x[i].isNaN { normal = false }; i += 1 }
        i = start
        if streaming {
            let xs = x + start
            if normal {
                rowStream(y + start, end - start, vector: { T.vsigmoidNormal(vload(xs + $0)) },
                          scalar: { T.vsigmoidNormal(T.Vector(repeating: xs[$0]))[0] })
            } else {
                rowStream(y + start, end - start, vector: { T.vsigmoid(vload(xs + $0)) },
                          scalar: { T.vsigmoid(T.Vector(repeating: xs[$0]))[0] })
            }
            start = end
            continue
        }
        if normal {
            while i + w <= end { vstore(T.vsigmoidNormal(vload(x + i)), y + i); i += w }
        } else {
            while i + w <= end { vstore(T.vsigmoid(vload(x + i)), y + i); i += w }
        }
        if i < end {
            vstorePartial(T.vsigmoid(vloadPartial(x + i, end - i, fill: 0)), y + i, end - i)
        }
        start = end
    }
}

/// Scalar on purpose: log1p of tiny values needs libm's accuracy, and this is
/// not a hot path of any model head.
@inlinable
func logSigmoidKernel<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ count: Int) {
    for i in 0..<count {
        let v = x[i]
        if v.isNaN { y[i] = v; continue }
        let lower: T = v < 0 ? v : 0
        y[i] = lower - T.libmLog1p(T.libmExp(-abs(v)))
    }
}
