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

    /// Reads and validates a whole file.
    /// - Throws: `.io` when the file cannot be opened or read, `.format` when it is malformed.
    public static func load(path: String) throws(SoftmaxKitError) -> SafeTensors {
        try withFileBytes(path) { (b) throws(SoftmaxKitError) in try parse(b) }
    }

    /// Parses and validates an in-memory file. Copies what it keeps.
    public static func parse(_ data: UnsafeRawBufferPointer) throws(SoftmaxKitError) -> SafeTensors {
        func bad(_ m: String) -> SoftmaxKitError { SoftmaxKitError(.format, "safetensors: \(m)") }
        guard data.count >= 8 else { throw bad("file is \(data.count) bytes, shorter than the 8-byte header length (truncated)") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(data[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) exceeds the 100 MB limit") }
        guard n <= UInt64(data.count - 8) else {
            throw bad("header length \(n) runs past the end of the \(data.count)-byte file (truncated)")
        }
        let headerLen = Int(n)
        let header = UnsafeBufferPointer(rebasing: data.bindMemory(to: UInt8.self)[8..<(8 + headerLen)])
        let json = try JSONValue.parse(header, what: "safetensors header")
        guard case let .object(members) = json else { throw bad("header is not a JSON object") }
        let dataStart = 8 + headerLen
        let dataLen = data.count - dataStart

        var tensors: [String: Tensor] = [:]
        var names: [String] = []
        var metadata: [String: String] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, v) in members {
            if name == "__metadata__" {
                guard case let .object(m) = v else { throw bad("__metadata__ must be an object of strings") }
                for (k, x) in m {
                    guard case let .string(s) = x else { throw bad("__metadata__.\(k) must be a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object = v else { throw bad("tensor \"\(name)\": entry must be an object") }
            guard case let .string(dtype)? = v["dtype"] else { throw bad("tensor \"\(name)\": missing dtype") }
            guard case let .array(shapeV)? = v["shape"] else { throw bad("tensor \"\(name)\": missing shape") }
            guard case let .array(offV)? = v["data_offsets"], offV.count == 2 else {
                throw bad("tensor \"\(name)\": data_offsets must be [begin, end]")
            }
            var shape: [Int] = []
            for d in shapeV {
                guard case let .number(x) = d, let i = exactInt(x), i >= 0 else {
                    throw bad("tensor \"\(name)\": shape must hold non-negative integers")
                }
                shape.append(i)
            }
            guard case let .number(b0) = offV[0], case let .number(e0) = offV[1],
                  let begin = exactInt(b0), let end = exactInt(e0), begin >= 0, begin <= end else {
                throw bad("tensor \"\(name)\": data_offsets must be integers with 0 <= begin <= end")
            }
            let elementSize: Int
            switch dtype {
            case "F64": elementSize = 8
            case "F32": elementSize = 4
            case "F16", "BF16": elementSize = 2
            case "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F8_E4M3", "F8_E5M2":
                throw bad("tensor \"\(name)\": dtype \(dtype) is not a floating-point weight type (F64, F32, F16, BF16)")
            default:
                throw bad("tensor \"\(name)\": unknown dtype \"\(dtype)\"")
            }
            let count = try checkedProduct(shape, what: "tensor \"\(name)\" shape", kind: .format)
            let (bytes, o) = count.multipliedReportingOverflow(by: elementSize)
            guard !o else { throw bad("tensor \"\(name)\": byte count overflows 64 bits") }
            guard end - begin == bytes else {
                throw bad("tensor \"\(name)\": data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtype) \(shape) needs \(bytes)")
            }
            guard end <= dataLen else {
                throw bad("tensor \"\(name)\": data_offsets [\(begin), \(end)] run past the \(dataLen) data bytes (truncated or out of range)")
            }
            spans.append((begin, end, name))
            // F16 and BF16 widen to F32: the array is larger than the bytes read.
            if dtype == "F64" { try probeArray(Double.self, count, for: "tensor \"\(name)\"") }
            else { try probeArray(Float.self, count, for: "tensor \"\(name)\"") }
            let src = data.baseAddress! + dataStart + begin
            let storage: Tensor.Storage
            switch dtype {
            case "F64": storage = .f64((0..<count).map { Double(bitPattern: littleEndian64(src + $0 * 8)) })
            case "F32": storage = .f32((0..<count).map { Float(bitPattern: littleEndian32(src + $0 * 4)) })
            case "F16": storage = .f32((0..<count).map { halfToFloat(littleEndian16(src + $0 * 2)) })
            default: storage = .f32((0..<count).map { Float(bitPattern: UInt32(littleEndian16(src + $0 * 2)) << 16) })
            }
            tensors[name] = try Tensor(shape: shape, storage: storage)
            names.append(name)
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for k in spans.indices.dropFirst() where spans[k].begin < spans[k - 1].end {
            throw bad("tensors \"\(spans[k - 1].name)\" and \"\(spans[k].name)\" have overlapping data_offsets")
        }
        return SafeTensors(tensors: tensors, names: names, metadata: metadata)
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
        var h = Array(JSONValue.object(header).serialized.utf8)
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

/// Reads the whole file at `path` into one buffer from ``rawAllocate`` and
/// hands it to `body`; the buffer is freed on return.
/// - Throws: `.io` naming the path and the reason (cannot open; not a
///   regular file: a directory, or a device such as /dev/zero that never
///   ends; a read error; fewer bytes than the file's size, as when it
///   shrinks while read); `.outOfMemory` for the buffer.
func withFileBytes<R>(_ path: String, _ body: (UnsafeRawBufferPointer) throws(SoftmaxKitError) -> R) throws(SoftmaxKitError) -> R {
    func ioError(_ what: String, _ code: Int32) -> SoftmaxKitError {
        SoftmaxKitError(.io, "cannot \(what) \(path): \(String(cString: strerror(code)))")
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ioError("open", errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ioError("stat", errno) }
    guard st.st_mode & S_IFMT == S_IFREG else { throw SoftmaxKitError(.io, "cannot read \(path): not a regular file") }
    let size = Int(st.st_size)
    // One byte more than the size, so the read that sees the end needs no
    // growth; files in /proc and /sys say 0 bytes and have more.
    var capacity = max(size, 4095) + 1
    var buffer = try allocate(UInt8.self, capacity, for: "the contents of \(path)")
    defer { rawFree(buffer) }
    var count = 0
    while true {
        if count == capacity {
            let (grown, o) = capacity.multipliedReportingOverflow(by: 2)
            guard !o, let b = rawReallocate(buffer, grown) else {
                throw SoftmaxKitError(.outOfMemory, "cannot grow the buffer of \(path) past \(capacity) bytes")
            }
            buffer = b; capacity = grown
        }
        let got: Int
        switch FaultInjection.readLimit(at: count, wanted: capacity - count) {
        case .failure(.endOfFile): got = 0
        case .failure(.ioError): throw ioError("read", EIO)
        case .success(let wanted):
            got = read(fd, buffer + count, wanted)
            if got < 0 {
                if errno == EINTR { continue }
                throw ioError("read", errno)
            }
        }
        if got == 0 { break }
        count += got
    }
    guard count >= size else {
        throw SoftmaxKitError(.io, "cannot read \(path): its size is \(size) bytes but it ended after \(count) (changed while being read?)")
    }
    return try body(UnsafeRawBufferPointer(start: buffer, count: count))
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
