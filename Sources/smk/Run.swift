import Foundation
import SoftmaxKit

/// `smk run MODEL --input FILE`: every head on the input, as tables or JSON.
struct Run {
    var options: ModelOptions
    /// The input file: .npy or CSV (InputFile).
    var input: String
    /// JSON ({head: nested arrays}) instead of tables.
    var json: Bool
    /// Heads to sample (their indices are printed instead of their values).
    var sample: [String: SamplingOptions] = [:]
    /// The sampling seed; nil: a fresh one, reported on standard error.
    var seed: UInt64?

    func run() throws {
        let model = try options.load()
        let file = try InputFile.read(input)
        var shape = file.shape
        if shape.count == 1 { shape = [1, shape[0]] }
        let lead = Array(shape.dropLast())
        if !sample.isEmpty {
            return try runSampled(model, file.values, shape: shape, lead: lead)
        }
        let outputs = try model(file.values, shape: shape)
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

extension Run {
    /// Every head, the sampled ones as indices (`[rows, draws]`; -1 for a
    /// row with nothing to draw from).
    func runSampled(_ model: Model, _ x: [Float], shape: [Int], lead: [Int]) throws {
        let s = seed ?? UInt64.random(in: .min ... .max)
        if seed == nil { printError("smk: sampling with --seed \(s)") }
        let r = try model(x, shape: shape, sample: sample, seed: s)
        func headLead(_ h: CompiledHead) -> [Int] { h.perStep ? lead : [lead[0]] }
        if json {
            var parts: [String] = []
            for h in model.heads {
                if let idx = r.indices[h.name] {
                    parts.append("\"\(h.name)\": " + nestedIndices(idx, headLead(h) + [sample[h.name]!.numSamples]))
                } else {
                    parts.append("\"\(h.name)\": " + nested(r.outputs[h.name]!, headLead(h) + [h.size]))
                }
            }
            print("{" + parts.joined(separator: ", ") + "}")
            return
        }
        for h in model.heads {
            let hl = headLead(h)
            let sampled = r.indices[h.name] != nil
            let width = sampled ? sample[h.name]!.numSamples : h.size
            let what = sampled ? "sampled from \(h.spec.output.rawValue), seed \(s)" : h.spec.output.rawValue
            print("\(h.name) (\(what), \(hl.map(String.init).joined(separator: " x ")) x \(width))")
            var rows: [[String]] = [[hl.count == 2 ? "row,step" : "row"] + (0..<width).map { sampled ? "draw \($0)" : String($0) }]
            for row in 0..<hl.reduce(1, *) {
                let label = hl.count == 2 ? "\(row / hl[1]),\(row % hl[1])" : "\(row)"
                if let idx = r.indices[h.name] {
                    rows.append([label] + (0..<width).map { String(idx[row * width + $0]) })
                } else {
                    rows.append([label] + (0..<width).map { format(r.outputs[h.name]![row * width + $0]) })
                }
            }
            printTable(rows)
            print("")
        }
    }
}

/// `values` (indices) as nested JSON arrays of `shape`.
func nestedIndices(_ values: [Int], _ shape: [Int]) -> String {
    func go(_ offset: Int, _ dims: ArraySlice<Int>) -> String {
        guard let d = dims.first else { return String(values[offset]) }
        let stride = dims.dropFirst().reduce(1, *)
        return "[" + (0..<d).map { go(offset + $0 * stride, dims.dropFirst()) }.joined(separator: ", ") + "]"
    }
    return go(0, shape[...])
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
