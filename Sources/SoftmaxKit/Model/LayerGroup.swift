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
        var groups: [LayerGroup] = []
        for members in memberLists(inputs: inputs, activations: activations).lists {
            let k = members[0]
            var w: [Float] = [], b: [Float] = [], columns: [Int] = []
            var n = 0
            for m in members {
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

    /// The layers of each group, groups in the order of their first member:
    /// one pass, finding a layer's group among those already reading its
    /// input (at most one per activation), so a load is linear in the layer
    /// count and hashes nothing. `visits` counts the groups looked at and
    /// member placements (tests check it grows linearly).
    static func memberLists(inputs: [Int], activations: [Activation]) -> (lists: [[Int]], visits: Int) {
        // The groups reading each input (-1, the model input, at slot 0) as a
        // list threaded through `next`, newest first.
        var first = [Int](repeating: -1, count: inputs.count + 1)
        var next: [Int] = [], activationOf: [Int] = []
        var lists: [[Int]] = []
        var visits = 0
        for k in inputs.indices {
            let slot = inputs[k] + 1, a = activations[k].caseNumber
            var g = first[slot]
            while g >= 0, activationOf[g] != a { visits += 1; g = next[g] }
            visits += 1
            if g >= 0 {
                lists[g].append(k)
            } else {
                next.append(first[slot])
                activationOf.append(a)
                first[slot] = lists.count
                lists.append([k])
            }
        }
        return (lists, visits)
    }
}

extension Activation {
    /// A number per case, distinct for distinct cases.
    var caseNumber: Int {
        switch self {
        case .identity: return 0
        case .relu: return 1
        case .tanh: return 2
        case .sigmoid: return 3
        case .gelu: return 4
        case .geluTanh: return 5
        case .silu: return 6
        }
    }
}
