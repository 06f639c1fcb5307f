import ArgumentParser
import Foundation
import SoftmaxKit

/// `smk`: inspect, run and time SoftmaxKit model files.
@main
struct SMK: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smk",
        abstract: "Inspect, run and benchmark SoftmaxKit model files (safetensors + \"softmaxkit\" metadata).",
        version: SoftmaxKitVersion.string,
        subcommands: [Info.self, Run.self, Bench.self]
    )
}

/// Options every subcommand shares: the model file and an optional side spec.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model file (.safetensors).")
    var model: String

    @Option(help: "A JSON spec file replacing the model file's \"softmaxkit\" metadata.")
    var spec: String?

    func load() throws -> Model {
        var s: ModelSpec?
        if let spec {
            guard let data = FileManager.default.contents(atPath: spec) else {
                throw ValidationError("cannot read the spec file \(spec)")
            }
            s = try ModelSpec(json: String(decoding: data, as: UTF8.self))
        }
        return try Model(contentsOf: model, spec: s)
    }
}

extension SoftmaxKitError: LocalizedError {
    public var errorDescription: String? { "\(message) [\(kind)]" }
}
