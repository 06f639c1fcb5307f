import Foundation
import SoftmaxKit

/// `smk bench MODEL --batch N`: time forward passes on random input.
struct Bench {
    var options: ModelOptions
    /// Rows per forward pass, time steps per row, seconds to spend measuring
    /// (all > 0: parseArguments checks them).
    var batch: Int
    var steps: Int
    var seconds: Double

    func run() throws {
        let model = try options.load()
        let rows = batch * steps
        var state: UInt64 = 42
        let x = (0..<(model.vocabulary == nil ? rows * model.features : 0)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        let outs = model.heads.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: rows * $0.size) }
        defer { outs.forEach { $0.deallocate() } }
        // A vocabulary model runs on token ids drawn the same way.
        let ids = model.vocabulary.map { v in (0..<rows).map { i in Int64(i * 7919 % v) } }
        func once() throws {
            if let ids {
                try ids.withUnsafeBufferPointer { ip in
                    try model.forward(ids: ip, batch: batch, steps: steps, lengths: nil, into: outs)
                }
                return
            }
            try x.withUnsafeBufferPointer { xp in
                try model.forward(xp, batch: batch, steps: steps, features: model.features, into: outs)
            }
        }
        try once()
        // Calibrate the number of calls per round to about seconds / 7.
        var calls = 1
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<calls { try once() }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if dt > seconds / 70 || calls > 1 << 24 { calls = max(1, Int(Double(calls) * (seconds / 7) / max(dt, 1e-9))); break }
            calls *= 4
        }
        var best = Double.infinity
        for _ in 0..<7 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<calls { try once() }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(calls))
        }
        let shape = model.vocabulary != nil ? "ids [\(batch), \(steps)]"
            : steps > 1 ? "[\(batch), \(steps), \(model.features)]" : "[\(batch), \(model.features)]"
        print("\(options.model): input \(shape), \(calls) calls x 7 rounds, best round")
        print(String(format: "  %.3f us per forward, %.1f ns per row, %.3g rows/s", best * 1e6, best * 1e9 / Double(rows), Double(rows) / best))
    }
}
