import SoftmaxKit

// Shared by the variant, selection, loss and backward tests.

/// Whether `body` throws a SoftmaxKitError of `kind` whose message mentions `word`.
func throwsKind(_ kind: SoftmaxKitError.Kind, mentioning word: String, _ body: () throws -> Void) -> Bool {
    do {
        try body()
        return false
    } catch let e as SoftmaxKitError {
        return e.kind == kind && e.message.contains(word)
    } catch {
        return false
    }
}

/// Runs `body` on a buffer pre-filled with a sentinel and reports whether the
/// buffer is untouched after it threw (nothing half-written).
func untouchedAfterFailure<T: KernelScalar>(
    count: Int, _ body: (UnsafeMutableBufferPointer<T>) throws -> Void
) -> Bool {
    var buf = [T](repeating: 12345, count: count)
    let threw = buf.withUnsafeMutableBufferPointer { b -> Bool in
        do { try body(b); return false } catch { return true }
    }
    return threw && buf.allSatisfy { $0 == 12345 }
}
