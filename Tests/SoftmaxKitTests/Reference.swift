#if canImport(Glibc)
import Glibc
#endif
import SoftmaxKit

// Wide-type references: the result is computed in Float80 (x87 extended) for
// both Float and Double kernels, then compared with a stated bound.

func refSoftmax<T: BinaryFloatingPoint>(_ x: [T], temperature: T = 1) -> [Float80] {
    let v = x.map { Float80($0) / Float80(temperature) }
    let m = v.max() ?? 0
    let e = v.map { expl($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

func refLogSoftmax<T: BinaryFloatingPoint>(_ x: [T], temperature: T = 1) -> [Float80] {
    let v = x.map { Float80($0) / Float80(temperature) }
    let m = v.max() ?? 0
    let s = v.map { expl($0 - m) }.reduce(0, +)
    return v.map { $0 - m - logl(s) }
}

/// Largest |got - want| / max(|want|, floor) over the arrays.
func maxRelError<T: BinaryFloatingPoint>(_ got: [T], _ want: [Float80], floor: Float80 = 1e-30) -> Float80 {
    var worst: Float80 = 0
    for (g, w) in zip(got, want) {
        let err = abs(Float80(g) - w) / max(abs(w), floor)
        if err > worst { worst = err }
    }
    return worst
}

/// Deterministic pseudo-random values in [-scale, scale] (SplitMix64).
func randomValues<T: BinaryFloatingPoint>(_ count: Int, seed: UInt64, scale: Double = 10) -> [T] {
    var state = seed
    return (0..<count).map { _ in
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return T((Double(z >> 11) / Double(1 << 53) * 2 - 1) * scale)
    }
}

/// Row lengths 0...70 and around every vector width and block size.
let rowLengths: [Int] = Array(0...70) + [127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 4099]
