/// The output transforms of model heads, applied row by row to a layer's
/// values. Internal helpers over the existing row kernels (`Normalizer.row`
/// through `HeadRow` for softmax rows, `rowScale`, `sigmoidKernel`); the
/// public masked/partitioned/hierarchical kernels will replace them once merged.
enum HeadTransform: Equatable, Sendable {
    case identity
    case softmax(invT: Float)
    case logSoftmax(invT: Float)
    case sigmoid
    /// `kept[j]` is true where the mask is nonzero. With `renormalize`, the
    /// softmax runs over kept positions only; without, over every position
    /// and the masked ones are then set to 0 (the seed's variant). Masked
    /// positions are exactly 0 whatever their logit; a fully masked row is 0.
    case masked(kept: [Bool], renormalize: Bool)
    case partitioned([Segment])
    /// Joint `P(group) * P(item | group)`: coarse layer index, fine layer indices.
    case hierarchical(coarse: Int, fine: [Int])
}

/// A head ready to run: its name, output width and where it reads.
public struct CompiledHead: Sendable {
    public let name: String
    /// Values per row of the output.
    public let size: Int
    public let spec: HeadSpec
    /// The layer read (the first fine layer's for hierarchical heads).
    let layer: Int
    let transform: HeadTransform
}

extension HeadTransform {
    /// Applies the transform to `rows` rows. `input(l)` gives layer `l`'s
    /// `[rows, width]` values; `y` is `[rows, size]`.
    func apply(rows: Int, layer: Int, widths: [Int], input: (Int) -> UnsafePointer<Float>,
               _ y: UnsafeMutablePointer<Float>, size: Int) {
        switch self {
        case .identity:
            y.update(from: input(layer), count: rows * size)
        case .sigmoid:
            sigmoidKernel(input(layer), y, rows * size)
        case .softmax(let invT):
            let x = input(layer)
            HeadRow.normalizeRows(.softmax, x, y, rows: rows, n: size, invT: invT)
        case .logSoftmax(let invT):
            let x = input(layer)
            HeadRow.normalizeRows(.logSoftmax, x, y, rows: rows, n: size, invT: invT)
        case .masked(let kept, let renormalize):
            let x = input(layer)
            for r in 0..<rows { maskedRow(x + r * size, y + r * size, kept, renormalize, readable: (rows - r) * size) }
        case .partitioned(let segments):
            let x = input(layer)
            for r in 0..<rows { partitionedRow(x + r * size, y + r * size, segments, readable: (rows - r) * size) }
        case .hierarchical(let coarse, let fine):
            // Coarse and fine softmaxes as whole blocks of rows (the
            // four-rows-at-a-time path), then the joint P(g) P(j | g).
            let k = fine.count
            let ws = fine.map { widths[$0] }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * (k + size)) { buf in
                let pc = buf.baseAddress!, pf = pc + rows * k
                HeadRow.normalizeRows(.softmax, input(coarse), pc, rows: rows, n: k, invT: 1)
                var off = 0
                for (g, l) in fine.enumerated() {
                    HeadRow.normalizeRows(.softmax, input(l), pf + rows * off, rows: rows, n: ws[g], invT: 1)
                    off += ws[g]
                }
                for r in 0..<rows {
                    let yr = y + r * size
                    var o = 0
                    for g in 0..<k {
                        let w = ws[g], p = pc[r * k + g], src = pf + rows * o + r * w
                        for j in 0..<w { yr[o + j] = p * src[j] }
                        o += w
                    }
                }
            }
        }
    }

    private func maskedRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ kept: [Bool], _ renormalize: Bool,
                           readable: Int) {
        let n = kept.count
        if !renormalize {
            HeadRow.normalize(.softmax, x, y, n, readable: readable, writable: readable, invT: 1)
            for j in 0..<n where !kept[j] { y[j] = 0 }
            return
        }
        // Gather the kept logits (select, never multiply: a masked NaN or inf
        // never reaches the sum), normalize, scatter.
        let capacity = max(n, Float.width)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity) { buf in
            let g = buf.baseAddress!
            g.initialize(repeating: 0, count: capacity)
            var m = 0
            for j in 0..<n where kept[j] { g[m] = x[j]; m += 1 }
            if m > 0 { HeadRow.normalize(.softmax, g, g, m, readable: capacity, writable: capacity, invT: 1) }
            m = 0
            for j in 0..<n {
                if kept[j] { y[j] = g[m]; m += 1 } else { y[j] = 0 }
            }
        }
    }

    private func partitionedRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ segments: [Segment], readable: Int) {
        var o = 0
        for s in segments {
            let xs = x + o, ys = y + o, w = s.width
            switch s.activation {
            case .identity: ys.update(from: xs, count: w)
            case .softmax: HeadRow.normalize(.softmax, xs, ys, w, readable: readable - o, writable: readable - o, invT: 1)
            case .logSoftmax: HeadRow.normalize(.logSoftmax, xs, ys, w, readable: readable - o, writable: readable - o, invT: 1)
            case .sigmoid: sigmoidKernel(xs, ys, w)
            case .tanh:
                forEachVector(w, Float.self) { i, r in
                    if r == 0 {
                        vstore(DenseActivation.tanh(vload(xs + i)), ys + i)
                    } else {
                        vstorePartial(DenseActivation.tanh(vloadPartial(xs + i, r, fill: 0)), ys + i, r)
                    }
                }
            }
            o += w
        }
    }
}
