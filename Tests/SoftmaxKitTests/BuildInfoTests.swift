import SoftmaxKit
import XCTest

final class BuildInfoTests: XCTestCase {
    /// The CPU path is one of the documented names, the same every time.
    func testCPUPathIsADocumentedName() {
        XCTAssertTrue(["avx512", "avx2", "sse2", "generic"].contains(SoftmaxKitBuild.cpuPath))
        XCTAssertEqual(SoftmaxKitBuild.cpuPath, SoftmaxKitBuild.cpuPath)
    }
}
