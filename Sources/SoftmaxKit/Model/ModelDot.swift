/// The layer and head tree of a model as a Graphviz DOT graph: the input,
/// every layer (kind, widths, activation, recurrent options, selected step)
/// and every head (transform, size, parameters), with an edge from what each
/// reads. `dot -Tsvg` draws it. The text depends only on the model, so every
/// surface (C `smk_model_dot`, Python `Model.to_dot`, `smk info --dot`)
/// prints the same graph.
extension Model {
    public func dot() -> String {
        var out = "digraph model {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        let inputLabel: String
        if let v = vocabulary {
            inputLabel = "input\\ntoken ids, vocabulary \(v)"
        } else {
            inputLabel = "input\\n\(features) features"
        }
        out += "  \"input\" [shape=oval, label=\"\(inputLabel)\"];\n"
        var index: [String: Int] = [:]
        for (k, l) in spec.layers.enumerated() { index[l.name] = k }
        func node(_ layer: String) -> String { layer == "input" ? "\"input\"" : "\"layer:" + dotEscape(layer) + "\"" }
        for (k, l) in spec.layers.enumerated() {
            let inWidth: Int
            if l.input == "input" {
                inWidth = vocabulary ?? features
            } else {
                inWidth = index[l.input].map { layerWidths[$0] } ?? 0
            }
            var lines = [dotEscape(l.name)]
            switch l.kind {
            case .dense:
                lines.append("dense \(inWidth) -> \(layerWidths[k])")
                if l.activation != .identity { lines.append(l.activation.rawValue) }
            case .lstm, .gru:
                let dirs = (l.bidirectional ?? false) ? 2 : 1
                var line = "\(l.kind.rawValue) \(inWidth) -> \(layerWidths[k] / max(dirs, 1))"
                if dirs == 2 { line += " x2 bidirectional" }
                lines.append(line)
                if let n = l.numLayers, n > 1 { lines.append("\(n) layers") }
                lines.append((l.sequence ?? true) ? "every step" : "final state")
            case .embedding:
                lines.append("embedding \(inWidth) x \(layerWidths[k])")
            }
            let edge = l.step.map { " [label=\"step \($0)\"]" } ?? ""
            out += "  \(node(l.name)) [label=\"\(lines.joined(separator: "\\n"))\"];\n"
            out += "  \(node(l.input)) -> \(node(l.name))\(edge);\n"
        }
        for h in heads {
            let s = h.spec
            var lines = [dotEscape(h.name), "\(s.output.rawValue) [\(h.size)]"]
            if let t = s.temperature { lines.append("temperature \(t)") }
            if let m = s.mask { lines.append("mask " + m.map(String.init).joined()) }
            if s.renormalize == false { lines.append("not renormalized") }
            if let seg = s.segments { lines.append(seg.map { "\($0.width) \($0.activation.rawValue)" }.joined(separator: ", ")) }
            if !h.perStep { lines.append("one row per sequence") }
            let id = "\"head:" + dotEscape(h.name) + "\""
            out += "  \(id) [shape=note, label=\"\(lines.joined(separator: "\\n"))\"];\n"
            if let c = s.coarse, let f = s.fine {
                out += "  \(node(c)) -> \(id) [label=\"coarse\"];\n"
                for name in f { out += "  \(node(name)) -> \(id) [label=\"fine\"];\n" }
            } else if let l = s.layer {
                out += "  \(node(l)) -> \(id);\n"
            }
        }
        return out + "}\n"
    }
}

/// `s` inside a DOT double-quoted string: quotes and backslashes escaped,
/// line breaks as `\n`, other control characters dropped.
func dotEscape(_ s: String) -> String {
    var r = ""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": r += "\\\""
        case "\\": r += "\\\\"
        case "\n": r += "\\n"
        default:
            if ch.value < 0x20 || ch.value == 0x7f { continue }
            r.unicodeScalars.append(ch)
        }
    }
    return r
}
