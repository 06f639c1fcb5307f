// The seed documents' worked examples from Swift: `swift run softmax-demo`.
import SoftmaxKit

func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, 34 - s.count)) }

func show(_ label: String, _ v: [Double]) {
    let body = v.map { String(Double(Int(($0 * 10000).rounded())) / 10000) }.joined(separator: ", ")
    print(pad(label) + "[\(body)]")
}

do {
    print("SoftmaxKit \(SoftmaxKitVersion.string)")
    show("softmax([0, 2, 4])", try softmax([0.0, 2, 4]))
    show("softmax([100, 102, 104])", try softmax([100.0, 102, 104]))
    show("softmax([0, 2, 4], T=4)", try softmax([0.0, 2, 4], temperature: 4))
    show("log_softmax([1000, 1])", try logSoftmax([1000.0, 1]))
    show("softmax([[1,2,3],[3,2,1]], axis=0)", try softmax([1.0, 2, 3, 3, 2, 1], shape: [2, 3], axis: 0))
    show("sigmoid([1.5])", sigmoid([1.5]))
    _ = try softmax([0.0, 2, 4], temperature: -1)
} catch {
    print(pad("temperature -1:") + "\(error.kind): \(error.message)")
}
