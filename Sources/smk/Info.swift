import SoftmaxKit

/// `smk info MODEL`: input, layers, heads and parameter count.
struct Info {
    var options: ModelOptions
    var dot = false

    func run() throws {
        let model = try options.load()
        if dot {
            print(model.dot(), terminator: "")
            return
        }
        print("model       \(options.model)")
        print("input       \(model.features) features ([batch, \(model.features)] or [batch, steps, \(model.features)])")
        print("parameters  \(model.parameterCount)")
        print("cpu path    \(SoftmaxKitBuild.cpuPath)")
        print("")
        var rows: [[String]] = [["layer", "input", "shape", "activation", "parameters"]]
        for (k, l) in model.spec.layers.enumerated() {
            let out = model.layerWidths[k]
            let inWidth = l.input == "input" ? model.features : model.layerWidths[model.spec.layers.firstIndex { $0.name == l.input } ?? 0]
            let params = out * inWidth + (model.weights[l.name + ".bias"] != nil ? out : 0)
            rows.append([l.name, l.input, "\(inWidth) -> \(out)", l.activation.rawValue, "\(params)"])
        }
        printTable(rows)
        print("")
        rows = [["head", "output", "size", "reads", "details"]]
        for h in model.heads {
            let s = h.spec
            var reads = s.layer ?? ""
            var details: [String] = []
            if let t = s.temperature { details.append("temperature \(t)") }
            if let m = s.mask { details.append("mask \(m)") }
            if let r = s.renormalize { details.append("renormalize \(r)") }
            if let seg = s.segments { details.append("segments " + seg.map { "\($0.width) \($0.activation.rawValue)" }.joined(separator: ", ")) }
            if let c = s.coarse, let f = s.fine { reads = "\(c) | \(f.joined(separator: ", "))" }
            rows.append([h.name, s.output.rawValue, "\(h.size)", reads, details.joined(separator: "; ")])
        }
        printTable(rows)
    }
}

/// Left-aligned columns separated by two spaces, a rule under the first row.
func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ r: [String]) -> String {
        let padded = r.enumerated().map { i, c in c + String(repeating: " ", count: widths[i] - c.count) }.joined(separator: "  ")
        return String(padded.reversed().drop { $0 == " " }.reversed())
    }
    print(line(first))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for r in rows.dropFirst() { print(line(r)) }
}
