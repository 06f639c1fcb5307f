import Testing
@testable import SoftmaxKit

@Test func specRoundTripsThroughJSON() throws {
    let text = #"{"softmaxkit": 1, "input": {"features": 10}, "layers": [{"name": "fc1", "input": "input", "activation": "relu"}], "heads": [{"name": "a", "layer": "fc1", "output": "softmax"}]}"#
    let spec = try ModelSpec(json: text)
    #expect(try ModelSpec(json: spec.json) == spec)
}
