/// The logit, the inverse of the sigmoid, element-wise:
///
///   logit(p) = log(p / (1 - p))                for p outside (0.3, 0.65)
///            = log1p(2 (p - 0.5) / (1 - p))    inside, where the quotient is
///                                              near 1 and log would lose digits
/// (scipy.special.logit's formula). `logit(0) == -inf`, `logit(1) == +inf`;
/// outside `[0, 1]` and for NaN the result is NaN.

/// Logit of `count` elements from `x` into `y` (`y` may be `x`).
/// - Throws: `.invalidArgument` for a negative count or partially
///   overlapping buffers; `.shapeMismatch` for buffers shorter than `count`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func logit<T: KernelScalar>(
    _ x: UnsafeBufferPointer<T>, into y: UnsafeMutableBufferPointer<T>, count: Int
) throws(SoftmaxKitError) {
    try elementwise(x, y, count, logitKernel)
}

/// Logit of every element of an array.
public func logit<T: KernelScalar>(_ x: [T]) -> [T] {
    // Cannot throw: the buffers are fresh and exactly x.count long.
    try! mapArray(x) { (xb, yb) throws(SoftmaxKitError) in try logit(xb, into: yb, count: x.count) }
}

/// Scalar libm on purpose, as log-sigmoid: log and log1p near 0 and 1 need
/// libm's accuracy.
@inlinable
func logitKernel<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ count: Int) {
    for i in 0..<count {
        let p = x[i]
        if p > 0.3 && p < 0.65 {
            y[i] = T.libmLog1p(2 * (p - 0.5) / (1 - p))
        } else {
            y[i] = T.libmLog(p / (1 - p))
        }
    }
}
