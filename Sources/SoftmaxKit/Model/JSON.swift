/// A small JSON reader and writer for model specs and safetensors headers.
///
/// The core does not import Foundation (the shared library links the Swift
/// runtime statically and must stay small), so this is the whole JSON
/// support it needs: RFC 8259 values, objects kept in file order, duplicate
/// keys rejected (safetensors names must be unique), a nesting limit so that
/// hostile input cannot exhaust the stack, and UTF-8 validated up front.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order; keys are unique.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object, nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// A short name of the value's type, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: Reading

extension JSONValue {
    /// Deepest nesting accepted (specs need 4, safetensors headers 3).
    static let maxDepth = 64

    /// Parses one JSON document from UTF-8 bytes.
    /// - Throws: `.format` naming `what` and the byte offset of the problem.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, what: String = "JSON") throws(SoftmaxKitError) -> JSONValue {
        guard validUTF8(bytes) else {
            throw SoftmaxKitError(.format, "\(what) is not valid UTF-8")
        }
        var p = JSONParser(bytes: bytes, what: what)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    /// Parses one JSON document from a string.
    public static func parse(_ text: String, what: String = "JSON") throws(SoftmaxKitError) -> JSONValue {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in try parse(b, what: what) }
    }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let what: String
    var i = 0
    /// Members of an object checked for a duplicate key one by one.
    static let shortObject = 16
    /// Values stepped over by ``skip(depth:)``.
    var skipped = 0

    init(bytes: UnsafeBufferPointer<UInt8>, what: String) {
        self.bytes = bytes; self.what = what
    }

    func fail(_ message: String) -> SoftmaxKitError {
        SoftmaxKitError(.format, "\(what) is not valid JSON at byte \(i): \(message)")
    }

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    mutating func expect(_ literal: StaticString) throws(SoftmaxKitError) {
        let n = literal.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("truncated literal") }
        for k in 0..<n where bytes[i + k] != literal.utf8Start[k] { throw fail("unknown literal") }
        i += n
    }

    mutating func value(depth: Int) throws(SoftmaxKitError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
        guard let c = peek else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character '\(Unicode.Scalar(c))'")
        }
    }

    mutating func object(depth: Int) throws(SoftmaxKitError) -> JSONValue {
        i += 1
        var members: [(String, JSONValue)] = []
        // Keys compare as Strings (as they did in a set): a short object's
        // are compared in place, a set is built only for a long one.
        var seen = Set<String>()
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            let duplicate: Bool
            if members.count < JSONParser.shortObject {
                duplicate = members.contains { $0.0 == key }
            } else {
                if seen.isEmpty { for (k, _) in members { seen.insert(k) } }
                duplicate = !seen.insert(key).inserted
            }
            guard !duplicate else { throw fail("duplicate key \"\(key)\"") }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            i += 1
            skipSpace()
            members.append((key, try value(depth: depth + 1)))
            skipSpace()
            guard let c = peek else { throw fail("unterminated object") }
            i += 1
            if c == UInt8(ascii: "}") { return .object(members) }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in object") }
        }
    }

    mutating func array(depth: Int) throws(SoftmaxKitError) -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard let c = peek else { throw fail("unterminated array") }
            i += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ']' in array") }
        }
    }

    mutating func hex4() throws(SoftmaxKitError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws(SoftmaxKitError) -> String {
        i += 1
        // A string without escapes (nearly every name and key) is made
        // straight from its bytes.
        var end = i
        while end < bytes.count {
            let c = bytes[end]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<end]), as: UTF8.self)
                i = end + 1
                return s
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            end += 1
        }
        var out: [UInt8] = Array(bytes[i..<end])
        i = end
        while true {
            guard let c = peek else { throw fail("unterminated string") }
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                // The input was validated as UTF-8 and escapes produce valid scalars.
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: UTF8.encode(u)!)
                default: throw fail("unknown escape")
                }
            case 0..<0x20:
                throw fail("control character in string")
            default:
                out.append(c)
            }
        }
    }

    mutating func number() throws(SoftmaxKitError) -> Double {
        let start = i
        let negative = peek == UInt8(ascii: "-")
        if negative { i += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while let c = p.peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.i += 1; n += 1 }
            return n
        }
        let intStart = i
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw fail("expected digits") }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("leading zero in number") }
        // An integer of at most 15 digits is exact in a Double: read in place
        // (shapes and offsets are most of a header's numbers).
        if intDigits <= 15, peek != UInt8(ascii: "."), peek != UInt8(ascii: "e"), peek != UInt8(ascii: "E") {
            var v = 0
            for k in intStart..<i { v = v * 10 + Int(bytes[k] &- UInt8(ascii: "0")) }
            return negative ? -Double(v) : Double(v)
        }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("expected digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("expected exponent digits") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let v = Double(text) else { throw fail("bad number \(text)") }
        return v
    }
}

// MARK: Reading without a tree

extension JSONValue {
    /// How many values (objects, arrays and scalars) a JSON text holds,
    /// checked as JSON without building them: lets a caller refuse a text
    /// whose tree would be far larger than it should need.
    static func valueCount(_ text: String, what: String) throws(SoftmaxKitError) -> Int {
        return try Array(text.utf8).withUnsafeBufferPointer { (b) throws(SoftmaxKitError) in
            guard validUTF8(b) else { throw SoftmaxKitError(.format, "\(what) is not valid UTF-8") }
            var p = JSONParser(bytes: b, what: what)
            p.skipSpace()
            try p.skip(depth: 0)
            p.skipSpace()
            guard p.i == b.count else { throw p.fail("unexpected data after the JSON value") }
            return p.skipped
        }
    }
}

/// Whether `bytes` are well-formed UTF-8, without copying them.
func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var it = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    while true {
        switch parser.parseScalar(from: &it) {
        case .valid: continue
        case .emptyInput: return true
        case .error: return false
        }
    }
}

extension JSONParser {
    /// Checks one value and steps over it, keeping nothing of it.
    mutating func skip(depth: Int) throws(SoftmaxKitError) {
        guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
        guard let c = peek else { throw fail("unexpected end of input") }
        skipped += 1
        switch c {
        case UInt8(ascii: "{"): try members(depth: depth) { (p, _) throws(SoftmaxKitError) in try p.skip(depth: depth + 1) }
        case UInt8(ascii: "["): try elements(depth: depth) { (p) throws(SoftmaxKitError) in try p.skip(depth: depth + 1) }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expect("true")
        case UInt8(ascii: "f"): try expect("false")
        case UInt8(ascii: "n"): try expect("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try number()
        default: throw fail("unexpected character '\(Unicode.Scalar(c))'")
        }
    }

    /// Checks one string and steps over it; one without escapes is not copied.
    mutating func skipString() throws(SoftmaxKitError) {
        var end = i + 1
        while end < bytes.count {
            let c = bytes[end]
            if c == UInt8(ascii: "\"") { i = end + 1; return }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            end += 1
        }
        _ = try string()
    }

    /// Walks the object at the cursor: `body` is called with the parser at
    /// each member's value (after the key and ':') and must consume it.
    mutating func members(depth: Int, _ body: (inout JSONParser, String) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
        guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
        i += 1
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            i += 1
            skipSpace()
            try body(&self, key)
            skipSpace()
            guard let c = peek else { throw fail("unterminated object") }
            i += 1
            if c == UInt8(ascii: "}") { return }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in object") }
        }
    }

    /// Walks the array at the cursor: `body` consumes each element.
    mutating func elements(depth: Int, _ body: (inout JSONParser) throws(SoftmaxKitError) -> Void) throws(SoftmaxKitError) {
        guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
        i += 1
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return }
        while true {
            skipSpace()
            try body(&self)
            skipSpace()
            guard let c = peek else { throw fail("unterminated array") }
            i += 1
            if c == UInt8(ascii: "]") { return }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ']' in array") }
        }
    }
}

// MARK: Writing

extension JSONValue {
    /// Compact JSON text; numbers that are integers print without a fraction.
    public var serialized: String {
        String(decoding: serializedBytes, as: UTF8.self)
    }

    /// ``serialized`` as its UTF-8 bytes (written as bytes: appending to a
    /// String piece by piece is several times slower).
    var serializedBytes: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .number(let d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)).utf8 } else if d.isFinite { out += "\(d)".utf8 } else { out += "null".utf8 }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (k, v) in items.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (k, (key, v)) in members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// `s` as a JSON string: quotes, backslashes and control characters
    /// escaped, every other byte as it is.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most names need no escape: appended whole.
        var t = s
        let plain = t.withUTF8 { (b) -> Bool in
            guard !b.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: b)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out += "\\\"".utf8
            case UInt8(ascii: "\\"): out += "\\\\".utf8
            case 0x0A: out += "\\n".utf8
            case 0x0D: out += "\\r".utf8
            case 0x09: out += "\\t".utf8
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += "\\u00".utf8
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Most names need no escape: appended whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
