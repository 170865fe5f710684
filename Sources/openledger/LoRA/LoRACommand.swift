import Foundation
import Inference

/// `openledger lora inspect FILE`: what an adapter holds, read without a base model.
enum LoRACommand {
    static let command = CommandSpec(
        name: "lora", summary: "LoRA adapters (GGUF-LoRA files and PEFT folders).",
        subcommands: [inspect])

    static let inspect = CommandSpec(
        name: "inspect", summary: "Print an adapter's format, rank, alpha, target tensors, types and size.",
        arguments: [ArgumentSpec(name: "file", help: "A GGUF-LoRA file or a PEFT folder.")],
        options: [OptionSpec(name: "json", help: "Print the same as JSON.")],
        action: { arguments, output throws(CLIError) in
            let path = arguments.positionals[0]
            let report: LoRAInspection
            do {
                report = try LoRAInspection.inspect(path: path)
            } catch {
                throw .failure("\(error)")
            }
            let ranks = Array(Set(report.entries.map(\.rank))).sorted()
            let types = Array(Set(report.entries.map { "\($0.typeA)/\($0.typeB)" })).sorted()
            let targets = Array(
                Set(
                    report.entries.map { entry in
                        entry.name.split(separator: ".").count == 4
                            ? String(entry.name.split(separator: ".")[2]) : entry.name
                    })
            ).sorted()
            let parameters = report.entries.reduce(0) { $0 + $1.rank * ($1.inputs + $1.outputs) }
            if arguments.flag("json") {
                let object: [String: Any] = [
                    "format": report.format.rawValue, "alpha": Double(report.alpha), "ranks": ranks,
                    "targets": targets, "types": types, "tensors": report.entries.count, "parameters": parameters,
                    "file_bytes": report.fileBytes, "settings": report.notes,
                    "entries": report.entries.map {
                        [
                            "name": $0.name, "rank": $0.rank, "inputs": $0.inputs, "outputs": $0.outputs,
                            "type_a": "\($0.typeA)", "type_b": "\($0.typeB)",
                        ] as [String: Any]
                    },
                ]
                let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                output.line(String(decoding: data ?? Data(), as: UTF8.self))
                return
            }
            output.line("format:     \(report.format.rawValue)")
            output.line("rank:       \(ranks.map(String.init).joined(separator: ", "))")
            output.line("alpha:      \(report.alpha)")
            output.line("targets:    \(targets.joined(separator: ", ")) (\(report.entries.count) tensors)")
            output.line("dtype:      \(types.joined(separator: ", ")) (A/B)")
            output.line("parameters: \(parameters)")
            output.line("size:       \(report.fileBytes) bytes")
            for (key, value) in report.notes.sorted(by: { $0.key < $1.key }) { output.line("\(key): \(value)") }
        })
}
