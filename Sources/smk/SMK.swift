import Foundation
import SoftmaxKit

/// `smk`: inspect, run and time SoftmaxKit model files.
@main
enum SMK {
    static func main() {
        let invocation: Invocation
        do {
            invocation = try parseArguments(Array(CommandLine.arguments.dropFirst()), version: SoftmaxKitVersion.string)
        } catch let e as UsageError {
            printError("smk: error: \(e.message)\n\n\(e.usage)")
            exit(64)  // EX_USAGE
        } catch {
            printError("smk: error: \(error)")
            exit(64)
        }
        do {
            switch invocation {
            case .help(let text): print(text)
            case .version: print(SoftmaxKitVersion.string)
            case .info(let o): print(try Info(options: o.model, dot: o.dot).render(), terminator: o.dot ? "" : "\n")
            case .run(let o): print(try Run(options: o.model, input: o.input, json: o.json, lengths: o.lengths, sample: o.sample, seed: o.seed).render())
            case .bench(let o): try Bench(options: o.model, batch: o.batch, steps: o.steps, seconds: o.seconds).run()
            }
        } catch {
            printError("smk: error: \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
            exit(1)
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A file the command line names that cannot be used.
struct FileError: Error, CustomStringConvertible {
    var description: String
}

extension ModelOptions {
    func load() throws -> Model {
        var s: ModelSpec?
        if let spec {
            guard let data = FileManager.default.contents(atPath: spec) else {
                throw FileError(description: "cannot read the spec file \(spec)")
            }
            s = try ModelSpec(json: String(decoding: data, as: UTF8.self))
        }
        return try Model(contentsOf: model, spec: s)
    }
}

extension SoftmaxKitError: LocalizedError {
    public var errorDescription: String? { "\(message) [\(kind)]" }
}
