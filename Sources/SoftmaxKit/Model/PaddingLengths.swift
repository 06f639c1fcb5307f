/// Lengths from a padding id: what a padding mask on token ids (Keras
/// `Embedding(mask_zero=True)`: id 0) says to a recurrent layer when the
/// padding trails each row.
extension Model {
    /// The id that marks padding in the model's token-id input (spec
    /// `input.padding_id`, kept in the model file), else nil.
    public var paddingID: Int? { spec.input.paddingID }
}

/// Each row's count of steps before its trailing `paddingID`s, for
/// `[batch, steps]` ids: the lengths a padding mask on those ids implies.
/// - Throws: `.invalidArgument` for a padding id followed by another id in
///   its row (the source masks a step in the middle of the row, which
///   lengths cannot express; the first such step in row order is named),
///   a negative padding id, negative sizes or an id count that is not `batch * steps`;
///   `.sizeOverflow`.
public func paddingLengths<I: BinaryInteger>(_ ids: UnsafeBufferPointer<I>, batch: Int, steps: Int,
                                             paddingID: Int) throws(SoftmaxKitError) -> [Int] {
    guard batch >= 0, steps >= 0 else { throw .invalid("batch and steps must be non-negative, got \(batch) and \(steps)") }
    guard paddingID >= 0 else { throw .invalid("the padding id must be non-negative, got \(paddingID)") }
    guard let n = elementCount(batch, steps) else { throw .overflow("ids [\(batch), \(steps)] overflow 64 bits") }
    try checkCount("ids", ids.count, n)
    var lengths = [Int](repeating: 0, count: batch)
    let pad = I(exactly: paddingID)
    for b in 0..<batch {
        let row = b * steps
        var last = 0  // steps up to and including the last id that is not padding
        for t in stride(from: steps - 1, through: 0, by: -1) where ids[row + t] != pad {
            last = t + 1
            break
        }
        for t in 0..<last where ids[row + t] == pad {
            throw .invalid("ids[\(b), \(t)] is the padding id \(paddingID) before a non-padding id in its row; the source masks that step, which lengths cannot express (lengths mark trailing padding only): move padding to the end of the row or pass lengths")
        }
        lengths[b] = last
    }
    return lengths
}
