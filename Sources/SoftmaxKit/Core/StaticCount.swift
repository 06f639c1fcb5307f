/// A count known at compile time, as a type parameter: how many vectors a
/// short row or a column block spans, a matrix-product tile's rows or
/// vectors. Each count gets its own specialised loop, with the unused slots
/// compiled away and the tests on the count folded (as runtime tests they
/// were a third of a masked call over 32 float columns).
@usableFromInline protocol StaticCount { static var count: Int { get } }
@usableFromInline enum Count0: StaticCount { @inlinable static var count: Int { 0 } }
@usableFromInline enum Count1: StaticCount { @inlinable static var count: Int { 1 } }
@usableFromInline enum Count2: StaticCount { @inlinable static var count: Int { 2 } }
@usableFromInline enum Count3: StaticCount { @inlinable static var count: Int { 3 } }
@usableFromInline enum Count4: StaticCount { @inlinable static var count: Int { 4 } }
@usableFromInline enum Count5: StaticCount { @inlinable static var count: Int { 5 } }
@usableFromInline enum Count6: StaticCount { @inlinable static var count: Int { 6 } }
@usableFromInline enum Count7: StaticCount { @inlinable static var count: Int { 7 } }
@usableFromInline enum Count8: StaticCount { @inlinable static var count: Int { 8 } }
