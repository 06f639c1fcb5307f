import SoftmaxKit
import Testing
@testable import smk

private func parse(_ line: String) throws -> Invocation {
    try parseArguments(line.split(separator: " ").map(String.init), version: "9.8.7")
}

/// The UsageError `line` gives; fails the test when it parses.
private func usageError(_ line: String) -> UsageError? {
    do {
        let result = try parse(line)
        Issue.record("'\(line)' parsed as \(result), expected a usage error")
    } catch let e as UsageError {
        return e
    } catch {
        Issue.record("'\(line)' threw \(error), expected a UsageError")
    }
    return nil
}

@Suite("smk command line")
struct ArgumentsTests {
    @Test("each subcommand with its options, in any order and either spelling")
    func subcommands() throws {
        #expect(try parse("info m.safetensors") == .info(InfoOptions(model: ModelOptions(model: "m.safetensors"))))
        #expect(try parse("info --spec s.json m.safetensors")
                == .info(InfoOptions(model: ModelOptions(model: "m.safetensors", spec: "s.json"))))
        let run = RunOptions(model: ModelOptions(model: "m", spec: nil), input: "x.npy", json: true)
        #expect(try parse("run m --input x.npy --json") == .run(run))
        #expect(try parse("run --json --input=x.npy m") == .run(run))
        #expect(try parse("run m --input x.npy") == .run(RunOptions(model: ModelOptions(model: "m"), input: "x.npy", json: false)))
        #expect(try parse("bench m") == .bench(BenchOptions(model: ModelOptions(model: "m"))))
        #expect(try parse("bench m --batch 64 --steps=3 --seconds 0.25 --spec s")
                == .bench(BenchOptions(model: ModelOptions(model: "m", spec: "s"), batch: 64, steps: 3, seconds: 0.25)))
        // `--` ends the options: a model file whose name starts with a dash.
        #expect(try parse("info -- --odd-name") == .info(InfoOptions(model: ModelOptions(model: "--odd-name"))))
        #expect(try parse("info m --dot") == .info(InfoOptions(model: ModelOptions(model: "m"), dot: true)))
        #expect(throws: UsageError.self) { try parse("info m --dot=yes") }
    }

    @Test("help and version")
    func helpAndVersion() throws {
        #expect(try parse("--version") == .version)
        guard case .help(let top) = try parse("--help") else { Issue.record("--help"); return }
        for sub in ["info", "run", "bench"] { #expect(top.contains(sub)) }
        #expect(top.contains("9.8.7"))
        #expect(try parse("-h") == .help(top))
        #expect(try parse("help") == .help(top))
        guard case .help(let runHelp) = try parse("help run") else { Issue.record("help run"); return }
        for option in ["--input FILE", "--json", "--spec FILE", "MODEL"] { #expect(runHelp.contains(option)) }
        #expect(try parse("run --help") == .help(runHelp))
        #expect(try parse("run m -h") == .help(runHelp))
        guard case .help(let benchHelp) = try parse("bench --help") else { Issue.record("bench --help"); return }
        for option in ["--batch N", "--steps N", "--seconds S"] { #expect(benchHelp.contains(option)) }
    }

    @Test("mistakes give a message naming the problem and the subcommand's usage")
    func mistakes() {
        let cases: [(String, String)] = [
            ("frobnicate m", "unknown subcommand 'frobnicate'"),
            ("--frob", "unknown option '--frob'"),
            ("help nothing", "unknown subcommand 'nothing'"),
            ("info", "missing the MODEL file"),
            ("info a b", "unexpected argument 'b'"),
            ("info m --input x", "unknown option '--input' for 'smk info'"),
            ("info m -x", "unknown option '-x'"),
            ("run m", "missing --input FILE"),
            ("run m --input", "missing value for --input FILE"),
            ("run m --input --json", "missing value for --input FILE"),
            ("run m --json=yes --input x", "--json takes no value"),
            ("run m --json --json --input x", "--json given twice"),
            ("run m --input a --input b", "--input given twice"),
            ("bench m --batch 0", "--batch must be a whole number > 0, got '0'"),
            ("bench m --batch -3", "--batch must be a whole number > 0, got '-3'"),
            ("bench m --steps 2.5", "--steps must be a whole number > 0, got '2.5'"),
            ("bench m --batch 99999999999999999999", "--batch must be a whole number > 0"),
            ("bench m --seconds 0", "--seconds must be a number > 0, got '0'"),
            ("bench m --seconds nan", "--seconds must be a number > 0, got 'nan'"),
            ("bench m --seconds inf", "--seconds must be a number > 0, got 'inf'"),
        ]
        for (line, message) in cases {
            guard let e = usageError(line) else { continue }
            #expect(e.message.contains(message), "'\(line)': \(e.message)")
            #expect(e.usage.hasPrefix("OVERVIEW:"), "'\(line)' gives no usage")
        }
        #expect(usageError("run m")?.usage.contains("USAGE: smk run MODEL --input FILE") == true)
        #expect(throws: UsageError.self) { try parseArguments([], version: "1") }
    }

    @Test("--sample HEAD[:key=value,...] may repeat; --seed needs a sample")
    func sampling() throws {
        guard case .run(let r) = try parse("run m --input x --sample action:temperature=0.8,top_k=5 --sample logp --seed 42") else {
            Issue.record("not a run"); return
        }
        #expect(r.sample["action"] == SamplingOptions(temperature: 0.8, topK: 5))
        #expect(r.sample["logp"] == SamplingOptions())
        #expect(r.seed == 42)
        guard case .run(let s) = try parse("run m --input x --sample=a:b:top_p=0.9,min_p=0.1,num_samples=3,replacement=false,row_offset=7") else {
            Issue.record("not a run"); return
        }
        #expect(s.sample["a:b"] == SamplingOptions(topP: 0.9, minP: 0.1, numSamples: 3, replacement: false, rowOffset: 7))
        #expect(s.seed == nil)
        let cases: [(String, String)] = [
            ("run m --input x --sample a:topk=3", "unknown key 'topk'"),
            ("run m --input x --sample a:top_k=x", "top_k must be a whole number, got 'x'"),
            ("run m --input x --sample a:top_k=2,temperature", "expected key=value, got 'temperature'"),
            ("run m --input x --sample a:replacement=maybe", "replacement must be true or false"),
            ("run m --input x --sample a --sample a", "--sample a given twice"),
            ("run m --input x --sample a --seed -1", "--seed must be a whole number in [0, 2^64)"),
            ("run m --input x --seed 3", "--seed needs --sample HEAD"),
            ("run m --input x --sample :top_k=2", "--sample needs a head name"),
        ]
        for (line, message) in cases {
            guard let e = usageError(line) else { continue }
            #expect(e.message.contains(message), "'\(line)': \(e.message)")
        }
    }
}
