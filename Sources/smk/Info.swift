import SoftmaxKit

/// `smk info MODEL`: input, layers (with the recurrent ones' structure),
/// heads and parameter count.
struct Info {
    var options: ModelOptions
    var dot = false

    func render() throws -> String {
        let model = try options.load()
        if dot { return model.dot() }
        var out: [String] = []
        let sequence = model.spec.isSequenceModel
        out.append("model       \(options.model)")
        if let v = model.vocabulary {
            out.append("input       token ids, vocabulary \(v) ([batch, steps] int32/int64, or [batch] for one step)")
        } else if sequence {
            out.append("input       \(model.features) features ([batch, steps, \(model.features)]; [batch, \(model.features)] is one step)")
        } else {
            out.append("input       \(model.features) features ([batch, \(model.features)] or [batch, steps, \(model.features)])")
        }
        out.append("parameters  \(model.parameterCount)")
        out.append("cpu path    \(SoftmaxKitBuild.cpuPath)")
        out.append("")
        var rows: [[String]] = [["layer", "kind", "input", "shape", "activation", "details", "parameters"]]
        func width(of name: String) -> Int {
            if name == "input" { return model.features }
            return model.spec.layers.firstIndex { $0.name == name }.map { model.layerWidths[$0] } ?? 0
        }
        func count(_ tensor: String) -> Int { model.weights[tensor].map { $0.shape.reduce(1, *) } ?? 0 }
        for (k, l) in model.spec.layers.enumerated() {
            let outWidth = model.layerWidths[k]
            var details: [String] = []
            var params = 0
            var shape: String
            var activation = l.activation.rawValue
            switch l.kind {
            case .embedding:
                let v = model.vocabulary ?? 0
                shape = "ids -> \(outWidth)"
                details.append("vocabulary \(v), width \(outWidth)")
                params = count(l.name + ".weight")
                activation = ""
            case .lstm, .gru:
                let layers = l.numLayers ?? 1, bi = l.bidirectional ?? false, seq = l.sequence ?? true
                let units = outWidth / (bi ? 2 : 1)
                shape = "\(width(of: l.input)) -> \(outWidth)"
                details.append("units \(units)")
                details.append("layers \(layers)")
                if bi { details.append("bidirectional") }
                details.append(seq ? "sequence (every step)" : "final state")
                for k in 0..<layers {
                    for sfx in bi ? ["", "_reverse"] : [""] {
                        for t in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] { params += count("\(l.name).\(t)_l\(k)\(sfx)") }
                    }
                }
                activation = ""
            default:
                let inWidth = width(of: l.input)
                shape = "\(inWidth) -> \(outWidth)"
                if let step = l.step { details.append(step < 0 ? "step \(step) (from the end)" : "step \(step)") }
                params = count(l.name + ".weight") + count(l.name + ".bias")
            }
            rows.append([l.name, l.kind.rawValue, l.input, shape, activation, details.joined(separator: "; "), "\(params)"])
        }
        out += table(rows)
        out.append("")
        rows = [["head", "output", "size", "reads", "details"]]
        for h in model.heads {
            let s = h.spec
            var reads = s.layer ?? ""
            var details: [String] = []
            if sequence { details.append(h.perStep ? "per step [batch, steps, \(h.size)]" : "per sequence [batch, \(h.size)]") }
            if let t = s.temperature { details.append("temperature \(t)") }
            if let m = s.mask { details.append("mask \(m)") }
            if let r = s.renormalize { details.append("renormalize \(r)") }
            if let seg = s.segments { details.append("segments " + seg.map { "\($0.width) \($0.activation.rawValue)" }.joined(separator: ", ")) }
            if let c = s.coarse, let f = s.fine { reads = "\(c) | \(f.joined(separator: ", "))" }
            rows.append([h.name, s.output.rawValue, "\(h.size)", reads, details.joined(separator: "; ")])
        }
        out += table(rows)
        return out.joined(separator: "\n")
    }
}

/// Left-aligned columns separated by two spaces, a rule under the first row.
func printTable(_ rows: [[String]]) {
    for line in table(rows) { print(line) }
}

/// The lines of ``printTable``.
func table(_ rows: [[String]]) -> [String] {
    guard let first = rows.first else { return [] }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ r: [String]) -> String {
        let padded = r.enumerated().map { i, c in c + String(repeating: " ", count: widths[i] - c.count) }.joined(separator: "  ")
        return String(padded.reversed().drop { $0 == " " }.reversed())
    }
    return [line(first), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.dropFirst().map(line)
}
