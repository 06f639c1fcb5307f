/// The output transforms of model heads, applied to blocks of a layer's
/// rows through the same core kernels as the public API (`Normalizer.rows`,
/// `MaskedKernel.rows`, `partitionedRows`, `hierarchicalRows`,
/// `sigmoidKernel`), so a head's output equals the matching public call's.
enum HeadTransform: Equatable, Sendable {
    case identity
    case softmax(invT: Float)
    case logSoftmax(invT: Float)
    case sigmoid
    /// `mask[j]` nonzero where position `j` takes part (one pattern for every
    /// row). With `renormalize`, the softmax runs over kept positions only;
    /// without, over every position and the masked ones are then set to 0
    /// (the multi-task article's variant). Masked positions are exactly 0 whatever their
    /// logit; a fully masked row is 0.
    case masked(mask: [UInt8], renormalize: Bool)
    case partitioned([PartitionSegment])
    /// Joint `P(group) * P(item | group)`: coarse layer index, fine layer indices.
    case hierarchical(coarse: Int, fine: [Int])

    /// A partitioned head's layout in the core's terms.
    static func partitioned(_ segments: [Segment]) -> HeadTransform {
        .partitioned(segments.map { PartitionSegment(width: $0.width, activation: $0.activation) })
    }
}

/// A head ready to run: its name, output width and where it reads.
public struct CompiledHead: Sendable {
    public let name: String
    /// Values per row of the output.
    public let size: Int
    public let spec: HeadSpec
    /// The layer read (the first fine layer's for hierarchical heads).
    let layer: Int
    /// One output row per step (`[batch, steps, size]`), or per sequence
    /// (`[batch, size]`: a head on a recurrent layer's final state or on a
    /// selected step). Every head of a dense-only model is per step.
    public let perStep: Bool
    let transform: HeadTransform
}

extension HeadTransform {
    /// Applies the transform to `rows` rows. `input(l)` gives layer `l`'s
    /// `[rows, width]` values; `y` is `[rows, size]`, separate from every input.
    func apply(rows: Int, layer: Int, widths: [Int], input: (Int) -> UnsafePointer<Float>,
               _ y: UnsafeMutablePointer<Float>, size: Int) {
        switch self {
        case .identity:
            y.update(from: input(layer), count: rows * size)
        case .sigmoid:
            sigmoidKernel(input(layer), y, rows * size)
        case .softmax(let invT):
            Normalizer<Float>.rows(.softmax, input(layer), y, rows: rows, n: size, invT: invT)
        case .logSoftmax(let invT):
            Normalizer<Float>.rows(.logSoftmax, input(layer), y, rows: rows, n: size, invT: invT)
        case .masked(let mask, let renormalize):
            mask.withUnsafeBufferPointer { m in
                MaskedKernel<Float>.rows(renormalize ? .softmax : .softmaxThenMask, input(layer), m.baseAddress!,
                                         pattern: true, y, rows: rows, n: size)
            }
        case .partitioned(let segments):
            segments.withUnsafeBufferPointer { partitionedRows(input(layer), y, $0, rows: rows, n: size) }
        case .hierarchical(let coarse, let fine):
            // The fine layers side by side in y, then the core kernel in place.
            var o = 0
            for l in fine {
                let w = widths[l], src = input(l)
                for r in 0..<rows { (y + r * size + o).update(from: src + r * w, count: w) }
                o += w
            }
            hierarchicalRows(input(coarse), UnsafePointer(y), y, sizes: fine.map { widths[$0] }, width: size,
                             batch: rows, conditional: false)
        }
    }
}
