#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An ensemble on disk: a JSON manifest and one model file per member, the
/// format every surface reads and writes (C `smk_ensemble_load` /
/// `smk_ensemble_save`, Python `Ensemble.load` / `save`, `python -m
/// softmaxkit convert` of a model averaging sub-models):
///
///     {"softmaxkit_ensemble": 1, "mode": "arithmetic",
///      "members": [{"path": "e.member0.safetensors", "sha256": "…"}, …],
///      "padding_id": 0}
///
/// - `softmaxkit_ensemble`: the format version, 1.
/// - `mode`: "arithmetic" (the default), "geometric" or "logits".
/// - `members`: 1 to ``Ensemble/maxManifestMembers`` entries, each a path
///   or `{"path": …, "sha256": …}`. A path is relative to the manifest's
///   folder and stays inside it: absolute paths, `..` components, empty
///   components, backslashes and control characters are refused. `sha256`
///   (64 hex digits, optional) is checked against the member file's bytes.
/// - `padding_id` (optional): the id that marks padding in an ensemble of
///   token-id models (``Ensemble/paddingID``), in `[0, vocabulary)`.
/// Unknown keys, duplicate keys, manifests over ``Ensemble/maxManifestBytes``
/// and members that are not regular files (a FIFO, a device, a directory)
/// are refused without blocking. Member files are followed as the file
/// system resolves them (a symbolic link in the folder is its owner's choice).
extension Ensemble {
    /// The id that marks padding in the members' token-id input: the one a
    /// manifest or ``init(models:mode:paddingID:)`` gave, else the members'
    /// own (``Model/paddingID``) when they all have the same, else nil. The
    /// Python binding takes lengths from it (each row's steps before its
    /// trailing padding ids) for a call on ids without lengths; in Swift and
    /// C pass ``paddingLengths(_:batch:steps:paddingID:)``'s lengths.
    public var paddingID: Int? {
        if let givenPaddingID { return givenPaddingID }
        let first = models[0].paddingID
        return models.allSatisfy { $0.paddingID == first } ? first : nil
    }

    /// The largest manifest read, in bytes.
    public static let maxManifestBytes = 1 << 20
    /// The most members a manifest may list.
    public static let maxManifestMembers = 1024

    /// Loads an ensemble from its manifest (see the top of this file).
    /// - Throws: `.io` (the manifest or a member cannot be read, or is not
    ///   a regular file; the member is named), `.format` (not a manifest,
    ///   a bad key or value, a member path that leaves the folder, a member
    ///   whose bytes differ from its SHA-256, a member that is not a model
    ///   file), `.shapeMismatch` (members that do not form an ensemble), and
    ///   `.outOfMemory`.
    public convenience init(manifest path: String) throws(SoftmaxKitError) {
        func bad(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, "\(path): \(m)") }
        let text: [UInt8]
        do throws(SoftmaxKitError) {
            let file = try FilePrefix(path)
            let bytes = try file.prefix(Ensemble.maxManifestBytes + 1)
            guard bytes.count <= Ensemble.maxManifestBytes else {
                throw bad("the ensemble manifest is over \(Ensemble.maxManifestBytes) bytes")
            }
            text = Array(bytes)
        } catch {
            guard error.kind == .io else { throw error }
            throw SoftmaxKitError(.io, "\(path): cannot read the ensemble manifest: \(error.message)")
        }
        let json: JSONValue
        do throws(SoftmaxKitError) {
            json = try text.withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in try JSONValue.parse(b, what: "the manifest") }
        } catch {
            throw bad("not an ensemble manifest (\(error.message))")
        }
        guard case .object(let keys) = json, json["softmaxkit_ensemble"] != nil else {
            throw bad("not an ensemble manifest (no \"softmaxkit_ensemble\" key)")
        }
        let known = ["softmaxkit_ensemble", "mode", "members", "padding_id"]
        let unknown = keys.map { $0.0 }.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw bad("unknown key(s) \(unknown.map { "\"\(dotEscape($0))\"" }.joined(separator: ", ")) (expected \(known.joined(separator: ", ")))")
        }
        guard json["softmaxkit_ensemble"] == .number(1) else {
            throw bad("ensemble manifest version \(Ensemble.shortJSON(json["softmaxkit_ensemble"]!)); this library reads version 1")
        }
        var mode = EnsembleMode.arithmetic
        if let m = json["mode"] {
            guard case .string(let s) = m, let found = EnsembleMode.allCases.first(where: { $0.name == s }) else {
                throw bad("mode \(Ensemble.shortJSON(m)) is unknown (expected one of \(EnsembleMode.allCases.map(\.name).joined(separator: ", ")))")
            }
            mode = found
        }
        guard case .array(let entries)? = json["members"], !entries.isEmpty else {
            throw bad("\"members\" must be a non-empty list")
        }
        guard entries.count <= Ensemble.maxManifestMembers else {
            throw bad("\"members\" lists \(entries.count) models, more than the \(Ensemble.maxManifestMembers) a manifest may list")
        }
        // Every entry is checked before any member file is opened.
        var members: [(path: String, sha256: String?)] = []
        for (k, entry) in entries.enumerated() {
            let shape = "members[\(k)] must be a path or {\"path\": ..., \"sha256\": ...}"
            var p: String, digest: String? = nil
            switch entry {
            case .string(let s): p = s
            case .object(let fields):
                guard case .string(let s)? = entry["path"], fields.allSatisfy({ $0.0 == "path" || $0.0 == "sha256" }) else { throw bad(shape) }
                p = s
                if let d = entry["sha256"] {
                    guard case .string(let h) = d, h.utf8.count == 64, h.utf8.allSatisfy({ Ensemble.hexValue($0) != nil }) else {
                        throw bad("members[\(k)]: \"sha256\" must be 64 hexadecimal digits")
                    }
                    digest = String(decoding: h.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
                }
            default: throw bad(shape)
            }
            if let why = Ensemble.memberPathProblem(p) { throw bad("members[\(k)] \"\(dotEscape(p))\" \(why)") }
            members.append((p, digest))
        }
        var paddingID: Int? = nil
        if let v = json["padding_id"] {
            guard case .number(let d) = v, d == d.rounded(), d >= 0, d < 9.0e15 else {
                throw bad("padding_id must be a non-negative integer, got \(Ensemble.shortJSON(v))")
            }
            paddingID = Int(d)
        }
        let folder = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(path[...$0]) } ?? ""
        var models: [Model] = []
        for (k, m) in members.enumerated() {
            let file = folder + m.path
            let what = "\(path): members[\(k)] \"\(dotEscape(m.path))\""
            do throws(SoftmaxKitError) {
                if let digest = m.sha256 {
                    let f = try FilePrefix(file)
                    let bytes = try f.prefix(Int.max)
                    guard Ensemble.sha256Hex(bytes) == digest else {
                        throw SoftmaxKitError(.format, "is not the file the manifest was written with (its SHA-256 differs)")
                    }
                    models.append(try Model(safetensors: bytes))
                } else {
                    models.append(try Model(contentsOf: file))
                }
            } catch {
                throw SoftmaxKitError(error.kind, "\(what): \(error.message)")
            }
        }
        try self.init(models: models, mode: mode)
        if let paddingID {
            do throws(SoftmaxKitError) { try checkPaddingID(paddingID, what: "\(path): padding_id") } catch { throw SoftmaxKitError(.format, error.message) }
            givenPaddingID = paddingID
        }
    }

    /// Writes the ensemble as a manifest at `path` and one model file per
    /// member beside it, `STEM.member<k>.safetensors` (STEM: `path` without
    /// a final `.json`, then without a final `.ensemble`), replacing files
    /// of those names; the manifest (written last) names the members by
    /// file name, with their SHA-256, the mode and `paddingID` when not nil.
    /// Returns the paths written, manifest last.
    /// - Throws: `.io` naming a file that cannot be written (files written
    ///   before it remain); `.invalidArgument` for a padding id outside the
    ///   vocabulary or given for an ensemble of float input.
    @discardableResult
    public func save(to path: String, paddingID: Int?) throws(SoftmaxKitError) -> [String] {
        if let paddingID { try checkPaddingID(paddingID, what: "padding_id") }
        var stem = path
        if stem.hasSuffix(".json") { stem.removeLast(5) }
        if stem.hasSuffix(".ensemble") { stem.removeLast(9) }
        var written: [String] = []
        var text = "{\n  \"softmaxkit_ensemble\": 1,\n  \"mode\": \"\(mode.name)\",\n  \"members\": [\n"
        for (k, m) in models.enumerated() {
            let file = "\(stem).member\(k).safetensors"
            let bytes = m.serialized()
            try writeFile(file, bytes)
            written.append(file)
            let name = file.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(file[file.utf8.index(after: $0)...]) } ?? file
            var quoted = ""
            JSONValue.writeString(name, to: &quoted)
            text += "    {\n      \"path\": \(quoted),\n      \"sha256\": \"\(bytes.withUnsafeBytes { Ensemble.sha256Hex($0) })\"\n    }"
            text += k + 1 < models.count ? ",\n" : "\n"
        }
        text += "  ]"
        if let paddingID { text += ",\n  \"padding_id\": \(paddingID)" }
        text += "\n}\n"
        try writeFile(path, Array(text.utf8))
        written.append(path)
        return written
    }

    /// ``save(to:paddingID:)`` with the ensemble's own ``paddingID``.
    @discardableResult
    public func save(to path: String) throws(SoftmaxKitError) -> [String] {
        try save(to: path, paddingID: paddingID)
    }

    /// An ensemble of `models` that marks `paddingID` as padding (see ``paddingID``).
    /// - Throws: the errors of ``init(models:mode:)``; `.invalidArgument`
    ///   for a padding id outside the members' vocabulary or given for
    ///   members of float input.
    public convenience init(models: [Model], mode: EnsembleMode = .arithmetic, paddingID: Int?) throws(SoftmaxKitError) {
        try self.init(models: models, mode: mode)
        if let paddingID { try checkPaddingID(paddingID, what: "padding_id") }
        givenPaddingID = paddingID
    }

    func checkPaddingID(_ id: Int, what: String) throws(SoftmaxKitError) {
        guard let v = vocabulary else {
            throw .invalid("\(what) \(id) is given but the ensemble's models take \(features) float features, not token ids")
        }
        guard id >= 0, id < v else { throw .invalid("\(what) \(id) is outside the vocabulary [0, \(v))") }
    }

    /// Why `p` cannot name a member file inside the manifest's folder, or nil.
    static func memberPathProblem(_ p: String) -> String? {
        if p.isEmpty { return "is empty" }
        if p.utf8.count > 4096 { return "is longer than 4096 bytes" }
        if p.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return "holds a control character" }
        if p.utf8.contains(UInt8(ascii: "\\")) { return "holds a backslash (use / between folders)" }
        if p.utf8.first == UInt8(ascii: "/") { return "is absolute: member paths are relative to the manifest's folder" }
        for part in p.split(separator: "/", omittingEmptySubsequences: false) {
            if part == ".." { return "leaves the manifest's folder (a \"..\" component)" }
            if part.isEmpty { return "has an empty component" }
        }
        return nil
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    /// A JSON value as a short message fragment.
    static func shortJSON(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "\"\(dotEscape(String(s.prefix(64))))\""
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        default: return v.typeName
        }
    }

    /// The SHA-256 digest (FIPS 180-4) of `bytes` as 64 lowercase hex digits.
    static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var w = [UInt32](repeating: 0, count: 64)
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        func block(_ b: UnsafeRawPointer) {
            for i in 0..<16 {
                w[i] = UInt32(b.load(fromByteOffset: 4 * i, as: UInt8.self)) << 24 | UInt32(b.load(fromByteOffset: 4 * i + 1, as: UInt8.self)) << 16
                    | UInt32(b.load(fromByteOffset: 4 * i + 2, as: UInt8.self)) << 8 | UInt32(b.load(fromByteOffset: 4 * i + 3, as: UInt8.self))
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var a = h[0], b2 = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ sha256K[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b2) ^ (a & c) ^ (b2 & c)
                let t2 = s0 &+ maj
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b2; b2 = a; a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b2; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
        let n = bytes.count
        var off = 0
        if let base = bytes.baseAddress {
            while n - off >= 64 { block(base + off); off += 64 }
        }
        // The tail, the 0x80 byte, zeros and the bit length (one or two blocks).
        var tail = [UInt8](repeating: 0, count: n - off + 9 <= 64 ? 64 : 128)
        for i in 0..<(n - off) { tail[i] = bytes[off + i] }
        tail[n - off] = 0x80
        let bits = UInt64(n) &* 8
        for i in 0..<8 { tail[tail.count - 1 - i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i))) }
        tail.withUnsafeBytes { t in
            block(t.baseAddress!)
            if t.count == 128 { block(t.baseAddress! + 64) }
        }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for v in h { for s in stride(from: 28, through: 0, by: -4) { out.append(digits[Int((v >> UInt32(s)) & 15)]) } }
        return String(decoding: out, as: UTF8.self)
    }

    /// The ensemble as a Graphviz DOT graph: one cluster per member (its
    /// ``Model/dot()`` graph, node ids prefixed `m<k>:`), the shared input,
    /// and each combined head (`ensemble:<name>`, labelled with the mode)
    /// with an edge from every member's head. The same ensemble always
    /// gives the same text (C `smk_ensemble_dot`, Python `Ensemble.to_dot`).
    public func dot() -> String {
        var out = "digraph ensemble {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        var inputLine: String? = nil
        for (k, m) in models.enumerated() {
            out += "  subgraph cluster_member\(k) {\n    label=\"member \(k)\";\n"
            for line in m.dot().split(separator: "\n").dropFirst() {
                let s = line.drop { $0 == " " }
                if s.isEmpty || s == "}" || s.hasPrefix("rankdir") || s.hasPrefix("node [") { continue }
                if s.hasPrefix("\"input\" [") {
                    if inputLine == nil { inputLine = String(s) }
                    continue
                }
                out += "    " + Ensemble.prefixNodeIDs(String(s), member: k) + "\n"
            }
            out += "  }\n"
        }
        if let inputLine { out += "  \(inputLine)\n" }
        for h in heads {
            let name = dotEscape(h.name), id = "\"ensemble:\(name)\""
            out += "  \(id) [shape=ellipse, label=\"\(name)\\n\(mode.name) mean [\(h.size)]\"];\n"
            for k in models.indices { out += "  \"m\(k):head:\(name)\" -> \(id);\n" }
        }
        return out + "}\n"
    }

    /// A statement of a member's DOT graph with its node ids (the quoted
    /// string that starts it and the one after `-> `) prefixed `m<k>:`,
    /// except the shared `"input"`.
    static func prefixNodeIDs(_ s: String, member k: Int) -> String {
        let b = Array(s.utf8)
        var out: [UInt8] = [], i = 0
        // The end (index of the closing quote) of the quoted string at `q`.
        func closing(_ q: Int) -> Int {
            var j = q + 1
            while j < b.count, b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
            return min(j, b.count - 1)
        }
        func emitID(_ q: Int) -> Int {
            let e = closing(q)
            let id = Array(b[(q + 1)..<e])
            if id == Array("input".utf8) { out += Array("\"input\"".utf8) } else { out += Array("\"m\(k):".utf8) + id + [UInt8(ascii: "\"")] }
            return e + 1
        }
        if b.first == UInt8(ascii: "\"") { i = emitID(0) }
        let arrow = Array("-> \"".utf8)
        while i < b.count {
            if b[i] == UInt8(ascii: "\"") {  // a label or other quoted text: copied whole
                let e = closing(i)
                out += b[i...e]; i = e + 1
                continue
            }
            if i + arrow.count <= b.count, Array(b[i..<(i + arrow.count)]) == arrow {
                out += Array("-> ".utf8); i = emitID(i + 3)
                continue
            }
            out.append(b[i]); i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private let sha256K: [UInt32] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]
