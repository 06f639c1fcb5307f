import SoftmaxKitSIMD

/// One `n`-byte pattern shared by every column: row `j` takes part when
/// `mask[j]` is nonzero.
@usableFromInline
struct PatternRows: ColumnSelection {
    @usableFromInline let mask: UnsafePointer<UInt8>
    @inlinable init(_ mask: UnsafePointer<UInt8>) { self.mask = mask }
    @inlinable @inline(__always) func block(at offset: Int) -> PatternRows { self }
    @inlinable @inline(__always) func takes(row j: Int) -> Bool { mask[j] != 0 }
    @inlinable @inline(__always)
    func pick<T: KernelScalar>(row j: Int, _ v: T.Vector, at: Int, lanes: Int, else fill: T) -> T.Vector {
        mask[j] != 0 ? v : T.Vector(repeating: fill)
    }
}

/// A full-shape mask laid out as `x`: one byte per element.
@usableFromInline
struct MaskLanes: ColumnSelection {
    @usableFromInline let mask: UnsafePointer<UInt8>
    @inlinable init(_ mask: UnsafePointer<UInt8>) { self.mask = mask }
    @inlinable @inline(__always) func block(at offset: Int) -> MaskLanes { MaskLanes(mask + offset) }
    @inlinable @inline(__always) func takes(row j: Int) -> Bool { true }
    @inlinable @inline(__always)
    func pick<T: KernelScalar>(row j: Int, _ v: T.Vector, at: Int, lanes: Int, else fill: T) -> T.Vector {
        let m = lanes == T.width ? mload(mask + at, T.self) : mloadPartial(mask + at, lanes, T.self)
        return T.vselect(m, v, T.Vector(repeating: fill))
    }
}

