@_spi(CABI) import SoftmaxKit

// Ensembles on disk (a JSON manifest and one model file per member) and as
// a DOT graph.

@_cdecl("smk_ensemble_load")
public func smk_ensemble_load(_ path: UnsafePointer<CChar>?, _ ensembleOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let out = try outPointer(ensembleOut, "ensemble_out")
        let ens = try Ensemble(manifest: try cText(path, "path"))
        var members: [ModelHandle] = []
        for m in ens.models { members.append(try ModelHandle(m)) }
        publish(EnsembleHandle(ens, members), out)
    }
}

@_cdecl("smk_ensemble_save")
public func smk_ensemble_save(_ e: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ paddingID: Int64) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let p = try cText(path, "path")
        guard paddingID >= -1 else {
            throw SoftmaxKitError(.invalidArgument, "padding_id must be -1 (none) or an id, got \(paddingID)")
        }
        guard paddingID <= Int64(Int.max) else { throw SoftmaxKitError(.invalidArgument, "padding_id \(paddingID) is out of range") }
        try ens.save(to: p, paddingID: paddingID < 0 ? nil : Int(paddingID))
    }
}

@_cdecl("smk_ensemble_padding_id")
public func smk_ensemble_padding_id(_ e: OpaquePointer?, _ idOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let out = try outPointer(idOut, "padding_id_out")
        out.pointee = ens.paddingID.map { Int64($0) } ?? -1
    }
}

@_cdecl("smk_ensemble_model_count")
public func smk_ensemble_model_count(_ e: OpaquePointer?, _ countOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        try outPointer(countOut, "count_out").pointee = Int64(ens.models.count)
    }
}

@_cdecl("smk_ensemble_get_mode")
public func smk_ensemble_get_mode(_ e: OpaquePointer?, _ modeOut: UnsafeMutablePointer<Int32>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        try outPointer(modeOut, "mode_out").pointee = ens.mode.rawValue
    }
}

@_cdecl("smk_ensemble_dot")
public func smk_ensemble_dot(_ e: OpaquePointer?, _ dot: UnsafeMutablePointer<CChar>?, _ capacity: Int64,
                             _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let ens = try handle(e, "ensemble", as: EnsembleHandle.self).ensemble
        let bytes = Array(ens.dot().utf8) + [0]
        try fillBuffer(UnsafeMutableRawPointer(dot), capacity, sizeOut, "size_out", needed: bytes.count, stride: 1,
                       what: "the DOT text") { p in
            bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        }
    }
}

// Padding ids: the model's, and the lengths they imply.

@_cdecl("smk_model_padding_id")
public func smk_model_padding_id(_ m: OpaquePointer?, _ idOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let model = try handle(m, "model", as: ModelHandle.self).model
        try outPointer(idOut, "padding_id_out").pointee = model.paddingID.map { Int64($0) } ?? -1
    }
}

@_cdecl("smk_padding_lengths")
public func smk_padding_lengths(_ ids: UnsafePointer<Int64>?, _ batch: Int64, _ steps: Int64, _ paddingID: Int64,
                                _ lengths: UnsafeMutablePointer<Int64>?) -> Int32 {
    abiCall { () throws(SoftmaxKitError) in
        let b = try elementCount(batch, "batch"), s = try elementCount(steps, "steps")
        guard let n = SoftmaxKit.elementCount(b, s) else { throw SoftmaxKitError(.sizeOverflow, "ids [\(b), \(s)] overflow 64 bits") }
        let idBuf = try input(ids, n, "ids")
        let out = try output(lengths, b, "lengths")
        let lo = UInt(bitPattern: UnsafeRawPointer(idBuf.baseAddress)), hi = lo &+ UInt(n * 8)
        let olo = UInt(bitPattern: UnsafeRawPointer(out.baseAddress)), ohi = olo &+ UInt(b * 8)
        guard n == 0 || b == 0 || ohi <= lo || olo >= hi else {
            throw SoftmaxKitError(.invalidArgument, "lengths and ids overlap: outputs must not overlap the input")
        }
        let lens = try paddingLengths(idBuf, batch: b, steps: s, paddingID: Int(truncatingIfNeeded: paddingID))
        for (k, l) in lens.enumerated() { out[k] = Int64(l) }
    }
}
