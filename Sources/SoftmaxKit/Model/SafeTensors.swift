#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One named weight tensor, kept in its file's precision (F16 and BF16 are
/// widened to F32 at load).
public struct Tensor: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case f32([Float])
        case f64([Double])
    }

    public let shape: [Int]
    public let storage: Storage

    /// Creates a tensor, checking that `shape` holds exactly the values given.
    public init(shape: [Int], storage: Storage) throws(SoftmaxKitError) {
        let count = try checkedProduct(shape, what: "tensor shape")
        let have: Int
        switch storage {
        case .f32(let v): have = v.count
        case .f64(let v): have = v.count
        }
        guard have == count else { throw .shape("tensor shape \(shape) needs \(count) values, got \(have)") }
        self.shape = shape; self.storage = storage
    }

    public init(shape: [Int], _ values: [Float]) throws(SoftmaxKitError) { try self.init(shape: shape, storage: .f32(values)) }
    public init(shape: [Int], _ values: [Double]) throws(SoftmaxKitError) { try self.init(shape: shape, storage: .f64(values)) }

    /// The values rounded to float32 (the precision the model runs in).
    public var floats: [Float] {
        switch storage {
        case .f32(let v): return v
        case .f64(let v): return v.map { Float($0) }
        }
    }

    public var count: Int {
        switch storage {
        case .f32(let v): return v.count
        case .f64(let v): return v.count
        }
    }
}

/// Product of non-negative dimensions, rejecting negatives and overflow.
func checkedProduct(_ shape: [Int], what: String, kind: SoftmaxKitError.Kind = .sizeOverflow) throws(SoftmaxKitError) -> Int {
    var p = 1
    for d in shape {
        guard d >= 0 else { throw SoftmaxKitError(kind == .sizeOverflow ? .invalidArgument : kind, "\(what) \(shape) has a negative dimension") }
        guard let r = elementCount(p, d) else { throw SoftmaxKitError(kind, "\(what) \(shape): the element count overflows 64 bits") }
        p = r
    }
    return p
}

/// The safetensors container: an 8-byte little-endian header length `N`, a
/// JSON header of `N` bytes mapping tensor names to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the byte after the header) plus an optional `__metadata__` string map,
/// then the tensor bytes.
///
/// Nothing is trusted before it is checked: the header length against the
/// file and a 100 MB limit, UTF-8 and JSON, unique names, known dtypes,
/// shape products against overflow, each tensor's byte count against its
/// shape, offsets inside the data and not overlapping. Every failure is a
/// `.format` error naming the tensor or key.
public struct SafeTensors: Sendable {
    /// Largest header accepted, as the reference implementation does.
    public static let maxHeaderBytes = 100_000_000

    /// Tensors by name, and the names in header order.
    public let tensors: [String: Tensor]
    public let names: [String]
    /// The `__metadata__` map (string values only, as the format requires).
    public let metadata: [String: String]

    public init(tensors: [String: Tensor], names: [String], metadata: [String: String]) {
        self.tensors = tensors; self.names = names; self.metadata = metadata
    }

    /// Most dimensions a tensor shape may have (NumPy's limit).
    public static let maxRank = 64

    /// Reads and validates a file: its header and the tensor bytes the
    /// header points at, nothing after them.
    /// - Throws: `.io` when the file cannot be opened or read (or is not a
    ///   regular file), `.format` when it is malformed.
    public static func load(path: String) throws(SoftmaxKitError) -> SafeTensors {
        let file = try FilePrefix(path)
        return try parse { (n) throws(SoftmaxKitError) in try file.prefix(n) }
    }

    /// Parses and validates an in-memory file. Copies what it keeps.
    public static func parse(_ data: UnsafeRawBufferPointer) throws(SoftmaxKitError) -> SafeTensors {
        try parse { n in UnsafeRawBufferPointer(rebasing: data[0..<min(n, data.count)]) }
    }

    /// One tensor as the header describes it.
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let count: Int
        let begin: Int
        let end: Int
    }

    /// Parses a file whose first `n` bytes (fewer where the file is shorter)
    /// `prefix(n)` gives; each view is used only until the next call. The
    /// header is read first, then the data up to the last tensor's end.
    static func parse(prefix: (Int) throws(SoftmaxKitError) -> UnsafeRawBufferPointer) throws(SoftmaxKitError) -> SafeTensors {
        func bad(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, "safetensors: \(m)") }
        var data = try prefix(8)
        guard data.count >= 8 else { throw bad("file is \(data.count) bytes, shorter than the 8-byte header length (truncated)") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(data[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) exceeds the 100 MB limit") }
        let headerLen = Int(n)
        let dataStart = 8 + headerLen
        data = try prefix(dataStart)
        guard data.count >= dataStart else {
            throw bad("header length \(n) runs past the end of the \(data.count)-byte file (truncated)")
        }
        let (entries, metadata, slots) = try parseHeader(UnsafeBufferPointer(rebasing: data.bindMemory(to: UInt8.self)[8..<dataStart]))

        var need = 0
        for e in entries { need = max(need, e.end) }
        data = try prefix(dataStart + need)
        let dataLen = data.count - dataStart
        for e in entries where e.end > dataLen {
            throw bad("tensor \"\(displayName(e.name))\": data_offsets [\(e.begin), \(e.end)] run past the \(dataLen) data bytes (truncated or out of range)")
        }
        var order = Array(entries.indices)
        order.sort { (entries[$0].begin, entries[$0].end) < (entries[$1].begin, entries[$1].end) }
        for k in order.indices.dropFirst() where entries[order[k]].begin < entries[order[k - 1]].end {
            throw bad("tensors \"\(displayName(entries[order[k - 1]].name))\" and \"\(displayName(entries[order[k]].name))\" have overlapping data_offsets")
        }
        var built: [Tensor] = []
        built.reserveCapacity(entries.count)
        var names: [String] = []
        names.reserveCapacity(entries.count)
        for e in entries {
            let count = e.count
            // F16 and BF16 widen to F32: the array is larger than the bytes read.
            if e.dtype == "F64" { try probeArray(Double.self, count, for: "tensor \"\(displayName(e.name))\"") }
            else { try probeArray(Float.self, count, for: "tensor \"\(displayName(e.name))\"") }
            let src = data.baseAddress.map { $0 + dataStart + e.begin }
            let storage: Tensor.Storage
            if count == 0 {
                storage = e.dtype == "F64" ? .f64([]) : .f32([])
            } else {
                let src = src!
                switch e.dtype {
                case "F64": storage = .f64((0..<count).map { Double(bitPattern: littleEndian64(src + $0 * 8)) })
                case "F32": storage = .f32((0..<count).map { Float(bitPattern: littleEndian32(src + $0 * 4)) })
                case "F16": storage = .f32((0..<count).map { halfToFloat(littleEndian16(src + $0 * 2)) })
                default: storage = .f32((0..<count).map { Float(bitPattern: UInt32(littleEndian16(src + $0 * 2)) << 16) })
                }
            }
            built.append(try Tensor(shape: e.shape, storage: storage))
            names.append(e.name)
        }
        // The name table the header built, its slots filled: no name is hashed again.
        return SafeTensors(tensors: slots.mapValues { built[$0] }, names: names, metadata: metadata)
    }

    /// Reads the JSON header straight into tensor entries (and a table from
    /// each name to its entry's index), building no
    /// general JSON tree: memory stays near the header's own size whatever
    /// it holds (values of unknown keys are checked and skipped).
    static func parseHeader(_ header: UnsafeBufferPointer<UInt8>) throws(SoftmaxKitError) -> ([Entry], [String: String], [String: Int]) {
        func bad(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, "safetensors: \(m)") }
        guard validUTF8(header) else { throw SoftmaxKitError(.format, "safetensors header is not valid UTF-8") }
        var p = JSONParser(bytes: header, what: "safetensors header")
        p.skipSpace()
        guard p.peek == UInt8(ascii: "{") else {
            try p.skip(depth: 0)
            throw bad("header is not a JSON object")
        }
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        // Name to entry index; names are unique as bytes, and two that differ
        // only in Unicode normalization cannot both be kept by name.
        var seen: [String: Int] = [:]
        var sawMetadata = false
        try p.members(depth: 0) { (p, name) throws(SoftmaxKitError) in
            if name.utf8.elementsEqual("__metadata__".utf8) {
                guard !sawMetadata else { throw p.fail("duplicate key \"__metadata__\"") }
                sawMetadata = true
                guard p.peek == UInt8(ascii: "{") else { try p.skip(depth: 1); throw bad("__metadata__ must be an object of strings") }
                try p.members(depth: 1) { (p, k) throws(SoftmaxKitError) in
                    guard p.peek == UInt8(ascii: "\"") else { try p.skip(depth: 2); throw bad("__metadata__.\(displayName(k)) must be a string") }
                    if let old = metadata.index(forKey: k) {
                        let o = metadata.keys[old]
                        throw o.utf8.elementsEqual(k.utf8) ? p.fail("duplicate key \"\(displayName(k))\"")
                            : bad("__metadata__ keys \"\(displayName(o))\" and \"\(displayName(k))\" differ only in Unicode normalization")
                    }
                    metadata[k] = try p.string()
                }
                return
            }
            // One hash of the name when it is new (the common case); the
            // key already there is kept by updateValue.
            if seen.updateValue(entries.count, forKey: name) != nil {
                let o = seen.keys[seen.index(forKey: name)!]
                throw o.utf8.elementsEqual(name.utf8) ? p.fail("duplicate key \"\(displayName(name))\"")
                    : bad("tensor names \"\(displayName(o))\" and \"\(displayName(name))\" differ only in Unicode normalization")
            }
            try checkName(name, "safetensors: tensor name")
            entries.append(try entry(&p, name))
        }
        p.skipSpace()
        guard p.i == header.count else { throw p.fail("unexpected data after the JSON value") }
        return (entries, metadata, seen)
    }

    /// One tensor's `{"dtype", "shape", "data_offsets"}` object.
    private static func entry(_ p: inout JSONParser, _ name: String) throws(SoftmaxKitError) -> Entry {
        func bad(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, "safetensors: tensor \"\(name)\": \(m)") }
        guard p.peek == UInt8(ascii: "{") else { try p.skip(depth: 1); throw bad("entry must be an object") }
        var dtype: String?, shape: [Int]?, offsets: [Int]?
        // An array of non-negative integers, at most `limit` of them; nil
        // when the value is not an array.
        func integers(_ p: inout JSONParser, limit: Int, _ message: String) throws(SoftmaxKitError) -> [Int]? {
            guard p.peek == UInt8(ascii: "[") else { try p.skip(depth: 2); return nil }
            var out: [Int] = []
            try p.elements(depth: 2) { (p) throws(SoftmaxKitError) in
                guard let c = p.peek, c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else { throw bad(message) }
                guard let v = exactInt(try p.number()), v >= 0 else { throw bad(message) }
                guard out.count < limit else { throw bad("\(message) (at most \(limit) of them)") }
                out.append(v)
            }
            return out
        }
        try p.members(depth: 1) { (p, key) throws(SoftmaxKitError) in
            let k = key.utf8
            if k.elementsEqual("dtype".utf8) {
                guard dtype == nil else { throw p.fail("duplicate key \"dtype\"") }
                guard p.peek == UInt8(ascii: "\"") else { throw bad("missing dtype") }
                dtype = try p.string()
            } else if k.elementsEqual("shape".utf8) {
                guard shape == nil else { throw p.fail("duplicate key \"shape\"") }
                guard let s = try integers(&p, limit: maxRank, "shape must hold non-negative integers") else { throw bad("missing shape") }
                shape = s
            } else if k.elementsEqual("data_offsets".utf8) {
                guard offsets == nil else { throw p.fail("duplicate key \"data_offsets\"") }
                guard let o = try integers(&p, limit: 2, "data_offsets must be integers with 0 <= begin <= end"), o.count == 2 else {
                    throw bad("data_offsets must be [begin, end]")
                }
                offsets = o
            } else {
                try p.skip(depth: 2)
            }
        }
        guard let dtype else { throw bad("missing dtype") }
        guard let shape else { throw bad("missing shape") }
        guard let offsets else { throw bad("data_offsets must be [begin, end]") }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else { throw bad("data_offsets must be integers with 0 <= begin <= end") }
        let elementSize: Int
        switch dtype {
        case "F64": elementSize = 8
        case "F32": elementSize = 4
        case "F16", "BF16": elementSize = 2
        case "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F8_E4M3", "F8_E5M2":
            throw bad("dtype \(dtype) is not a floating-point weight type (F64, F32, F16, BF16)")
        default:
            throw bad("unknown dtype \"\(dtype)\"")
        }
        let count = try checkedProduct(shape, what: "tensor \"\(name)\" shape", kind: .format)
        let bytes = count * elementSize  // count <= maxElementCount: 8 bytes each fit
        guard end - begin == bytes else {
            throw bad("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtype) \(shape) needs \(bytes)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: begin, end: end)
    }

    /// The file bytes for `tensors` (written in the order of `names`, F32 or
    /// F64 as stored) with `metadata`.
    public static func serialize(tensors: [String: Tensor], names: [String], metadata: [String: String]) -> [UInt8] {
        var header: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            header.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var body: [UInt8] = []
        for name in names {
            guard let t = tensors[name] else { continue }
            let begin = body.count
            let dtype: String
            switch t.storage {
            case .f32(let v): dtype = "F32"; for x in v { appendLE(&body, UInt64(x.bitPattern), 4) }
            case .f64(let v): dtype = "F64"; for x in v { appendLE(&body, x.bitPattern, 8) }
            }
            header.append((name, .object([("dtype", .string(dtype)),
                                          ("shape", .array(t.shape.map { .number(Double($0)) })),
                                          ("data_offsets", .array([.number(Double(begin)), .number(Double(body.count))]))])))
        }
        var h = JSONValue.object(header).serializedBytes
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        appendLE(&out, UInt64(h.count), 8)
        return out + h + body
    }
}

@inline(__always) private func littleEndian16(_ p: UnsafeRawPointer) -> UInt16 { UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)) }
@inline(__always) private func littleEndian32(_ p: UnsafeRawPointer) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) }
@inline(__always) private func littleEndian64(_ p: UnsafeRawPointer) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }

private func appendLE(_ out: inout [UInt8], _ v: UInt64, _ bytes: Int) {
    for k in 0..<bytes { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
}

/// IEEE binary16 to binary32, exact (subnormals, infinities and NaN kept).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h) & 0x3FF
    if exp == 0 {
        // Zero or subnormal: mant * 2^-24.
        let v = Float(mant) * Float(bitPattern: 0x3380_0000)
        return sign != 0 ? -v : v
    }
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// A regular file read from its start on demand: ``prefix(_:)`` gives its
/// first `n` bytes, so a loader reads the header, then only as far as the
/// header points (a long or sparse tail after the last tensor is never
/// read). A request reaching the file's size reads on to the end of the
/// file (files in /proc say 0 bytes and have more).
final class FilePrefix {
    let path: String
    private let fd: Int32
    /// The size fstat gave.
    private let size: Int
    private var buffer: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    private var count = 0
    private var ended = false
    /// Bytes read so far.
    var bytesRead: Int { count }

    /// Opens `path` for reading.
    /// - Throws: `.io` naming the path and the reason (cannot open; not a
    ///   regular file: a FIFO, which must not block, a directory, or a
    ///   device such as /dev/zero that never ends).
    init(_ path: String) throws(SoftmaxKitError) {
        self.path = path
        // O_NONBLOCK: opening a FIFO with no writer would otherwise wait
        // forever before its type could be checked. Regular files ignore it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SoftmaxKitError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw SoftmaxKitError(.io, "cannot stat \(path): \(String(cString: strerror(e)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw SoftmaxKitError(.io, "cannot read \(path): not a regular file")
        }
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit {
        close(fd)
        rawFree(buffer)
    }

    /// The first `n` bytes, or all of a shorter file; valid until the next call.
    /// - Throws: `.io` for a read error or a file that ends before its size
    ///   (changed while read); `.outOfMemory`.
    func prefix(_ n: Int) throws(SoftmaxKitError) -> UnsafeRawBufferPointer {
        func ioError(_ code: Int32) -> SoftmaxKitError {
            SoftmaxKitError(.io, "cannot read \(path): \(String(cString: strerror(code)))")
        }
        let toEnd = n >= size
        while !ended && (toEnd || count < n) {
            if count == capacity {
                // The first buffer holds the whole file (one byte more, so
                // the read that sees the end needs no growth) when that is
                // small; a larger file grows it only as far as it is read.
                var grown = toEnd ? max(size, 4095) + 1 : n
                if buffer == nil { grown = max(grown, min(max(size, 4095) + 1, 16 << 20)) }
                if grown <= capacity {
                    let (g, o) = capacity.multipliedReportingOverflow(by: 2)
                    guard !o else { throw SoftmaxKitError(.outOfMemory, "cannot grow the buffer of \(path) past \(capacity) bytes") }
                    grown = g
                }
                if let b = buffer {
                    guard let q = rawReallocate(b, grown) else {
                        throw SoftmaxKitError(.outOfMemory, "cannot grow the buffer of \(path) past \(capacity) bytes")
                    }
                    buffer = q
                } else {
                    buffer = try allocate(UInt8.self, grown, for: "the contents of \(path)")
                }
                capacity = grown
            }
            let limit = toEnd ? capacity : min(capacity, n)
            let got: Int
            switch FaultInjection.readLimit(at: count, wanted: limit - count) {
            case .failure(.endOfFile): got = 0
            case .failure(.ioError): throw ioError(EIO)
            case .success(let wanted):
                got = read(fd, buffer! + count, wanted)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw ioError(errno)
                }
            }
            if got == 0 { ended = true } else { count += got }
        }
        if ended && count < size {
            throw SoftmaxKitError(.io, "cannot read \(path): its size is \(size) bytes but it ended after \(count) (changed while being read?)")
        }
        return UnsafeRawBufferPointer(start: buffer, count: min(count, n))
    }
}

/// The whole file at `path` (a regular file), handed to `body`.
func withFileBytes<R>(_ path: String, _ body: (UnsafeRawBufferPointer) throws(SoftmaxKitError) -> R) throws(SoftmaxKitError) -> R {
    let file = try FilePrefix(path)
    return try body(try file.prefix(Int.max))
}

/// Writes `bytes` to `path`, or `.io` naming the path and the reason.
func writeFile(_ path: String, _ bytes: [UInt8]) throws(SoftmaxKitError) {
    guard let f = fopen(path, "wb") else {
        throw SoftmaxKitError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
    }
    let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    let closed = fclose(f)
    guard written == bytes.count, closed == 0 else {
        throw SoftmaxKitError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}
