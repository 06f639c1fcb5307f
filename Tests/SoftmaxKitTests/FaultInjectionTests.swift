import Testing
@_spi(Testing) @testable import SoftmaxKit

// Fault injection in the Swift loader (`make test`). The C twin,
// Tests/c/fault_model_load.c, covers the ABI handles and runs under
// LeakSanitizer and valgrind (`make fault`, `make sanitize`, `make valgrind`).
// Plans are per thread: these tests run in parallel with the others.

private let repository: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/SoftmaxKitTests/FaultInjectionTests.swift
    return parts.joined(separator: "/")
}()

private let bundledModels = ["controller", "digits", "ensemble_a", "ensemble_b", "hierarchical", "masked", "multitask", "robot_arm",
                             "tagger", "timesteps"]

private func modelPath(_ name: String) -> String { "\(repository)/examples/models/\(name).safetensors" }

/// Every head's output for a fixed 3-row input (3 rows of 4 steps for a
/// sequence model, token ids for a vocabulary model), by head name.
private func outputs(_ m: Model) throws -> [String: [Float]] {
    if let v = m.vocabulary { return try m(ids: (0..<12).map { ($0 * 37) % v }, shape: [3, 4]) }
    let steps = m.spec.isSequenceModel ? 4 : 1
    let x = (0..<3 * steps * m.features).map { Float(($0 * 37) % 17 - 8) / 4 }
    return try m(x, shape: m.spec.isSequenceModel ? [3, steps, m.features] : [3, m.features])
}

private func bits(_ o: [String: [Float]]) -> [String: [UInt32]] { o.mapValues { $0.map(\.bitPattern) } }

/// Loads with fallible allocation 1, 2, ... failing until the fault is no
/// longer reached; each reached fault must be `.outOfMemory` with a message,
/// and the next load without faults must give the same outputs bit for bit.
/// Returns the number of faults.
private func failEachAllocation(_ load: () throws(SoftmaxKitError) -> Model, expect want: [String: [UInt32]]) throws -> Int {
    for k in 1...10_000 {
        FaultInjection.arm(failAllocation: k)
        let result = Result { () throws(SoftmaxKitError) in try load() }
        let report = FaultInjection.disarm()
        guard report.allocationFailed else {
            #expect(try bits(outputs(result.get())) == want)
            return k - 1
        }
        #expect(report.allocations == k)
        switch result {
        case .success: Issue.record("allocation \(k) failed but the load succeeded")
        case .failure(let e):
            #expect(e.kind == .outOfMemory, "allocation \(k): \(e)")
            #expect(!e.message.isEmpty)
        }
        #expect(try bits(outputs(load())) == want)
    }
    Issue.record("allocation faults never ended")
    return 0
}

@Test(arguments: bundledModels)
func everyAllocationOfALoadFailsCleanly(_ name: String) throws {
    let path = modelPath(name)
    let want = bits(try outputs(Model(contentsOf: path)))
    let fromFile = try failEachAllocation({ () throws(SoftmaxKitError) in try Model(contentsOf: path) }, expect: want)
    // The file buffer, a probe per tensor, two packed blocks per layer group.
    #expect(fromFile >= 4)
    let bytes = try withFileBytes(path) { (b) throws(SoftmaxKitError) in Array(b) }
    let fromMemory = try bytes.withUnsafeBytes { b in
        try failEachAllocation({ () throws(SoftmaxKitError) in try Model(safetensors: b) }, expect: want)
    }
    #expect(fromMemory == fromFile - 1)
}

/// Reads stopping at any byte, by end of file or EIO, are `.io` naming the
/// path; every offset of the smallest model, the others by position class
/// in the C test. Reads returning a few bytes at a time still load.
@Test func readsStoppingAtEveryOffsetFailCleanly() throws {
    let path = modelPath("ensemble_a")
    let want = bits(try outputs(Model(contentsOf: path)))
    let size = try withFileBytes(path) { (b) throws(SoftmaxKitError) in b.count }
    #expect(size > 2000)
    for offset in 0..<size {
        for fault in [FaultInjection.ReadFault.endOfFile, .ioError] {
            FaultInjection.arm(readStopAt: offset, readFault: fault)
            let result = Result { () throws(SoftmaxKitError) in try Model(contentsOf: path) }
            let report = FaultInjection.disarm()
            #expect(report.readFaulted)
            guard case .failure(let e) = result else { Issue.record("offset \(offset) \(fault): loaded"); continue }
            #expect(e.kind == .io && e.message.contains(path), "offset \(offset) \(fault): \(e)")
        }
    }
    for chunk in [1, 2, 5, 64] {
        FaultInjection.arm(readChunk: chunk)
        let m = Result { () throws(SoftmaxKitError) in try Model(contentsOf: path) }
        FaultInjection.disarm()
        #expect(try bits(outputs(m.get())) == want)
    }
}

private func loadError(_ path: String) -> SoftmaxKitError.Kind? {
    if case .failure(let e) = Result(catching: { () throws(SoftmaxKitError) in try Model(contentsOf: path) }) { return e.kind }
    return nil
}

@Test func unreadablePathsAreIOErrors() {
    // A directory; a device that never ends; EIO at offset 0; no such file.
    for path in ["\(repository)/examples/models", "/dev/zero", "/proc/self/mem", "\(repository)/no/such/file"] {
        #expect(loadError(path) == .io, "\(path)")
    }
    // Says 0 bytes, has more: read in full, then rejected as no model.
    #expect(loadError("/proc/self/status") == .format)
}

@Test func anUnarmedThreadIsNotAffected() throws {
    #expect(FaultInjection.disarm() == FaultInjection.Report())
    FaultInjection.arm()
    _ = try Model(contentsOf: modelPath("robot_arm"))
    let counted = FaultInjection.disarm()
    #expect(counted.allocations > 0 && !counted.allocationFailed && !counted.readFaulted)
    // Disarmed: nothing counts, nothing fails.
    _ = try Model(contentsOf: modelPath("robot_arm"))
    #expect(FaultInjection.disarm() == FaultInjection.Report())
}
