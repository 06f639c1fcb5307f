import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

@Suite("masked softmax and masked log-softmax")
struct MaskedTests {
    @Test("selected positions match the softmax of the selection (Float80 reference)", arguments: rowLengths.filter { $0 > 0 })
    func matchesSoftmaxOfSelection(n: Int) throws {
        let x: [Double] = randomValues(n, seed: UInt64(n) + 77, scale: 30)
        let mask = (0..<n).map { $0 % 3 != 1 }
        let selected = zip(x, mask).filter { $0.1 }.map { $0.0 }
        let want = refSoftmax(selected), wantLog = refLogSoftmax(selected)
        let y = try maskedSoftmax(x, mask: mask)
        let l = try maskedLogSoftmax(x, mask: mask)
        let yf = try maskedSoftmax(x.map(Float.init), mask: mask)
        #expect(maxRelError(zip(y, mask).filter { $0.1 }.map { $0.0 }, want) < 1e-14)
        #expect(maxRelError(zip(l, mask).filter { $0.1 }.map { $0.0 }, wantLog, floor: 1) < 1e-14)
        // float32: the input's own rounding moves exp by up to |x - max| * 2^-24 (~4e-6 at |x| <= 30)
        #expect(maxRelError(zip(yf, mask).filter { $0.1 }.map { $0.0 }, refSoftmax(selected.map(Float.init))) < 8e-6)
        for j in 0..<n where !mask[j] {
            #expect(y[j] == 0 && yf[j] == 0 && l[j] == -.infinity)
        }
    }

    @Test("masked-out NaN and inf never leak; a fully masked row is 0 / -inf, never NaN")
    func nonFiniteAndFullyMasked() throws {
        let x: [Float] = [.nan, 1, .infinity, 2, -.infinity] + [Float](repeating: 3, count: 20)
        var mask = [Bool](repeating: false, count: 25)
        mask[1] = true; mask[3] = true
        let y = try maskedSoftmax(x, mask: mask)
        #expect(y.enumerated().allSatisfy { mask[$0.offset] || $0.element == 0 })
        #expect(abs(Double(y[1]) - 1 / (1 + M_E)) < 1e-7)
        let none = [Bool](repeating: false, count: 25)
        #expect(try maskedSoftmax(x, mask: none).allSatisfy { $0 == 0 })
        #expect(try maskedLogSoftmax(x, mask: none).allSatisfy { $0 == -.infinity })
    }

    @Test("renormalize false is softmax over all, then zero (the robot arm network)")
    func softmaxThenMask() throws {
        let x: [Double] = randomValues(6, seed: 3)
        let mask = [true, false, true, false, false, false]
        let y = try maskedSoftmax(x, mask: mask, renormalize: false)
        let full = refSoftmax(x)
        for j in 0..<6 { #expect(mask[j] ? abs(Float80(y[j]) - full[j]) < 1e-16 : y[j] == 0) }
    }

    @Test("a full-shape mask over a strided axis equals the transposed problem")
    func stridedFullMask() throws {
        let x: [Double] = randomValues(2 * 5 * 3, seed: 9)
        let mask = (0..<30).map { $0 % 4 != 0 }
        let y = try maskedSoftmax(x, mask: mask, shape: [2, 5, 3], axis: 1)
        for o in 0..<2 { for i in 0..<3 {
            let idx = (0..<5).map { (o * 5 + $0) * 3 + i }
            let fib = try maskedSoftmax(idx.map { x[$0] }, mask: idx.map { mask[$0] })
            // The strided fibre and the short 1-D row take different kernels: a few ulp.
            for (j, k) in idx.enumerated() { #expect(abs(y[k] - fib[j]) <= 1e-15 * fib[j]) }
        } }
    }

    @Test("a mask of the wrong length is a shape mismatch naming the mask; nothing is written")
    func badMask() throws {
        #expect(throwsKind(.shapeMismatch, mentioning: "mask") { _ = try maskedSoftmax([1.0, 2, 3, 4], mask: [true, false, true], shape: [2, 2]) })
        let x: [Double] = [1, 2, 3, 4], m: [UInt8] = [1, 1, 1]
        #expect(untouchedAfterFailure(count: 4) { (y: UnsafeMutableBufferPointer<Double>) in
            try x.withUnsafeBufferPointer { xb in
                try m.withUnsafeBufferPointer { mb in try maskedLogSoftmax(xb, mask: mb, into: y, extents: Extents(outer: 2, n: 2)) }
            }
        })
    }

    @Test("a mask partly under y is refused and nothing is written")
    func maskOverlappingOutput() throws {
        let e = try Extents(outer: 2, n: 8)
        let x = [Float](repeating: 1, count: e.count)
        var block = [UInt8](repeating: 1, count: 4 * e.count + 8)
        let before = block
        x.withUnsafeBufferPointer { x in
            block.withUnsafeMutableBytes { (b: UnsafeMutableRawBufferPointer) in
                let y = UnsafeMutableBufferPointer(start: (b.baseAddress! + 8).assumingMemoryBound(to: Float.self), count: e.count)
                let mask = UnsafeBufferPointer(start: b.baseAddress!.assumingMemoryBound(to: UInt8.self), count: e.count)
                #expect(throwsKind(.invalidArgument, mentioning: "overlap") { try maskedSoftmax(x, mask: mask, into: y, extents: e) })
                #expect(throwsKind(.invalidArgument, mentioning: "overlap") { try maskedLogSoftmax(x, mask: mask, into: y, extents: e) })
            }
        }
        #expect(block == before)
    }
}
