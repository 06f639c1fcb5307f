import Foundation
import SoftmaxKit

/// `smk run MODEL --input FILE`: every head on the input, as tables or JSON.
struct Run {
    var options: ModelOptions
    /// The input file: .npy or CSV (InputFile).
    var input: String
    /// JSON ({head: nested arrays}) instead of tables.
    var json: Bool

    func run() throws {
        let model = try options.load()
        let file = try InputFile.read(input)
        var shape = file.shape
        if shape.count == 1 { shape = [1, shape[0]] }
        let outputs = try model(file.values, shape: shape)
        let lead = Array(shape.dropLast())
        if json {
            var parts: [String] = []
            for h in model.heads {
                parts.append("\"\(h.name)\": " + nested(outputs[h.name]!, lead + [h.size]))
            }
            print("{" + parts.joined(separator: ", ") + "}")
            return
        }
        for h in model.heads {
            print("\(h.name) (\(h.spec.output.rawValue), \(lead.map(String.init).joined(separator: " x ")) x \(h.size))")
            let values = outputs[h.name]!
            var rows: [[String]] = [[lead.count == 2 ? "row,step" : "row"] + (0..<h.size).map { String($0) }]
            let count = lead.reduce(1, *)
            for r in 0..<count {
                let label = lead.count == 2 ? "\(r / lead[1]),\(r % lead[1])" : "\(r)"
                rows.append([label] + (0..<h.size).map { format(values[r * h.size + $0]) })
            }
            printTable(rows)
            print("")
        }
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
