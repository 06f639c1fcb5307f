/// The one limit on how many elements a tensor, a buffer or a count from
/// C may hold, and the one checked product that enforces it, for the core,
/// the C ABI and the command-line tool alike (`@_spi(CABI) import`).

/// The most elements any tensor may hold: the byte count of that many 8-byte
/// elements must still fit in an `Int`.
@_spi(CABI) public let maxElementCount = Int.max / 8

/// `a * b * c` as an element count, or nil when a product overflows or the
/// result exceeds `maxElementCount`.
@inlinable
@_spi(CABI) public func elementCount(_ a: Int, _ b: Int, _ c: Int = 1) -> Int? {
    let (ab, o1) = a.multipliedReportingOverflow(by: b)
    let (abc, o2) = ab.multipliedReportingOverflow(by: c)
    return o1 || o2 || abc > maxElementCount ? nil : abc
}

/// The product of `factors` (a shape) as an element count, or nil when a
/// partial product overflows or exceeds `maxElementCount`.
@inlinable
@_spi(CABI) public func elementCount<S: Sequence<Int>>(_ factors: S) -> Int? {
    var p = 1
    for f in factors {
        guard let q = elementCount(p, f) else { return nil }
        p = q
    }
    return p
}

/// The product of `factors`, or nil when it overflows `Int` (no element
/// limit: the outer or inner extent of a shape, limited with the rest).
@inlinable
@_spi(CABI) public func product<S: Sequence<Int>>(_ factors: S) -> Int? {
    var p = 1
    for f in factors {
        let (q, o) = p.multipliedReportingOverflow(by: f)
        if o { return nil }
        p = q
    }
    return p
}
