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
    /// Heads to sample (their indices are printed instead of their values).
    var sample: [String: SamplingOptions] = [:]
    /// The sampling seed; nil: a fresh one, reported on standard error.
    var seed: UInt64?

    func render() throws -> String {
        let model = try options.load()
        let file = try InputFile.read(input)
        var shape = file.shape
        var ids: [Int64]?
        if let v = model.vocabulary {
            // Token ids [batch, steps]; a 1-D file is one sequence.
            if shape.count == 1 { shape = [1, shape[0]] }
            guard shape.count == 2 else {
                throw FileError(description: "\(input): token ids must be [batch, steps] (or one sequence [steps]), got shape \(shape)")
            }
            var read = file.integers ?? []
            if file.integers == nil {
                for (i, x) in file.values.enumerated() {
                    guard x == x.rounded(), abs(x) < 1e15 else {
                        throw FileError(description: "\(input): the model's input is token ids (vocabulary \(v)), but value \(i) (row \(i / max(shape[1], 1)), step \(i % max(shape[1], 1))) is \(x), not an integer")
                    }
                    read.append(Int64(x))
                }
            }
            ids = read
        } else if shape.count == 1 {
            shape = [1, shape[0]]
        }
        let (batch, steps) = ids != nil || shape.count == 3 ? (shape[0], shape[1]) : (shape[0], 1)
        // Each head's leading dimensions: [batch, steps] for per-step heads of
        // a [batch, steps, ...] input, [batch] otherwise.
        func lead(_ h: CompiledHead) -> [Int] {
            if model.spec.isSequenceModel { return h.perStep ? [batch, steps] : [batch] }
            return Array(shape.dropLast())
        }
        if !sample.isEmpty {
            let s = drawSeed()
            let r = try ids.map { try model(ids: $0, shape: shape, lengths: lengths, sample: sample, seed: s) }
                ?? model(file.values, shape: shape, lengths: lengths, sample: sample, seed: s)
            return try renderSampled(model, r, seed: s, lead: lead)
        }
        let outputs = try ids.map { try model(ids: $0, shape: shape, lengths: lengths) }
            ?? model(file.values, shape: shape, lengths: lengths)
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

extension Run {
    /// The seed given, or a fresh one reported on standard error so that the
    /// draws can be repeated.
    func drawSeed() -> UInt64 {
        if let seed { return seed }
        let s = UInt64.random(in: .min ... .max)
        printError("smk: sampling with --seed \(s)")
        return s
    }

    /// Every head, the sampled ones as indices (`[rows, draws]`; -1 for a
    /// row with nothing to draw from). `lead` gives a head's leading
    /// dimensions.
    func renderSampled(_ model: Model, _ r: (outputs: [String: [Float]], indices: [String: [Int]], logProbs: [String: [Float]]),
                       seed s: UInt64, lead headLead: (CompiledHead) -> [Int]) throws -> String {
        if json {
            var parts: [String] = []
            for h in model.heads {
                if let idx = r.indices[h.name] {
                    parts.append("\"\(h.name)\": " + nestedIndices(idx, headLead(h) + [sample[h.name]!.numSamples]))
                } else {
                    parts.append("\"\(h.name)\": " + nested(r.outputs[h.name]!, headLead(h) + [h.size]))
                }
            }
            return "{" + parts.joined(separator: ", ") + "}"
        }
        var out: [String] = []
        for h in model.heads {
            let hl = headLead(h)
            let sampled = r.indices[h.name] != nil
            let width = sampled ? sample[h.name]!.numSamples : h.size
            let what = sampled ? "sampled from \(h.spec.output.rawValue), seed \(s)" : h.spec.output.rawValue
            out.append("\(h.name) (\(what), \(hl.map(String.init).joined(separator: " x ")) x \(width))")
            var rows: [[String]] = [[hl.count == 2 ? "row,step" : "row"] + (0..<width).map { sampled ? "draw \($0)" : String($0) }]
            for row in 0..<hl.reduce(1, *) {
                let label = hl.count == 2 ? "\(row / hl[1]),\(row % hl[1])" : "\(row)"
                if let idx = r.indices[h.name] {
                    rows.append([label] + (0..<width).map { String(idx[row * width + $0]) })
                } else {
                    rows.append([label] + (0..<width).map { format(r.outputs[h.name]![row * width + $0]) })
                }
            }
            out += table(rows)
            out.append("")
        }
        return out.joined(separator: "\n")
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
