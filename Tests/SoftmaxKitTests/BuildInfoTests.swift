import Testing
import SoftmaxKit

/// The CPU path is one of the documented names, the same every time.
@Test func cpuPathIsADocumentedName() {
    #expect(["avx512", "avx2", "sse2", "generic"].contains(SoftmaxKitBuild.cpuPath))
    #expect(SoftmaxKitBuild.cpuPath == SoftmaxKitBuild.cpuPath)
}
