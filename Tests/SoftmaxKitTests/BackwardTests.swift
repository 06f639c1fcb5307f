import Testing
import SoftmaxKit
#if canImport(Glibc)
import Glibc
#endif

@Suite("backward kernels")
struct BackwardTests {
    @Test("softmax and log-softmax VJPs match the written-out Jacobians", arguments: [1, 7, 16, 37, 1025])
    func jacobians(n: Int) throws {
        let x: [Double] = randomValues(n, seed: UInt64(n) + 2, scale: 4)
        let dy: [Double] = randomValues(n, seed: UInt64(n) + 3, scale: 1)
        let y = try softmax(x), ls = try logSoftmax(x)
        let dx = try softmaxBackward(y: y, dy: dy), dl = try logSoftmaxBackward(y: ls, dy: dy)
        let dot = zip(dy, y).reduce(0.0) { $0 + $1.0 * $1.1 }, sum = dy.reduce(0, +)
        for i in 0..<n {
            #expect(abs(dx[i] - y[i] * (dy[i] - dot)) < 1e-15)
            #expect(abs(dl[i] - (dy[i] - y[i] * sum)) < 1e-13)
        }
        let s = x.map { 1 / (1 + exp(-$0)) }
        let ds = try sigmoidBackward(y: s, dy: dy)
        #expect(zip(ds, zip(s, dy)).allSatisfy { abs($0 - $1.1 * $1.0 * (1 - $1.0)) < 1e-16 })
    }

    @Test("a strided axis equals the per-fibre result")
    func strided() throws {
        let x: [Double] = randomValues(24, seed: 12)
        let dy: [Double] = randomValues(24, seed: 13)
        let y = try softmax(x, shape: [2, 3, 4], axis: 1)
        let dx = try softmaxBackward(y: y, dy: dy, shape: [2, 3, 4], axis: 1)
        for o in 0..<2 { for i in 0..<4 {
            let idx = (0..<3).map { (o * 3 + $0) * 4 + i }
            let f = try softmaxBackward(y: idx.map { y[$0] }, dy: idx.map { dy[$0] })
            for (j, k) in idx.enumerated() { #expect(abs(dx[k] - f[j]) < 1e-16) }
        } }
        #expect(throwsKind(.shapeMismatch, mentioning: "dy") { _ = try softmaxBackward(y: [0.5, 0.5], dy: [1.0]) })
    }
}
