/// Sibling dense layers fused into one matrix product: layers that read the
/// same input with the same activation (a model's heads on its trunk, the
/// branches of a multi-task model from its input) are packed as one weight
/// matrix with their output columns side by side. One pass over the shared
/// input then fills every member, and narrow heads share a 16-wide panel
/// instead of padding one each (the robot arm's 4 + 1 action and force
/// units, the hierarchical classifier's 3 + 2 + 4 + 3). The product lands in
/// a scratch block and is copied into each member's own `[rows, width]`
/// buffer, so every consumer still sees contiguous layers.
struct LayerGroup {
    let packed: PackedWeights
    /// Layer indices, in column order.
    let members: [Int]
    /// First column of each member in the fused product.
    let columns: [Int]
    /// The layer read (-1: the model input).
    let input: Int
    let activation: Activation
    /// Columns of the fused product (the sum of the members' widths).
    var width: Int { packed.n }

    /// Groups layers in spec order: each group runs where its first member
    /// stands, which is after its input and before any reader of a member.
    static func fuse(inputs: [Int], activations: [Activation], widths: [Int], inWidths: [Int],
                     weights: [[Float]], biases: [[Float]]) throws(SoftmaxKitError) -> [LayerGroup] {
        var assigned = [Bool](repeating: false, count: inputs.count)
        var groups: [LayerGroup] = []
        for k in inputs.indices where !assigned[k] {
            var members = [k]
            for j in (k + 1)..<max(k + 1, inputs.count) where !assigned[j] && inputs[j] == inputs[k] && activations[j] == activations[k] {
                members.append(j)
            }
            var w: [Float] = [], b: [Float] = [], columns: [Int] = []
            var n = 0
            for m in members {
                assigned[m] = true
                columns.append(n)
                w += weights[m]
                b += biases[m].isEmpty ? [Float](repeating: 0, count: widths[m]) : biases[m]
                n += widths[m]
            }
            groups.append(LayerGroup(packed: try PackedWeights(weight: w, bias: b, n: n, k: inWidths[k]),
                                     members: members, columns: columns, input: inputs[k], activation: activations[k]))
        }
        return groups
    }
}
