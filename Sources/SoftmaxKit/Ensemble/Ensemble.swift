/// Averaging the outputs of M ensemble members, each a
/// tensor of the same `(outer, n, inner)` extents, `n` the class axis:
///
///   arithmetic  y = (1/M) sum_m p_m
///   geometric   y = softmax_n((1/M) sum_m log p_m)   (renormalised geometric mean;
///               a class some member gives probability 0 gets 0)
///   logits      y = softmax_n((1/M) sum_m x_m)        (members are logits)

/// How ``ensembleMean(_:into:extents:mode:)`` combines its members.
public enum EnsembleMode: Int32, CaseIterable, Sendable {
    case arithmetic = 0
    case geometric = 1
    case logits = 2

    /// "arithmetic", "geometric" or "logits" (the Python `mode=` spelling).
    public var name: String {
        switch self {
        case .arithmetic: "arithmetic"
        case .geometric: "geometric"
        case .logits: "logits"
        }
    }

    /// The mode spelled `name`, or nil.
    public init?(name: String) {
        guard let m = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = m
    }
}

/// Combines `members` (each `extents.count` elements) into `y`. `y` may be
/// `members[0]` exactly but must not overlap any other member.
/// - Throws: `.invalidArgument` for no members or overlapping buffers;
///   `.shapeMismatch` when a member or `y` is shorter than `extents.count`.
///   Nothing is written when it throws.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func ensembleMean<T: KernelScalar>(
    _ members: [UnsafeBufferPointer<T>], into y: UnsafeMutableBufferPointer<T>,
    extents: Extents, mode: EnsembleMode = .arithmetic
) throws(SoftmaxKitError) {
    guard !members.isEmpty else { throw .invalid("an ensemble needs at least one member") }
    let count = extents.count, bytes = count * MemoryLayout<T>.stride
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
    let yp = y.baseAddress!
    // Scratch for the final softmax is allocated before anything is written.
    let f = try Fibres<T>(extents, slots: 2)
    defer { f.free() }
    if mode == .geometric {
        let p0 = members[0].baseAddress!
        for j in 0..<count { yp[j] = T.libmLog(p0[j]) }
        for m in members.dropFirst() {
            let p = m.baseAddress!
            for j in 0..<count { yp[j] += T.libmLog(p[j]) }
        }
    } else {
        if UnsafePointer(yp) != members[0].baseAddress! { yp.update(from: members[0].baseAddress!, count: count) }
        for m in members.dropFirst() { rowAdd(m.baseAddress!, yp, count) }
    }
    let invM = T(1) / T(members.count)
    if mode == .arithmetic {
        rowScale(yp, yp, count, invM)
        return
    }
    // softmax(sum / M) is softmax(sum) at temperature M: the 1/M rides on the
    // normalizer's scale instead of a pass of its own.
    for r in 0..<f.count {
        let yr = f.target(yp, r, slot: 1)
        Normalizer<T>.row(.softmax, f.read(yp, r, slot: 0), yr, extents.n, readable: extents.n, invT: invM)
        f.commit(yp, r, slot: 1)
    }
}

/// Combines member arrays of one `shape`; `axis` is the class axis the
/// geometric and logits modes renormalise over.
public func ensembleMean<T: KernelScalar>(
    _ members: [[T]], shape: [Int]? = nil, axis: Int = -1, mode: EnsembleMode = .arithmetic
) throws(SoftmaxKitError) -> [T] {
    guard let first = members.first else { throw .invalid("an ensemble needs at least one member") }
    for (k, m) in members.enumerated() where m.count != first.count {
        throw .shape("members[\(k)] holds \(m.count) elements but members[0] holds \(first.count)")
    }
    let e = try Extents(shape: shape ?? [first.count], axis: axis)
    try checkCount("members[0]", first.count, e.count)
    var y = [T](repeating: 0, count: first.count)
    try y.withUnsafeMutableBufferPointer { (yb) throws(SoftmaxKitError) in
        try withBuffers(members[...], []) { (bufs) throws(SoftmaxKitError) in
            try ensembleMean(bufs, into: yb, extents: e, mode: mode)
        }
    }
    return y
}

/// Buffer views of every array, valid inside `body`.
private func withBuffers<T>(
    _ arrays: ArraySlice<[T]>, _ acc: [UnsafeBufferPointer<T>],
    _ body: ([UnsafeBufferPointer<T>]) throws(SoftmaxKitError) -> Void
) throws(SoftmaxKitError) {
    guard let head = arrays.first else { return try body(acc) }
    try head.withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in
        try withBuffers(arrays.dropFirst(), acc + [b], body)
    }
}

/// `y[j] += x[j]` over `n` elements.
@inlinable
func rowAdd<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
    let w = T.width
    var i = 0
    while i + w <= n { vstore(vload(UnsafePointer(y + i)) + vload(x + i), y + i); i += w }
    while i < n { y[i] += x[i]; i += 1 }
}
