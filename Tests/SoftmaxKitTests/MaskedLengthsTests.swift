import Testing
import SoftmaxKit

@Suite("masked softmax with per-fibre lengths")
struct MaskedLengthsTests {
    /// The full-shape mask (j < lengths[fibre]) of `shape` over `axis`.
    static func mask(_ shape: [Int], axis: Int, _ lengths: [Int]) -> [Bool] {
        let n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var m = [Bool](repeating: false, count: outer * n * inner)
        for o in 0..<outer { for j in 0..<n { for i in 0..<inner { m[(o * n + j) * inner + i] = j < lengths[o * inner + i] } } }
        return m
    }

    @Test("the values of the mask the lengths stand for, rows and columns, both precisions",
          arguments: [([4, 9], 1), ([3, 6, 5], 1), ([5, 2, 3], 0), ([2, 33], 1)])
    func matchesTheMask(shape: [Int], axis: Int) throws {
        let count = shape.reduce(1, *)
        let x: [Double] = randomValues(count, seed: UInt64(count), scale: 10)
        let fibres = count / shape[axis]
        let lengths = (0..<fibres).map { ($0 * 5) % (shape[axis] + 1) }
        let m = Self.mask(shape, axis: axis, lengths)
        for renormalize in [true, false] {
            let got = try maskedSoftmax(x, lengths: lengths, shape: shape, axis: axis, renormalize: renormalize)
            let want = try maskedSoftmax(x, mask: m, shape: shape, axis: axis, renormalize: renormalize)
            #expect(maxRelError(got, want.map { Float80($0) }) < 1e-14)
            #expect(zip(got, m).allSatisfy { $0.1 || $0.0 == 0 })
        }
        let got = try maskedLogSoftmax(x.map(Float.init), lengths: lengths, shape: shape, axis: axis)
        let want = try maskedLogSoftmax(x.map(Float.init), mask: m, shape: shape, axis: axis)
        #expect(zip(got, want).allSatisfy { $0 == $1 || abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        #expect(zip(got, m).allSatisfy { $0.1 || $0.0 == -.infinity })
    }

    @Test("negative, too long and miscounted lengths are errors naming the problem")
    func badLengths() {
        let x = [Float](repeating: 1, count: 12)
        func kind(_ lengths: [Int]) -> (SoftmaxKitError.Kind?, String) {
            do {
                _ = try maskedSoftmax(x, lengths: lengths, shape: [3, 4])
                return (nil, "")
            } catch {
                return (error.kind, error.message)
            }
        }
        let negative = kind([1, -2, 3])
        #expect(negative.0 == .invalidArgument && negative.1.contains("lengths[1] is -2"))
        let long = kind([1, 2, 5])
        #expect(long.0 == .invalidArgument && long.1.contains("lengths[2] is 5"))
        #expect(kind([1, 2]).0 == .shapeMismatch)
        #expect(kind([1, 2, 3, 4]).0 == .shapeMismatch)
        #expect(kind([0, 4, 2]).0 == nil)
    }
}
