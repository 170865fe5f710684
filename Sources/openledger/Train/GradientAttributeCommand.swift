import Crypto
import Foundation
import Inference
import Training

/// `openledger attribute gradient`: TracIn over a trained adapter's checkpoints.
enum GradientAttributeCommand {
    static let command = CommandSpec(
        name: "gradient",
        summary: "Rank the training records of an adapter by their gradient influence (TracIn) on a response.",
        discussion: """
            DIR is the output directory of `openledger train`. Each training record's gradient is sketched at every
            checkpoint the run kept (DIR/checkpoints), once, and stored beside it; the response's gradient is
            sketched the same way, and a record's influence is the sum over checkpoints of the learning rate times
            the two sketches' inner product.
            """,
        options: [
            InferCommand.modelOption,
            OptionSpec(name: "adapter", valueName: "DIR", help: "The training run's output directory."),
            OptionSpec(name: "records", valueName: "FILE", help: "The records it was trained on."),
            OptionSpec(name: "response", valueName: "TEXT", help: "The answer to attribute."),
            OptionSpec(name: "prompt", valueName: "TEXT", help: "The instruction it answered (chat template)."),
            OptionSpec(name: "top", valueName: "K", help: "Records to print.", defaultValue: "10"),
            OptionSpec(name: "dimension", valueName: "D", help: "Sketch length.", defaultValue: "2048"),
            OptionSpec(name: "threads", valueName: "N", help: "Threads.", defaultValue: "2"),
            OptionSpec(name: "json", help: "Print JSON."),
        ],
        action: { arguments, output throws(CLIError) in
            try run(arguments, &output)
        })

    static func run(_ arguments: ParsedArguments, _ output: inout CommandOutput) throws(CLIError) {
        guard let directory = arguments.string("adapter"), let recordsPath = arguments.string("records"),
            let response = arguments.string("response")
        else {
            throw .usage("--adapter DIR, --records FILE and --response TEXT are required", command: arguments.command)
        }
        let top = try arguments.int("top", in: 1...100_000) ?? 10
        let dimension = try arguments.int("dimension", in: 16...1 << 20) ?? 2048
        let threads = try arguments.int("threads", in: 1...256) ?? 2
        let (records, bytes) = try TrainCommand.readRecords(recordsPath)
        let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
        let model = try InferCommand.loadModel(arguments)
        let session: TracInSession
        let sketches: [[[Float]]]
        let result: GradientAttributionResult
        let sink = output
        do {
            session = try TracInSession(
                directory: directory, model: model, modelHash: try TrainCommand.fileHash(modelPath), records: records,
                recordsHash: SHA256.hash(bytes), dimension: dimension, threads: threads)
            sketches = try session.recordSketches { done, total in
                sink.errorLine("sketched the training records at checkpoint \(done)/\(total)")
            }
            result = try session.attribute(prompt: arguments.string("prompt"), response: response, sketches: sketches)
        } catch { throw .failure("\(error)") }
        let shown = Array(result.ranked.prefix(top))
        if arguments.flag("json") {
            let object: [String: Any] = [
                "checkpoints": session.attribution.checkpoints.map(\.step),
                "dimension": dimension,
                "top": shown.map { ["record": $0.record, "contributor": $0.contributor, "influence": $0.influence] },
                "shares": result.shares.map { ["contributor": $0.contributor, "share": $0.share] },
            ]
            let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            output.line(String(decoding: json ?? Data(), as: UTF8.self))
            return
        }
        output.line(
            "checkpoints: \(session.attribution.checkpoints.map { "\($0.step)" }.joined(separator: ", "))  "
                + "sketch: \(dimension) values")
        output.line("rank  record  influence      contributor                                 text")
        for (rank, item) in shown.enumerated() {
            let text: String
            switch records[item.record].content {
            case .instruction(let instruction, _): text = instruction
            case .text(let body): text = body
            }
            output.line(
                String(format: "%4d  %6d  %+.6e  ", rank + 1, item.record, item.influence) + item.contributor + "  "
                    + String(text.prefix(40)).replacingOccurrences(of: "\n", with: " "))
        }
        output.line("contributor shares of the positive influence:")
        for share in result.shares {
            output.line("  \(share.contributor) \(String(format: "%.2f%%", 100 * share.share))")
        }
    }
}
