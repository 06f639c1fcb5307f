import Foundation
@_spi(CABI) import SoftmaxKit

/// An input read from `.npy` (little-endian f4/f8, or i4/i8 token ids, C
/// order, 1 to 3 dimensions) or CSV (one row per line, comma-separated
/// numbers; `#` lines and a non-numeric header line are skipped).
struct InputFile {
    var values: [Float]
    var shape: [Int]
    /// The values as integers when the file holds integers (an i4/i8 .npy
    /// file); nil for float files.
    var integers: [Int64]? = nil

    enum Failure: Error, CustomStringConvertible {
        case unreadable(String), malformed(String)
        var description: String {
            switch self {
            case .unreadable(let m), .malformed(let m): return m
            }
        }
    }

    static func read(_ path: String) throws -> InputFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable("cannot read \(path)") }
        if path.hasSuffix(".npy") { return try npy(Array(data), path) }
        return try csv(String(decoding: data, as: UTF8.self), path)
    }

    static func npy(_ b: [UInt8], _ path: String) throws -> InputFile {
        func bad(_ m: String) -> Failure { .malformed("\(path): \(m)") }
        guard b.count >= 10, b[0] == 0x93, Array(b[1...5]) == Array("NUMPY".utf8) else { throw bad("not a .npy file") }
        let major = b[6]
        var headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10
        } else {
            guard b.count >= 12 else { throw bad("truncated header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        }
        guard start + headerLen <= b.count else { throw bad("truncated header") }
        let header = String(decoding: b[start..<(start + headerLen)], as: UTF8.self)
        guard header.contains("'fortran_order': False") else { throw bad("only C-order arrays are supported") }
        let isF4 = header.contains("'descr': '<f4'"), isF8 = header.contains("'descr': '<f8'")
        let isI4 = header.contains("'descr': '<i4'"), isI8 = header.contains("'descr': '<i8'")
        guard isF4 || isF8 || isI4 || isI8 else {
            throw bad("dtype must be little-endian float32, float64, int32 or int64 ('<f4', '<f8', '<i4' or '<i8')")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw bad("no shape in the header")
        }
        let shape = try header[open.upperBound..<close].split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw bad("bad shape") }
            return v
        }
        let size = isF4 || isI4 ? 4 : 8
        let body = start + headerLen
        guard let count = elementCount(shape), body <= b.count, count <= (b.count - body) / size else { throw bad("data shorter than shape \(shape)") }
        if isI4 || isI8 {
            var ints = [Int64](repeating: 0, count: count)
            b.withUnsafeBytes { raw in
                for i in 0..<count {
                    let p = raw.baseAddress! + body + i * size
                    ints[i] = isI4 ? Int64(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                        : Int64(littleEndian: p.loadUnaligned(as: Int64.self))
                }
            }
            return InputFile(values: ints.map { Float($0) }, shape: shape, integers: ints)
        }
        var values = [Float](repeating: 0, count: count)
        b.withUnsafeBytes { raw in
            for i in 0..<count {
                let p = raw.baseAddress! + body + i * size
                values[i] = isF4 ? Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    : Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
            }
        }
        return InputFile(values: values, shape: shape)
    }

    static func csv(_ text: String, _ path: String) throws -> InputFile {
        var values: [Float] = []
        var rows = 0, width = -1
        for (n, raw) in text.split(whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = cells.map { Float($0) }
            if numbers.contains(where: { $0 == nil }) {
                if rows == 0 && width < 0 { continue }  // a header line
                throw Failure.malformed("\(path):\(n + 1): not a number in \"\(line)\"")
            }
            if width < 0 { width = cells.count }
            guard cells.count == width else {
                throw Failure.malformed("\(path):\(n + 1): \(cells.count) values, expected \(width) like the first row")
            }
            values += numbers.map { $0! }
            rows += 1
        }
        guard rows > 0 else { throw Failure.malformed("\(path): no rows of numbers") }
        return InputFile(values: values, shape: [rows, width])
    }
}
