/// The command line of `smk`, parsed by hand (the tool needs three
/// subcommands and a handful of options, not a dependency for every
/// package that uses SoftmaxKit).
///
///     smk info  MODEL [--dot] [--spec FILE]
///     smk run   MODEL --input FILE [--lengths N,N,...] [--json] [--spec FILE]
///               [--sample HEAD[:key=value,...]]... [--seed N]
///     smk bench MODEL [--batch N] [--steps N] [--seconds S] [--spec FILE]
///     smk --version | smk --help | smk help [SUBCOMMAND] | smk SUBCOMMAND --help
///
/// Options may come before or after MODEL, as `--name value` or
/// `--name=value`; `--` ends the options.

import SoftmaxKit

/// Options every subcommand shares: the model file and an optional side spec.
struct ModelOptions: Equatable {
    var model: String
    var spec: String?
}

struct InfoOptions: Equatable {
    var model: ModelOptions
    /// Print the layer and head tree as Graphviz DOT instead of tables.
    var dot = false
}

struct RunOptions: Equatable {
    var model: ModelOptions
    var input: String
    var json = false
    /// Per-row sequence lengths (`--lengths 5,3,1`): steps past a row's
    /// length are padding.
    var lengths: [Int]? = nil
    /// Heads to sample instead of printing their values, by name.
    var sample: [String: SamplingOptions] = [:]
    /// The sampling seed; nil takes a fresh one from the system.
    var seed: UInt64?
}

struct BenchOptions: Equatable {
    var model: ModelOptions
    var batch = 1
    var steps = 1
    var seconds = 1.0
}

/// What the command line asks for.
enum Invocation: Equatable {
    case info(InfoOptions)
    case run(RunOptions)
    case bench(BenchOptions)
    /// Print this text (usage) to standard output and exit 0.
    case help(String)
    case version
}

/// A command line `smk` cannot run: the message, and the usage text of the
/// subcommand it was for (or the tool's).
struct UsageError: Error, Equatable, CustomStringConvertible {
    var message: String
    var usage: String
    var description: String { message }
}

/// The subcommands, their options and help, in the order `smk --help` lists them.
enum Subcommand: String, CaseIterable {
    case info, run, bench

    var abstract: String {
        switch self {
        case .info: return "Show a model's input, layers, heads and parameter count."
        case .run: return "Run every head of a model on an input file (.npy or CSV) and print the outputs."
        case .bench: return "Time forward passes of a model at a batch size."
        }
    }

    /// (name, value placeholder or nil for a flag, help).
    var options: [(name: String, value: String?, help: String)] {
        let spec = (name: "spec", value: Optional("FILE"), help: "A JSON spec file replacing the model file's \"softmaxkit\" metadata.")
        switch self {
        case .info:
            return [("dot", nil, "Print the layer and head tree as a Graphviz DOT graph (pipe to 'dot -Tsvg')."), spec]
        case .run:
            return [("input", "FILE", "Input: .npy ([features], [batch, features] or [batch, steps, features]; int32/int64 token ids [batch, steps] for a vocabulary model) or CSV (one row per line). Required."),
                    ("lengths", "N,N,...", "Sequence lengths, one per row: steps past a row's length are padding (per-step outputs 0, log-softmax -inf)."),
                    ("json", nil, "Print JSON ({head: nested arrays}) instead of tables."),
                    ("sample", "HEAD[:key=value,...]", "Sample HEAD (softmax, log_softmax or masked_softmax) instead of printing its values: one index per row (per step for per-step heads). Keys: temperature, top_k, top_p, min_p, num_samples, replacement (true/false), row_offset. Repeat for more heads."),
                    ("seed", "N", "Seed of the sampling stream (0 ... 2^64-1; default: fresh from the system, printed to standard error)."),
                    spec]
        case .bench:
            return [("batch", "N", "Rows per forward pass (default 1)."),
                    ("steps", "N", "Time steps per row ([batch, steps, features] input; default 1)."),
                    ("seconds", "S", "Seconds to spend measuring, best of 7 rounds (default 1)."),
                    spec]
        }
    }

    var usage: String {
        let synopsis = options.map { o in
            let text = "--\(o.name)" + (o.value.map { " \($0)" } ?? "")
            return o.name == "input" ? text : "[\(text)]"
        }.joined(separator: " ")
        var lines = ["OVERVIEW: \(abstract)", "", "USAGE: smk \(rawValue) MODEL \(synopsis)", "",
                     "ARGUMENTS:", "  MODEL                   The model file (.safetensors).", "", "OPTIONS:"]
        for o in options {
            let left = "--\(o.name)" + (o.value.map { " \($0)" } ?? "")
            lines.append("  " + left.padding(toLength: max(22, left.count), withPad: " ", startingAt: 0) + "  " + o.help)
        }
        lines.append("  -h, --help              Show this help.")
        return lines.joined(separator: "\n")
    }
}

/// `smk --help`.
func toolUsage(version: String) -> String {
    var lines = ["OVERVIEW: Inspect, run and benchmark SoftmaxKit model files (safetensors + \"softmaxkit\" metadata).",
                 "", "USAGE: smk SUBCOMMAND MODEL [OPTIONS]", "", "OPTIONS:",
                 "  --version               Show the version (\(version)).",
                 "  -h, --help              Show this help.", "", "SUBCOMMANDS:"]
    for s in Subcommand.allCases {
        lines.append("  " + s.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0) + "  " + s.abstract)
    }
    lines += ["", "  See 'smk help SUBCOMMAND' for a subcommand's options."]
    return lines.joined(separator: "\n")
}

/// Parses `arguments` (without the program name).
func parseArguments(_ arguments: [String], version: String) throws -> Invocation {
    let top = toolUsage(version: version)
    guard let first = arguments.first else {
        throw UsageError(message: "missing a subcommand (\(Subcommand.allCases.map(\.rawValue).joined(separator: ", ")))", usage: top)
    }
    switch first {
    case "-h", "--help":
        return .help(top)
    case "--version":
        return .version
    case "help":
        guard arguments.count > 1 else { return .help(top) }
        guard arguments.count == 2, let sub = Subcommand(rawValue: arguments[1]) else {
            throw UsageError(message: "unknown subcommand '\(arguments.dropFirst().joined(separator: " "))'", usage: top)
        }
        return .help(sub.usage)
    default:
        break
    }
    guard let sub = Subcommand(rawValue: first) else {
        let what = first.hasPrefix("-") ? "unknown option '\(first)'" : "unknown subcommand '\(first)'"
        throw UsageError(message: what, usage: top)
    }
    let rest = Array(arguments.dropFirst())
    if rest.prefix(while: { $0 != "--" }).contains(where: { $0 == "-h" || $0 == "--help" }) {
        return .help(sub.usage)
    }
    func fail(_ message: String) -> UsageError { UsageError(message: message, usage: sub.usage) }

    // Split into positionals and option values.
    var positionals: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []
    var samples: [String] = []  // --sample may repeat
    var i = 0, optionsEnded = false
    while i < rest.count {
        let arg = rest[i]
        i += 1
        if optionsEnded || !arg.hasPrefix("-") || arg == "-" {
            positionals.append(arg)
            continue
        }
        if arg == "--" { optionsEnded = true; continue }
        guard arg.hasPrefix("--") else { throw fail("unknown option '\(arg)'") }
        var name = String(arg.dropFirst(2)), inline: String?
        if let eq = name.firstIndex(of: "=") {
            inline = String(name[name.index(after: eq)...])
            name = String(name[..<eq])
        }
        guard let option = sub.options.first(where: { $0.name == name }) else {
            throw fail("unknown option '--\(name)' for 'smk \(sub.rawValue)'")
        }
        if option.value == nil {
            guard inline == nil else { throw fail("--\(name) takes no value") }
            guard !flags.contains(name) else { throw fail("--\(name) given twice") }
            flags.insert(name)
            continue
        }
        guard values[name] == nil || name == "sample" else { throw fail("--\(name) given twice") }
        let value: String
        if let inline {
            value = inline
        } else {
            guard i < rest.count, !rest[i].hasPrefix("--") else { throw fail("missing value for --\(name) \(option.value!)") }
            value = rest[i]
            i += 1
        }
        values[name] = value
        if name == "sample" { samples.append(value) }
    }
    guard let model = positionals.first else { throw fail("missing the MODEL file") }
    guard positionals.count == 1 else {
        throw fail("unexpected argument '\(positionals[1])' (one MODEL file per command)")
    }
    let common = ModelOptions(model: model, spec: values["spec"])

    func positiveInt(_ name: String, default value: Int) throws -> Int {
        guard let text = values[name] else { return value }
        guard let n = Int(text), n > 0 else { throw fail("--\(name) must be a whole number > 0, got '\(text)'") }
        return n
    }

    switch sub {
    case .info:
        return .info(InfoOptions(model: common, dot: flags.contains("dot")))
    case .run:
        guard let input = values["input"] else { throw fail("missing --input FILE (the rows to run the model on)") }
        var lengths: [Int]?
        if let text = values["lengths"] {
            lengths = try text.split(separator: ",", omittingEmptySubsequences: false).map { part -> Int in
                guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                    throw fail("--lengths must be whole numbers >= 0 separated by commas, got '\(text)'")
                }
                return n
            }
        }
        var run = RunOptions(model: common, input: input, json: flags.contains("json"), lengths: lengths)
        for text in samples {
            let (head, options) = try parseSample(text, fail)
            guard run.sample[head] == nil else { throw fail("--sample \(head) given twice") }
            run.sample[head] = options
        }
        if let text = values["seed"] {
            guard let s = UInt64(text) else { throw fail("--seed must be a whole number in [0, 2^64), got '\(text)'") }
            guard !samples.isEmpty else { throw fail("--seed needs --sample HEAD (nothing is sampled)") }
            run.seed = s
        }
        return .run(run)
    case .bench:
        let batch = try positiveInt("batch", default: 1)
        let steps = try positiveInt("steps", default: 1)
        var seconds = 1.0
        if let text = values["seconds"] {
            guard let s = Double(text), s.isFinite, s > 0 else { throw fail("--seconds must be a number > 0, got '\(text)'") }
            seconds = s
        }
        return .bench(BenchOptions(model: common, batch: batch, steps: steps, seconds: seconds))
    }
}

/// `HEAD[:key=value,...]` of `--sample`: the head's name and its sampling
/// options (unknown keys and malformed values are usage errors; the ranges
/// are the library's to check).
func parseSample(_ text: String, _ fail: (String) -> UsageError) throws -> (String, SamplingOptions) {
    let head: Substring, rest: Substring?
    // The options follow the last colon; a name may hold colons itself.
    if let colon = text.lastIndex(of: ":"), text[colon...].contains("=") || text.hasSuffix(":") {
        head = text[..<colon]; rest = text[text.index(after: colon)...]
    } else {
        head = text[...]; rest = nil
    }
    guard !head.isEmpty else { throw fail("--sample needs a head name, got '\(text)'") }
    var o = SamplingOptions()
    for item in (rest ?? "").split(separator: ",", omittingEmptySubsequences: false) where rest != nil {
        let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard kv.count == 2, !kv[0].isEmpty else { throw fail("--sample \(head): expected key=value, got '\(item)'") }
        let key = String(kv[0]), value = String(kv[1])
        func real() throws -> Double {
            guard let v = Double(value) else { throw fail("--sample \(head): \(key) must be a number, got '\(value)'") }
            return v
        }
        func whole() throws -> Int {
            guard let v = Int(value) else { throw fail("--sample \(head): \(key) must be a whole number, got '\(value)'") }
            return v
        }
        switch key {
        case "temperature": o.temperature = try real()
        case "top_k": o.topK = try whole()
        case "top_p": o.topP = try real()
        case "min_p": o.minP = try real()
        case "num_samples": o.numSamples = try whole()
        case "row_offset":
            guard let v = UInt64(value) else { throw fail("--sample \(head): row_offset must be a whole number in [0, 2^64), got '\(value)'") }
            o.rowOffset = v
        case "replacement":
            switch value {
            case "true", "1": o.replacement = true
            case "false", "0": o.replacement = false
            default: throw fail("--sample \(head): replacement must be true or false, got '\(value)'")
            }
        default:
            throw fail("--sample \(head): unknown key '\(key)' (temperature, top_k, top_p, min_p, num_samples, replacement, row_offset)")
        }
    }
    return (String(head), o)
}
