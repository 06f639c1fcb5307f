import Foundation
import SoftmaxKit

/// `smk run MODEL --input FILE`: every head on the input, as tables or JSON.
struct Run {
    var options: ModelOptions
    /// The input file: .npy or CSV (InputFile).
    var input: String
    /// JSON ({head: nested arrays}) instead of tables.
    var json: Bool
    /// Per-row sequence lengths, or nil.
    var lengths: [Int]? = nil

    func render() throws -> String {
        let model = try options.load()
        let file = try InputFile.read(input)
        var shape = file.shape
        let outputs: [String: [Float]]
        let batch: Int, steps: Int
        if let v = model.vocabulary {
            // Token ids [batch, steps]; a 1-D file is one sequence.
            if shape.count == 1 { shape = [1, shape[0]] }
            guard shape.count == 2 else {
                throw FileError(description: "\(input): token ids must be [batch, steps] (or one sequence [steps]), got shape \(shape)")
            }
            var ids = file.integers ?? []
            if file.integers == nil {
                for (i, x) in file.values.enumerated() {
                    guard x == x.rounded(), abs(x) < 1e15 else {
                        throw FileError(description: "\(input): the model's input is token ids (vocabulary \(v)), but value \(i) (row \(i / max(shape[1], 1)), step \(i % max(shape[1], 1))) is \(x), not an integer")
                    }
                    ids.append(Int64(x))
                }
            }
            (batch, steps) = (shape[0], shape[1])
            outputs = try model(ids: ids, shape: shape, lengths: lengths)
        } else {
            if shape.count == 1 { shape = [1, shape[0]] }
            (batch, steps) = shape.count == 3 ? (shape[0], shape[1]) : (shape[0], 1)
            outputs = try model(file.values, shape: shape, lengths: lengths)
        }
        // Each head's leading dimensions: [batch, steps] for per-step heads of
        // a [batch, steps, ...] input, [batch] otherwise.
        func lead(_ h: CompiledHead) -> [Int] {
            if model.spec.isSequenceModel { return h.perStep ? [batch, steps] : [batch] }
            return Array(shape.dropLast())
        }
        var out: [String] = []
        if json {
            var parts: [String] = []
            for h in model.heads {
                parts.append("\"\(h.name)\": " + nested(outputs[h.name]!, lead(h) + [h.size]))
            }
            return "{" + parts.joined(separator: ", ") + "}"
        }
        for h in model.heads {
            let dims = lead(h)
            out.append("\(h.name) (\(h.spec.output.rawValue), \(dims.map(String.init).joined(separator: " x ")) x \(h.size))")
            let values = outputs[h.name]!
            var rows: [[String]] = [[dims.count == 2 ? "row,step" : "row"] + (0..<h.size).map { String($0) }]
            let count = dims.reduce(1, *)
            for r in 0..<count {
                let label = dims.count == 2 ? "\(r / dims[1]),\(r % dims[1])" : "\(r)"
                rows.append([label] + (0..<h.size).map { format(values[r * h.size + $0]) })
            }
            out += table(rows)
            out.append("")
        }
        return out.joined(separator: "\n")
    }
}

func format(_ v: Float) -> String { String(format: "%.6g", Double(v)) }

/// `values` as nested JSON arrays of `shape`.
func nested(_ values: [Float], _ shape: [Int]) -> String {
    func json(_ v: Float) -> String { v.isFinite ? format(v) : (v.isNaN ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")) }
    func go(_ offset: Int, _ dims: ArraySlice<Int>) -> String {
        guard let d = dims.first else { return json(values[offset]) }
        let stride = dims.dropFirst().reduce(1, *)
        return "[" + (0..<d).map { go(offset + $0 * stride, dims.dropFirst()) }.joined(separator: ", ") + "]"
    }
    return go(0, shape[...])
}
