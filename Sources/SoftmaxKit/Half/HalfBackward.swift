/// softmax, log-softmax and sigmoid backward, and ensemble averaging, on
/// float16 and bfloat16 tensors through ``HalfBlocks``: the half inputs are
/// widened block by block into float32 scratch, the float32 kernel runs on
/// the block (its sums in double, as for float32) and each output is rounded
/// once to nearest even into the half type. Same arguments, edge cases and
/// errors as the float32 functions.

// MARK: Backward

/// Softmax backward of half tensors over the `n` extent (`dx` may be `y` or
/// `dy`); errors as ``softmaxBackward(y:dy:into:extents:)``.
///
/// Unlike the other half operations this one does not call the float32
/// kernel on the widened block: that kernel rounds `sum_j dy_j y_j` to
/// float32 before `dy - sum`, and where the two nearly cancel that rounding
/// is several half ulps of `dx`. Here the products of the half values are
/// exact in double, the sum and `y * (dy - sum)` are taken in double and
/// rounded once to float32 (then once to half): within 1 ulp.
public func softmaxBackward<H: HalfFloat>(
    y: UnsafeBufferPointer<H>, dy: UnsafeBufferPointer<H>, into dx: UnsafeMutableBufferPointer<H>, extents: Extents
) throws(SoftmaxKitError) {
    try halfBackward(y, dy, dx, extents) { (a, b, c, e) throws(SoftmaxKitError) in
        let yp = a.baseAddress!, dp = b.baseAddress!, xp = c.baseAddress!, n = e.n, inner = e.inner
        for o in 0..<e.outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var d = 0.0
                for j in 0..<n { d += Double(yp[base + j * inner]) * Double(dp[base + j * inner]) }
                for j in 0..<n {
                    let at = base + j * inner
                    xp[at] = Float(Double(yp[at]) * (Double(dp[at]) - d))
                }
            }
        }
    }
}

/// Log-softmax backward of half tensors over the `n` extent (`dx` may be
/// `y` or `dy`); errors as ``logSoftmaxBackward(y:dy:into:extents:)``.
public func logSoftmaxBackward<H: HalfFloat>(
    y: UnsafeBufferPointer<H>, dy: UnsafeBufferPointer<H>, into dx: UnsafeMutableBufferPointer<H>, extents: Extents
) throws(SoftmaxKitError) {
    try halfBackward(y, dy, dx, extents) { (a, b, c, e) throws(SoftmaxKitError) in
        try logSoftmaxBackward(y: a, dy: b, into: c, extents: e)
    }
}

/// Sigmoid backward of `count` half elements (`dx` may be `y` or `dy`);
/// errors as ``sigmoidBackward(y:dy:into:count:)``.
public func sigmoidBackward<H: HalfFloat>(
    y: UnsafeBufferPointer<H>, dy: UnsafeBufferPointer<H>, into dx: UnsafeMutableBufferPointer<H>, count: Int
) throws(SoftmaxKitError) {
    guard count >= 0 else { throw .invalid("count must be non-negative, got \(count)") }
    try halfBackward(y, dy, dx, Extents(checked: count, 1, 1)) { (a, b, c, e) throws(SoftmaxKitError) in
        try sigmoidBackward(y: a, dy: b, into: c, count: e.count)
    }
}

/// Softmax backward of half arrays of one `shape` over `axis`.
public func softmaxBackward<H: HalfFloat>(y: [H], dy: [H], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [H] {
    try halfBackwardArray(y, dy, shape, axis) { (a, b, c, e) throws(SoftmaxKitError) in
        try softmaxBackward(y: a, dy: b, into: c, extents: e)
    }
}

/// Log-softmax backward of half arrays of one `shape` over `axis`.
public func logSoftmaxBackward<H: HalfFloat>(y: [H], dy: [H], shape: [Int]? = nil, axis: Int = -1) throws(SoftmaxKitError) -> [H] {
    try halfBackwardArray(y, dy, shape, axis) { (a, b, c, e) throws(SoftmaxKitError) in
        try logSoftmaxBackward(y: a, dy: b, into: c, extents: e)
    }
}

/// Sigmoid backward of half arrays, element-wise.
public func sigmoidBackward<H: HalfFloat>(y: [H], dy: [H]) throws(SoftmaxKitError) -> [H] {
    try halfBackwardArray(y, dy, nil, -1) { (a, b, c, e) throws(SoftmaxKitError) in
        try sigmoidBackward(y: a, dy: b, into: c, count: e.count)
    }
}

/// Checks the three buffers as the float32 backward does, then runs the
/// float32 `op` on each widened block of `outer` slices.
func halfBackward<H: HalfFloat>(
    _ y: UnsafeBufferPointer<H>, _ dy: UnsafeBufferPointer<H>, _ dx: UnsafeMutableBufferPointer<H>, _ e: Extents,
    _ op: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) {
    try checkCount("y", y.count, e.count)
    try checkCount("dy", dy.count, e.count)
    try checkCount("dx", dx.count, e.count)
    try checkAliasing(y, dx, count: e.count, names: ("y", "dx"))
    try checkAliasing(dy, dx, count: e.count, names: ("dy", "dx"))
    guard e.count > 0 else { return }
    let per = e.n * e.inner
    try HalfBlocks.run(H.halfFormat, slices: e.outer, inputs: [(halfBits(y)!, per), (halfBits(dy)!, per)],
                       outputs: [(halfBits(dx)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count * per
        try op(UnsafeBufferPointer(start: ins[0], count: c), UnsafeBufferPointer(start: ins[1], count: c),
               UnsafeMutableBufferPointer(start: outs[0], count: c), Extents(checked: r.count, e.n, e.inner))
    }
}

func halfBackwardArray<H: HalfFloat>(
    _ y: [H], _ dy: [H], _ shape: [Int]?, _ axis: Int,
    _ op: (UnsafeBufferPointer<H>, UnsafeBufferPointer<H>, UnsafeMutableBufferPointer<H>, Extents) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) -> [H] {
    guard y.count == dy.count else { throw .shape("dy holds \(dy.count) elements but y holds \(y.count)") }
    return try halfMapArray(y, shape, axis) { (yb, dxb, e) throws(SoftmaxKitError) in
        try dy.withUnsafeBufferPointer { (db) throws(SoftmaxKitError) in try op(yb, db, dxb, e) }
    }
}

// MARK: Ensembles

/// Combines half `members` (each `extents.count` elements) into `y` as
/// ``ensembleMean(_:into:extents:mode:)``: `y` may be `members[0]` exactly
/// but must not overlap another member. Same errors, plus `.outOfMemory`
/// for scratch.
public func ensembleMean<H: HalfFloat>(
    _ members: [UnsafeBufferPointer<H>], into y: UnsafeMutableBufferPointer<H>,
    extents: Extents, mode: EnsembleMode = .arithmetic
) throws(SoftmaxKitError) {
    guard !members.isEmpty else { throw .invalid("an ensemble needs at least one member") }
    let count = extents.count, bytes = count * MemoryLayout<H>.stride
    for (k, m) in members.enumerated() {
        try checkCount("members[\(k)]", m.count, count)
        if k == 0 {
            try checkAliasing(m, y, count: count, names: ("members[0]", "y"))
        } else {
            try checkDisjoint(UnsafeRawPointer(m.baseAddress), bytes, UnsafeRawPointer(y.baseAddress), bytes,
                              names: ("members[\(k)]", "y"))
        }
    }
    try checkCount("y", y.count, count)
    guard count > 0 else { return }
    let per = extents.n * extents.inner
    try HalfBlocks.run(H.halfFormat, slices: extents.outer, inputs: members.map { (halfBits($0)!, per) },
                       outputs: [(halfBits(y)!, per)]) { (r, ins, outs) throws(SoftmaxKitError) in
        let c = r.count * per
        try ensembleMean(ins.map { UnsafeBufferPointer(start: $0, count: c) },
                         into: UnsafeMutableBufferPointer(start: outs[0], count: c),
                         extents: Extents(checked: r.count, extents.n, extents.inner), mode: mode)
    }
}

/// Combines half member arrays of one `shape`; `axis` is the class axis.
public func ensembleMean<H: HalfFloat>(
    _ members: [[H]], shape: [Int]? = nil, axis: Int = -1, mode: EnsembleMode = .arithmetic
) throws(SoftmaxKitError) -> [H] {
    guard let first = members.first else { throw .invalid("an ensemble needs at least one member") }
    for (k, m) in members.enumerated() where m.count != first.count {
        throw .shape("members[\(k)] holds \(m.count) elements but members[0] holds \(first.count)")
    }
    // The members' storage, valid for the call: copied into one buffer.
    let count = first.count
    var joined = [H]()
    joined.reserveCapacity(count * members.count)
    for m in members { joined.append(contentsOf: m) }
    return try joined.withUnsafeBufferPointer { (all) throws(SoftmaxKitError) -> [H] in
        let views = (0..<members.count).map { UnsafeBufferPointer(rebasing: all[($0 * count)..<(($0 + 1) * count)]) }
        return try halfMapArray(first, shape, axis) { (_, yb, e) throws(SoftmaxKitError) in
            try ensembleMean(views, into: yb, extents: e, mode: mode)
        }
    }
}
