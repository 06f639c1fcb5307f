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
    /// one pass with a table from (input, activation) to the group, so a
    /// load is linear in the layer count. `visits` counts the table lookups
    /// and member placements (tests check it grows linearly).
    static func memberLists(inputs: [Int], activations: [Activation]) -> (lists: [[Int]], visits: Int) {
        // The activation by its case number: hashing the enum itself would
        // hash its raw-value string.
        struct Key: Hashable { let input: Int; let activation: Int }
        var groupOf: [Key: Int] = [:]
        groupOf.reserveCapacity(inputs.count)
        var lists: [[Int]] = []
        var visits = 0
        for k in inputs.indices {
            let key = Key(input: inputs[k], activation: activations[k].caseNumber)
            visits += 1
            if let g = groupOf[key] {
                lists[g].append(k)
            } else {
                groupOf[key] = lists.count
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
