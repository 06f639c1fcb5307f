import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

// Half precision of the structured operations (hardmax, partitioned,
// segment, hierarchical, masked with lengths) for Float16 and BFloat16:
// against a float64 reference on the widened half inputs, rounded once to
// the half type; edge cases against the float32 function; bad arguments.

/// A Double rounded to nearest even into bfloat16 bits (from the format's
/// definition: 8 significant bits, float32's exponent range).
private func bf16Bits(_ v: Double) -> UInt16 {
    let sign: UInt16 = v.sign == .minus ? 0x8000 : 0
    if v.isNaN { return sign | 0x7fc0 }
    let a = abs(v)
    if a >= (2 - 0x1p-8) * 0x1p127 { return sign | 0x7f80 }
    if a < 0x1p-126 { return sign | UInt16((a * 0x1p133).rounded(.toNearestOrEven)) }
    let e = Int(a.exponent)
    let q = Int((a * pow(2, Double(7 - e))).rounded(.toNearestOrEven))
    return sign | UInt16(((e + 127) << 7) + q - 128)
}

/// `v` correctly rounded into H's bits.
private func roundBits<H: HalfFloat>(_ v: Double, _: H.Type) -> UInt16 {
    H.halfFormat == .binary16 ? Float16(v).bitPattern : bf16Bits(v)
}

private func half<H: HalfFloat>(_ v: Double, _: H.Type) -> H { unsafeBitCast(roundBits(v, H.self), to: H.self) }

private func bits<H: HalfFloat>(_ h: H) -> UInt16 { unsafeBitCast(h, to: UInt16.self) }

private func wide<H: HalfFloat>(_ h: H) -> Double {
    H.halfFormat == .binary16 ? Double(Float16(bitPattern: bits(h))) : Double(BFloat16(bitPattern: bits(h)).floatValue)
}

private func isNaNBits<H: HalfFloat>(_ b: UInt16, _: H.Type) -> Bool {
    H.halfFormat == .binary16 ? (b & 0x7c00 == 0x7c00 && b & 0x3ff != 0) : (b & 0x7f80 == 0x7f80 && b & 0x7f != 0)
}

/// Worst distance in ulps of `got` from `ref` rounded once into H (NaN meets NaN only: Int.max otherwise).
private func worstUlps<H: HalfFloat>(_ got: [H], _ ref: [Double]) -> Int {
    func ordered(_ x: UInt16) -> Int { x & 0x8000 != 0 ? -Int(x & 0x7fff) : Int(x) }
    var worst = 0
    for (g, r) in zip(got, ref) {
        let a = bits(g), b = roundBits(r, H.self)
        let an = isNaNBits(a, H.self), bn = isNaNBits(b, H.self)
        let d = an || bn ? (an && bn ? 0 : Int.max) : abs(ordered(a) - ordered(b))
        worst = max(worst, d)
    }
    return worst
}

private func randomValues(_ count: Int, seed: UInt64, scale: Double = 8) -> [Double] {
    var s = seed &* 0x9e3779b97f4a7c15 | 1
    return (0..<count).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Double(s >> 11) / 0x1p53 * 2 - 1) * scale
    }
}

private func refSoftmax(_ v: ArraySlice<Double>) -> [Double] {
    guard let m = v.max() else { return [] }
    if v.contains(where: \.isNaN) { return v.map { _ in .nan } }
    let s = v.reduce(0) { $0 + exp($1 - m) }
    return v.map { exp($0 - m) / s }
}

private func refLogSoftmax(_ v: ArraySlice<Double>) -> [Double] {
    guard let m = v.max() else { return [] }
    if v.contains(where: \.isNaN) { return v.map { _ in .nan } }
    let s = v.reduce(0) { $0 + exp($1 - m) }
    return v.map { $0 - m - log(s) }
}

/// `f` applied to every fibre of `x` viewed as (outer, n, inner); `f` gets the fibre and its index.
private func fibreMap(_ x: [Double], _ outer: Int, _ n: Int, _ inner: Int, _ f: ([Double], Int) -> [Double]) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let fibre = (0..<n).map { x[(o * n + $0) * inner + i] }
            let r = f(fibre, o * inner + i)
            for j in 0..<n { y[(o * n + j) * inner + i] = r[j] }
        }
    }
    return y
}

/// One of each kind: the name and the worst ulp distance found (printed for the record).
private func record(_ name: String, _ format: HalfFormat, _ worst: Int) {
    print("half structured \(name) \(format): worst \(worst) ulp")
    #expect(worst <= 1, "\(name) \(format): \(worst) ulps")
}

private func code(_ body: () throws(SoftmaxKitError) -> Void) -> SoftmaxKitError.Kind? {
    do throws(SoftmaxKitError) { try body(); return nil } catch { return error.kind }
}

private let shapes: [(Int, Int, Int)] = [(7, 13, 1), (3, 40, 1), (2, 9, 5), (65, 300, 1)]

@Suite("float16 and bfloat16: structured operations")
struct HalfStructuredTests {
    func against<H: HalfFloat>(_: H.Type) throws {
        var worst = [String: Int]()
        func note(_ k: String, _ w: Int) { worst[k] = max(worst[k] ?? 0, w) }
        for (seed, (outer, n, inner)) in shapes.enumerated() {
            let x = randomValues(outer * n * inner, seed: UInt64(seed + 1)).map { half($0, H.self) }
            let xd = x.map(wide)
            let shape = inner == 1 ? [outer, n] : [outer, n, inner], axis = inner == 1 ? -1 : 1
            // Hardmax: exact.
            let hm = try hardmax(x, shape: shape, axis: axis)
            note("hardmax", worstUlps(hm, fibreMap(xd, outer, n, inner) { f, _ in
                let a = f.indices.first { f[$0] == f.max()! }!
                return f.indices.map { $0 == a ? 1 : 0 }
            }))
            // Partitioned: every activation, a zero width.
            let w = [n / 4, 0, n / 4, n / 6, n / 6]
            let layout = [PartitionSegment(width: w[0], activation: .softmax), PartitionSegment(width: 0, activation: .logSoftmax),
                          PartitionSegment(width: w[2], activation: .logSoftmax), PartitionSegment(width: w[3], activation: .sigmoid),
                          PartitionSegment(width: w[4], activation: .tanh),
                          PartitionSegment(width: n - w.reduce(0, +), activation: .identity)]
            let p = try partitioned(x, layout: layout, shape: shape, axis: axis)
            note("partitioned", worstUlps(p, fibreMap(xd, outer, n, inner) { f, _ in
                var out: [Double] = [], at = 0
                for s in layout {
                    let seg = f[at..<(at + s.width)]
                    at += s.width
                    switch s.activation {
                    case .identity: out += seg
                    case .softmax: out += refSoftmax(seg)
                    case .logSoftmax: out += refLogSoftmax(seg)
                    case .sigmoid: out += seg.map { 1 / (1 + exp(-$0)) }
                    case .tanh: out += seg.map { tanh($0) }
                    }
                }
                return out
            }))
            // Segment softmax with an empty group.
            let offsets = [0, n / 3, n / 3, n - 1, n]
            let sg = try segmentSoftmax(x, offsets: offsets, shape: shape, axis: axis)
            note("segment_softmax", worstUlps(sg, fibreMap(xd, outer, n, inner) { f, _ in
                (0..<(offsets.count - 1)).flatMap { refSoftmax(f[offsets[$0]..<offsets[$0 + 1]]) }
            }))
            // Masked with lengths: 0, n and in between.
            let fibres = outer * inner
            let lengths = (0..<fibres).map { ($0 * 7) % (n + 1) }
            for mode in 0..<3 {
                let got: [H]
                if mode == 2 {
                    got = try maskedLogSoftmax(x, lengths: lengths, shape: shape, axis: axis)
                } else {
                    got = try maskedSoftmax(x, lengths: lengths, shape: shape, axis: axis, renormalize: mode == 0)
                }
                let ref = fibreMap(xd, outer, n, inner) { f, k in
                    let l = lengths[k]
                    switch mode {
                    case 0: return refSoftmax(f[0..<l]) + Array(repeating: 0, count: n - l)
                    case 1: return refSoftmax(f[...]).enumerated().map { $0.offset < l ? $0.element : 0 }
                    default: return refLogSoftmax(f[0..<l]) + Array(repeating: -.infinity, count: n - l)
                    }
                }
                note(["masked_softmax_lengths", "masked_softmax_lengths(renormalize=false)", "masked_log_softmax_lengths"][mode],
                     worstUlps(got, ref))
            }
            // Hierarchical: joint and conditional.
            let sizes = [1, n / 2, n - n / 2 - 1].filter { $0 > 0 }
            let batch = outer * inner, width = sizes.reduce(0, +)
            let c = randomValues(batch * sizes.count, seed: UInt64(seed + 50)).map { half($0, H.self) }
            let f = Array(x.prefix(batch * width))
            for conditional in [false, true] {
                let y = try hierarchicalSoftmax(coarse: c, fine: f, sizes: sizes, conditional: conditional)
                var ref: [Double] = []
                for b in 0..<batch {
                    let pc = refSoftmax(c[(b * sizes.count)..<((b + 1) * sizes.count)].map(wide)[...])
                    var at = b * width
                    for (k, s) in sizes.enumerated() {
                        ref += refSoftmax(f[at..<(at + s)].map(wide)[...]).map { conditional ? $0 : $0 * pc[k] }
                        at += s
                    }
                }
                note(conditional ? "hierarchical_softmax(conditional)" : "hierarchical_softmax", worstUlps(y, ref))
            }
        }
        for (k, w) in worst.sorted(by: { $0.key < $1.key }) { record(k, H.halfFormat, w) }
    }

    @Test("Float16: within 1 ulp of the float64 reference rounded once")
    func float16Reference() throws { try against(Float16.self) }

    @Test("BFloat16: within 1 ulp of the float64 reference rounded once")
    func bfloat16Reference() throws { try against(BFloat16.self) }

    func edges<H: HalfFloat>(_: H.Type) throws {
        let big = H.halfFormat == .binary16 ? 65504.0 : 3.3895313892515355e38
        let tiny = H.halfFormat == .binary16 ? 0x1p-24 : 0x1p-133
        // Rows: ±max, NaN, -inf, subnormals, an exponential that underflows in half only.
        let rows: [[Double]] = [[big, -big, 0, 1], [.nan, 1, 2, 3], [-.infinity, 0, -.infinity, 1],
                                [tiny, -tiny, 0, 3 * tiny], [0, -17, -18, -30], [-.infinity, -.infinity, -.infinity, -.infinity]]
        let x = rows.flatMap { $0 }.map { half($0, H.self) }
        let xd = x.map(wide), n = 4, shape = [rows.count, n]
        // Whole-row partitions, segment softmax with one group and full lengths
        // agree with the reference softmax / log-softmax (NaN rows NaN).
        let sm = fibreMap(xd, rows.count, n, 1) { f, _ in refSoftmax(f[...]) }
        let lsm = fibreMap(xd, rows.count, n, 1) { f, _ in refLogSoftmax(f[...]) }
        // An all -inf row: the float32 kernels' NaN, as refSoftmax's exp(-inf - -inf).
        #expect(worstUlps(try partitioned(x, layout: [PartitionSegment(width: n, activation: .softmax)], shape: shape), sm) <= 1)
        #expect(worstUlps(try partitioned(x, layout: [PartitionSegment(width: n, activation: .logSoftmax)], shape: shape), lsm) <= 1)
        #expect(worstUlps(try segmentSoftmax(x, offsets: [0, n], shape: shape), sm) <= 1)
        let full = [Int](repeating: n, count: rows.count)
        #expect(worstUlps(try maskedSoftmax(x, lengths: full, shape: shape), sm) <= 1)
        #expect(worstUlps(try maskedLogSoftmax(x, lengths: full, shape: shape), lsm) <= 1)
        // The underflowing row: exp(-17) is a float16 subnormal step, exp(-30) rounds to 0.
        let under = try segmentSoftmax(x, offsets: [0, n], shape: shape)
        if H.halfFormat == .binary16 {
            #expect(bits(under[17]) == 1 && bits(under[19]) == 0)
        }
        // Padding is 0 / -inf whatever it holds (NaN and +inf included); zero length.
        let pad = [1, 2, .nan, .infinity, 3, .nan, 0, 0].map { half($0, H.self) }
        let ps = try maskedSoftmax(pad, lengths: [2, 0], shape: [2, 4])
        #expect(ps[2...].allSatisfy { wide($0) == 0 } && !ps.contains { wide($0).isNaN })
        let pl = try maskedLogSoftmax(pad, lengths: [2, 0], shape: [2, 4])
        #expect(pl[2...].allSatisfy { wide($0) == -.infinity })
        // Hardmax: NaN wins at its first position, ties to the first.
        let hm = try hardmax([1, .nan, 3, .nan, 2, 2].map { half($0, H.self) }, shape: [2, 3])
        #expect(hm.map(wide) == [0, 1, 0, 1, 0, 0])
        // Hierarchical with a NaN coarse row: that row is NaN, the other finite.
        let hy = try hierarchicalSoftmax(coarse: [.nan, 0, 0, 1].map { half($0, H.self) },
                                         fine: [1, 2, 3, 1, 2, 3].map { half($0, H.self) }, sizes: [1, 2])
        #expect(hy[0..<3].allSatisfy { wide($0).isNaN } && hy[3...].allSatisfy { wide($0).isFinite })
        // In place: y == x.
        var inplace = x
        try inplace.withUnsafeMutableBufferPointer { (b) throws(SoftmaxKitError) in
            try segmentSoftmax(UnsafeBufferPointer(b), offsets: [0, n], into: b, extents: Extents(outer: rows.count, n: n))
        }
        #expect(inplace.map(bits) == under.map(bits))
    }

    @Test("Float16 edge cases: ±65504, subnormals, NaN, -inf rows, underflow, padding")
    func float16Edges() throws { try edges(Float16.self) }

    @Test("BFloat16 edge cases")
    func bfloat16Edges() throws { try edges(BFloat16.self) }

    func nearZero<H: HalfFloat>(_: H.Type) throws {
        // One dominant logit per fibre: log-probabilities near 0 (a float16
        // subnormal, a small bfloat16), where a float32 sum of 1 + small is
        // a whole step off.
        let outer = 64, n = 6
        let r = randomValues(outer * n, seed: 99)
        let xd0 = (0..<(outer * n)).map { $0 % n == 0 ? 0 : -12.5 + r[$0] * 0.5 }
        let x = xd0.map { half($0, H.self) }, xd = x.map(wide)
        let lsm = fibreMap(xd, outer, n, 1) { f, _ in refLogSoftmax(f[...]) }
        let p = try partitioned(x, layout: [PartitionSegment(width: n, activation: .logSoftmax)], shape: [outer, n])
        record("partitioned(log_softmax near 0)", H.halfFormat, worstUlps(p, lsm))
        let l = try maskedLogSoftmax(x, lengths: [Int](repeating: n, count: outer), shape: [outer, n])
        record("masked_log_softmax_lengths(near 0)", H.halfFormat, worstUlps(l, lsm))
        // Down a middle axis: (8, n, 8), each fibre's dominant logit at j == 0.
        let xm = (0..<(8 * n * 8)).map { half(($0 / 8) % n == 0 ? 0 : -12.5 + r[$0 % r.count] * 0.5, H.self) }
        let lsmCols = fibreMap(xm.map(wide), 8, n, 8) { f, _ in refLogSoftmax(f[...]) }
        let p3 = try partitioned(xm, layout: [PartitionSegment(width: n, activation: .logSoftmax)], shape: [8, n, 8], axis: 1)
        record("partitioned(log_softmax near 0, middle axis)", H.halfFormat, worstUlps(p3, lsmCols))
        let l3 = try maskedLogSoftmax(xm, lengths: [Int](repeating: n, count: 64), shape: [8, n, 8], axis: 1)
        record("masked_log_softmax_lengths(near 0, middle axis)", H.halfFormat, worstUlps(l3, lsmCols))
    }

    @Test("log-softmax near 0 (a dominant logit) within 1 ulp: Float16")
    func float16NearZero() throws { try nearZero(Float16.self) }

    @Test("log-softmax near 0 (a dominant logit) within 1 ulp: BFloat16")
    func bfloat16NearZero() throws { try nearZero(BFloat16.self) }

    @Test("bad arguments are errors, as for float32")
    func badArguments() {
        let x = [Float16](repeating: 1, count: 12)
        var y = [Float16](repeating: 0, count: 12)
        var short = [Float16](repeating: 0, count: 11)
        let e = try! Extents(outer: 3, n: 4)
        x.withUnsafeBufferPointer { xb in
            short.withUnsafeMutableBufferPointer { sb in
                #expect(code { () throws(SoftmaxKitError) in try hardmax(xb, into: sb, extents: e) } == .shapeMismatch)
                #expect(code { () throws(SoftmaxKitError) in try segmentSoftmax(xb, offsets: [0, 4], into: sb, extents: e) } == .shapeMismatch)
            }
            y.withUnsafeMutableBufferPointer { yb in
                #expect(code { () throws(SoftmaxKitError) in try segmentSoftmax(xb, offsets: [0, 3], into: yb, extents: e) } == .indexOutOfRange)
                #expect(code { () throws(SoftmaxKitError) in try segmentSoftmax(xb, offsets: [0, 3, 2, 4], into: yb, extents: e) } == .indexOutOfRange)
                #expect(code { () throws(SoftmaxKitError) in
                    try partitioned(xb, layout: [PartitionSegment(width: 3, activation: .softmax)], into: yb, extents: e) } == .shapeMismatch)
                #expect(code { () throws(SoftmaxKitError) in
                    try partitioned(xb, layout: [PartitionSegment(width: -1, activation: .softmax), PartitionSegment(width: 5, activation: .identity)],
                                    into: yb, extents: e) } == .invalidArgument)
                let bad: [Int64] = [1, 5, 2], few: [Int64] = [1, 2]
                bad.withUnsafeBufferPointer { lb in
                    #expect(code { () throws(SoftmaxKitError) in try maskedSoftmax(xb, lengths: lb, into: yb, extents: e) } == .invalidArgument)
                    #expect(code { () throws(SoftmaxKitError) in try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e) } == .invalidArgument)
                }
                few.withUnsafeBufferPointer { lb in
                    #expect(code { () throws(SoftmaxKitError) in try maskedLogSoftmax(xb, lengths: lb, into: yb, extents: e) } == .shapeMismatch)
                }
                #expect(code { () throws(SoftmaxKitError) in
                    try hierarchicalSoftmax(coarse: UnsafeBufferPointer(rebasing: xb[0..<2]), fine: xb, sizes: [0, 6], into: yb, batch: 2)
                } == .invalidArgument)
                #expect(code { () throws(SoftmaxKitError) in
                    try hierarchicalSoftmax(coarse: UnsafeBufferPointer(rebasing: xb[0..<3]), fine: xb, sizes: [2, 4], into: yb, batch: 2)
                } == .shapeMismatch)
                #expect(code { () throws(SoftmaxKitError) in
                    try hierarchicalSoftmax(coarse: UnsafeBufferPointer(yb), fine: xb, sizes: [2, 4], into: yb, batch: 2)
                } == .invalidArgument)
            }
        }
        // Partial overlap of y with x (one element on): refused, nothing written.
        var buf = [Float16](repeating: 1, count: 13)
        buf.withUnsafeMutableBufferPointer { b in
            let xb = UnsafeBufferPointer(rebasing: b[0..<12]), yb = UnsafeMutableBufferPointer(rebasing: b[1..<13])
            #expect(code { () throws(SoftmaxKitError) in try hardmax(xb, into: yb, extents: e) } == .invalidArgument)
            #expect(code { () throws(SoftmaxKitError) in try segmentSoftmax(xb, offsets: [0, 4], into: yb, extents: e) } == .invalidArgument)
            #expect(code { () throws(SoftmaxKitError) in
                try partitioned(xb, layout: [PartitionSegment(width: 4, activation: .softmax)], into: yb, extents: e) } == .invalidArgument)
            let l: [Int64] = [4, 4, 4]
            l.withUnsafeBufferPointer { lb in
                #expect(code { () throws(SoftmaxKitError) in try maskedSoftmax(xb, lengths: lb, into: yb, extents: e) } == .invalidArgument)
            }
        }
        #expect(buf.allSatisfy { $0 == 1 })
        _ = y
    }
}
