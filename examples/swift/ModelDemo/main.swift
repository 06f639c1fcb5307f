// The example networks from Swift: `swift run model-demo` (from the repository
// root). Loads each bundled model, runs it on its fixed input and prints
// the first rows of every head; then a two-model ensemble.
import Foundation
import SoftmaxKit

let dir = "examples/models/"

/// A little-endian float32 .npy file (as examples/make_models.py writes).
func readNpy(_ path: String) throws -> (values: [Float], shape: [Int]) {
    guard let data = FileManager.default.contents(atPath: path), data.count > 10 else {
        throw SoftmaxKitError(.io, "cannot read \(path)")
    }
    let b = [UInt8](data)
    let headerLen = Int(b[8]) | Int(b[9]) << 8
    let header = String(decoding: b[10..<(10 + headerLen)], as: UTF8.self)
    guard header.contains("'<f4'"), let open = header.range(of: "'shape': ("),
          let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw SoftmaxKitError(.format, "\(path): expected a float32 .npy file")
    }
    let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = 10 + headerLen
    let values = (0..<shape.reduce(1, *)).map { i in
        Float(bitPattern: UInt32(b[body + 4 * i]) | UInt32(b[body + 4 * i + 1]) << 8
              | UInt32(b[body + 4 * i + 2]) << 16 | UInt32(b[body + 4 * i + 3]) << 24)
    }
    return (values, shape)
}

/// A little-endian int64 .npy file of token ids.
func readIds(_ path: String) throws -> (values: [Int64], shape: [Int]) {
    guard let data = FileManager.default.contents(atPath: path), data.count > 10 else {
        throw SoftmaxKitError(.io, "cannot read \(path)")
    }
    let b = [UInt8](data)
    let headerLen = Int(b[8]) | Int(b[9]) << 8
    let header = String(decoding: b[10..<(10 + headerLen)], as: UTF8.self)
    guard header.contains("'<i8'"), let open = header.range(of: "'shape': ("),
          let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw SoftmaxKitError(.format, "\(path): expected an int64 .npy file")
    }
    let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = 10 + headerLen
    let values = (0..<shape.reduce(1, *)).map { i in
        (0..<8).reduce(Int64(0)) { $0 | Int64(b[body + 8 * i + $1]) << (8 * $1) }
    }
    return (values, shape)
}

func show(_ heads: [CompiledHead], _ outputs: [String: [Float]], rows: Int) {
    for h in heads {
        let v = outputs[h.name]!
        for r in 0..<rows {
            let row = v[(r * h.size)..<((r + 1) * h.size)].map { String(format: "%.4f", $0) }.joined(separator: " ")
            print("  \(h.name)[\(r)] (\(h.spec.output.rawValue)): \(row)")
        }
    }
}

do {
    for name in ["robot_arm", "masked", "hierarchical", "multitask", "timesteps", "digits", "controller"] {
        let model = try Model(contentsOf: dir + name + ".safetensors")
        let (x, shape) = try readNpy(dir + name + ".input.npy")
        print("\(name): input \(shape), \(model.parameterCount) parameters")
        show(model.heads, try model(x, shape: shape), rows: 2)
    }
    // The tagger reads token ids (int64 .npy); its second row has 4 valid steps.
    let tagger = try Model(contentsOf: dir + "tagger.safetensors")
    let (ids, idShape) = try readIds(dir + "tagger.input.npy")
    print("tagger: token ids \(idShape), lengths [6, 4]")
    let tags = try tagger(ids: ids, shape: idShape, lengths: [idShape[1], 4])["tags"]!
    for t in 3..<6 {
        print("  tags[1, \(t)]: " + tags[((idShape[1] + t) * 5)..<((idShape[1] + t + 1) * 5)].map { String(format: "%.4f", $0) }.joined(separator: " "))
    }
    let a = try Model(contentsOf: dir + "ensemble_a.safetensors")
    let b = try Model(contentsOf: dir + "ensemble_b.safetensors")
    let (x, shape) = try readNpy(dir + "ensemble_a.input.npy")
    let ensemble = try Ensemble(models: [a, b], mode: .arithmetic)
    let rows = shape[0]
    let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows * 5)
    defer { out.deallocate() }
    try x.withUnsafeBufferPointer { try ensemble.forward($0, batch: rows, features: 10, into: [out]) }
    print("ensemble (mean of ensemble_a and ensemble_b): input \(shape)")
    show(ensemble.heads, ["probs": Array(out)], rows: 2)
    // A bad input is an error with a message, never a crash.
    _ = try a([Float](repeating: 0, count: 11), shape: [1, 11])
} catch let error as SoftmaxKitError {
    print("wrong feature count: \(error.kind): \(error.message)")
}
