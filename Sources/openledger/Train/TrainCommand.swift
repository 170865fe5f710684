import Codec
import Crypto
import Foundation
import Inference
import Node
import Training

/// `openledger train`: LoRA fine-tuning of the base model on records, on the CPU.
enum TrainCommand {
    static let command = CommandSpec(
        name: "train",
        summary: "Train a LoRA adapter on Datanet records (JSONL) on the CPU, with checkpoints and resume.",
        discussion: """
            Each record is {"contributor": "0x…", "instruction": "…", "response": "…"} (trained through the model's
            chat template; only the response is predicted) or {"contributor": "0x…", "text": "…"}. OUT receives
            checkpoint.bin (adapter and optimizer state, written atomically every --checkpoint-every steps),
            adapter.gguf (GGUF-LoRA), peft/ (adapter_config.json, adapter_model.safetensors), loss.csv,
            training-log.jsonl and provenance.json. --resume continues from OUT's checkpoint bit for bit.
            """,
        options: [
            InferCommand.modelOption,
            OptionSpec(name: "records", valueName: "FILE", help: "Records, one JSON object per line."),
            OptionSpec(
                name: "datanet", valueName: "ID",
                help:
                    "Train on a Datanet's committed snapshot (repeatable): its batches from DIR/content, checked against the ledger.",
                repeatable: true),
            OptionSpec(name: "out", valueName: "DIR", help: "Output directory."),
            OptionSpec(name: "rank", valueName: "R", help: "Adapter rank.", defaultValue: "8"),
            OptionSpec(name: "alpha", valueName: "A", help: "Scale numerator (alpha / rank).", defaultValue: "16"),
            OptionSpec(
                name: "targets", valueName: "LIST", help: "Adapted maps: q,k,v,o,gate,up,down.",
                defaultValue: "q,k,v,o,gate,up,down"),
            OptionSpec(name: "epochs", valueName: "N", help: "Passes over the training records.", defaultValue: "1"),
            OptionSpec(name: "learning-rate", valueName: "LR", help: "Peak learning rate.", defaultValue: "0.0002"),
            OptionSpec(name: "batch", valueName: "N", help: "Sequences per micro-batch.", defaultValue: "4"),
            OptionSpec(
                name: "accumulation", valueName: "N", help: "Micro-batches per optimizer step.", defaultValue: "1"),
            OptionSpec(
                name: "sequence-length", valueName: "T", help: "Tokens per sequence (longer records are cut).",
                defaultValue: "256"),
            OptionSpec(
                name: "seed", valueName: "N", help: "Seed of initialization, split and order.", defaultValue: "1"),
            OptionSpec(name: "weight-decay", valueName: "W", help: "AdamW weight decay.", defaultValue: "0.01"),
            OptionSpec(name: "clip", valueName: "NORM", help: "Gradient norm clip (0: none).", defaultValue: "1"),
            OptionSpec(name: "warmup", valueName: "STEPS", help: "Warmup steps (default: a tenth of the run)."),
            OptionSpec(
                name: "validation", valueName: "FRACTION", help: "Share of records held out.", defaultValue: "0.1"),
            OptionSpec(
                name: "checkpoint-every", valueName: "STEPS", help: "Steps between checkpoints.", defaultValue: "10"),
            OptionSpec(name: "max-steps", valueName: "N", help: "Stop after N more steps (checkpointed)."),
            OptionSpec(name: "threads", valueName: "N", help: "Threads.", defaultValue: "2"),
            OptionSpec(name: "resume", help: "Continue from OUT/checkpoint.bin."),
            OptionSpec(name: "quiet", help: "No progress lines."),
            OptionSpec(
                name: "adapter-type", valueName: "f32|f16",
                help: "Tensor type of adapter.gguf (f16 halves a serving peer's memory per adapter).",
                defaultValue: "f32"),
            NodeOptions.dataDirectory("With --datanet: the content store holding the Datanet's batches is in DIR."),
        ] + WalletCommand.ledger,
        action: { arguments, output throws(CLIError) in
            try run(arguments, &output)
        })

    static func config(_ arguments: ParsedArguments) throws(CLIError) -> TrainingConfig {
        var config = TrainingConfig()
        config.rank = try arguments.int("rank", in: 1...256) ?? 8
        config.alpha = Float(try arguments.double("alpha", in: 1e-6...1e6) ?? 16)
        config.targets = (arguments.string("targets") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        config.epochs = try arguments.int("epochs", in: 1...10_000) ?? 1
        config.learningRate = try arguments.double("learning-rate", in: 1e-12...0.999) ?? 2e-4
        config.batch = try arguments.int("batch", in: 1...256) ?? 4
        config.accumulation = try arguments.int("accumulation", in: 1...256) ?? 1
        config.sequenceLength = try arguments.int("sequence-length", in: 2...4096) ?? 256
        guard let seed = UInt64(arguments.string("seed") ?? "1") else {
            throw .usage("option --seed expects an unsigned integer", command: arguments.command)
        }
        config.seed = seed
        config.weightDecay = try arguments.double("weight-decay", in: 0...0.999) ?? 0.01
        config.clipNorm = try arguments.double("clip", in: 0...1e9) ?? 1
        config.warmupSteps = try arguments.int("warmup", in: 0...10_000_000)
        config.validationFraction = try arguments.double("validation", in: 0...0.9) ?? 0.1
        config.checkpointEvery = try arguments.int("checkpoint-every", in: 1...1_000_000) ?? 10
        do { try config.validate() } catch { throw .usage("\(error)", command: arguments.command) }
        return config
    }

    static func run(_ arguments: ParsedArguments, _ output: inout CommandOutput) throws(CLIError) {
        let datanetIDs = arguments.strings("datanet")
        guard (arguments.string("records") == nil) != datanetIDs.isEmpty else {
            throw .usage("give --records FILE or --datanet ID, one of the two", command: arguments.command)
        }
        guard let directory = arguments.string("out") else {
            throw .usage("--out DIR is required", command: arguments.command)
        }
        let config = try config(arguments)
        let threads = try arguments.int("threads", in: 1...256) ?? 2
        let maxSteps = try arguments.int("max-steps", in: 1...10_000_000)
        let records: [TrainingRecord]
        let bytes: [UInt8]
        let recordsPath: String
        var datanets: [TrainingDatanet] = []
        if let path = arguments.string("records") {
            (records, bytes) = try readRecords(path)
            recordsPath = path
        } else {
            (records, bytes, datanets) = try datanetRecords(datanetIDs, arguments, output)
            recordsPath = "datanet " + datanets.map(\.id).joined(separator: ",")
        }
        let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
        let model = try InferCommand.loadModel(arguments)
        let modelHash: String
        do { modelHash = try fileHash(modelPath) } catch { throw .failure("\(error)") }
        let trainer: LoRATrainer
        do {
            trainer = try LoRATrainer(
                model: model, modelHash: modelHash, records: records, dataHash: hexString(SHA256.hash(bytes)),
                config: config, directory: directory, threads: threads)
        } catch { throw .failure("\(error)") }
        let quiet = arguments.flag("quiet")
        output.errorLine(
            "train: \(records.count) records (\(trainer.split.training.count) training, "
                + "\(trainer.split.validation.count) validation), \(trainer.totalSteps) steps of "
                + "\(config.batch * config.accumulation) sequences, rank \(config.rank), "
                + "\(LoRAParameters.parameterCount(base: trainer.model.shape.loraBase, rank: config.rank, targets: (try? config.loraTargets()) ?? [])) parameters"
        )
        let summary: TrainingSummary
        let sink = output
        do {
            summary = try trainer.run(resume: arguments.flag("resume"), maxSteps: maxSteps) { progress in
                guard !quiet else { return }
                let validation = progress.validationLoss.map { String(format: "%.4f", $0) } ?? "-"
                sink.errorLine(
                    String(
                        format: "step %d/%d  epoch %d  loss %.4f  val %@  %.0f tok/s  eta %@%@", progress.step,
                        progress.totalSteps, progress.epoch, progress.loss, validation, progress.tokensPerSecond,
                        duration(progress.secondsLeft), progress.checkpointed ? "  [checkpoint]" : ""))
            }
        } catch { throw .failure("\(error)") }
        do {
            try TrainingOutputs.write(
                summary: summary, trainer: trainer, modelPath: modelPath, recordsPath: recordsPath,
                datanets: datanets, adapterType: try adapterType(arguments))
        } catch { throw .failure("\(error)") }
        output.line(LossPlot.render(summary.log))
        output.line(
            "steps \(summary.steps)/\(trainer.totalSteps)\(summary.finished ? "" : " (stopped; --resume continues)")"
                + "  validation loss \(summary.initialValidationLoss.map { String(format: "%.4f", $0) } ?? "-") → "
                + "\(summary.finalValidationLoss.map { String(format: "%.4f", $0) } ?? "-")")
        output.line("log root 0x\(summary.logRoot)")
        output.line("wrote \(directory)/adapter.gguf, \(directory)/peft, \(directory)/loss.csv")
    }

    /// `--adapter-type`: f32 (default) or f16.
    static func adapterType(_ arguments: ParsedArguments) throws(CLIError) -> GGUFWriter.TensorType {
        switch arguments.string("adapter-type") ?? "f32" {
        case "f32": return .f32
        case "f16": return .f16
        case let other:
            throw .usage("option --adapter-type expects f32 or f16, got '\(other)'", command: arguments.command)
        }
    }

    /// The records of Datanets' committed snapshots, read from the content store and checked against the ledger
    /// through the light client; the bytes are the snapshots' batches in leaf order, Datanet after Datanet.
    static func datanetRecords(_ ids: [String], _ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError)
        -> ([TrainingRecord], [UInt8], [TrainingDatanet])
    {
        let light = try LightCommand.makeClient(arguments)
        let store = try ContentCommand.open(arguments)
        var records: [TrainingRecord] = []
        var bytes: [UInt8] = []
        var datanets: [TrainingDatanet] = []
        for text in ids {
            let id = try LightCommand.parseNumber(text, arguments)
            let contents = try WalletCommand.node { () throws(NodeError) in
                try DatanetContents.read(id, client: light, store: store)
            }
            guard !contents.batches.isEmpty else { throw .failure("Datanet \(id) has no approved records") }
            let snapshot = contents.contents
            do {
                records += try TrainingRecord.parse(jsonl: snapshot)
            } catch {
                throw .failure("Datanet \(id): \(error)")
            }
            bytes += snapshot
            datanets.append(
                TrainingDatanet(
                    id: id.description, snapshotRoot: Hex.encode(contents.snapshotRoot),
                    records: contents.records.count))
            output.errorLine(
                "train: Datanet \(id) snapshot \(Hex.encode(contents.snapshotRoot)), \(contents.records.count) records in \(contents.batches.count) batches, checked against block \(contents.header.number)"
            )
        }
        return (records, bytes, datanets)
    }

    /// The records of a JSONL file and the file's bytes (refused past the records' size bound before reading).
    static func readRecords(_ path: String) throws(CLIError) -> ([TrainingRecord], [UInt8]) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int
        else { throw .failure("cannot read \(path)") }
        guard size <= TrainingRecord.maximumFileBytes else {
            throw .failure("\(path): \(size) bytes exceeds \(TrainingRecord.maximumFileBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw .failure("cannot read \(path)") }
        let bytes = Array(data)
        do { return (try TrainingRecord.parse(jsonl: bytes), bytes) } catch { throw .failure("\(path): \(error)") }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    /// The SHA-256 of the file at `path` as bare hex, as the training provenance names it.
    static func fileHash(_ path: String) throws(TrainingError) -> String {
        do {
            return hexString(try AdapterPublisher.fileHash(path))
        } catch {
            throw .io("\(error)")
        }
    }

    static func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
