/// Philox-4x32-10, the counter-based generator of Salmon, Moraes, Dror and
/// Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), as
/// Random123, cuRAND and JAX define it: a pure function of a 128-bit counter
/// and a 64-bit key, so any draw of any row is computed on its own, by any
/// thread, in any order.
///
/// The sampling stream (the C header documents it for other implementations):
///
///   key     = (seed & 0xffffffff, seed >> 32)
///   counter = (draw & 0xffffffff, draw >> 32, row & 0xffffffff, row >> 32)
///   (x0, x1, x2, x3) = philox4x32_10(counter, key)
///   u       = ((UInt64(x1) << 32 | UInt64(x0)) >> 11) * 2^-53,   0 <= u < 1
///
/// where `row` is the stream row (the call's `rowOffset` plus the fibre's
/// index `o * inner + i`) and `draw` the draw's index within its fibre.
public enum Philox {
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// One Philox-4x32-10 block: ten rounds over `counter` under `key`.
    @inlinable
    public static func block(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32))
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for round in 0..<10 {
            if round > 0 { k0 &+= w0; k1 &+= w1 }
            let p0 = UInt64(m0) &* UInt64(c0), p1 = UInt64(m1) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    /// The uniform in `[0, 1)` (53 random bits) of draw `draw` of stream row
    /// `row` under `seed`.
    @inlinable @inline(__always)
    public static func uniform(seed: UInt64, row: UInt64, draw: UInt64) -> Double {
        let x = block(counter: (UInt32(truncatingIfNeeded: draw), UInt32(truncatingIfNeeded: draw >> 32),
                                UInt32(truncatingIfNeeded: row), UInt32(truncatingIfNeeded: row >> 32)),
                      key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
        let bits = (UInt64(x.1) << 32 | UInt64(x.0)) >> 11
        return Double(bits) * 0x1p-53
    }
}
