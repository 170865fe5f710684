import FileIO
import Foundation
import Inference

/// A Datanet snapshot a run trained on, as its provenance names it.
public struct TrainingDatanet: Sendable, Equatable {
    /// The Datanet's id (decimal).
    public var id: String
    /// The snapshot root trained on (0x, 32 bytes).
    public var snapshotRoot: String
    /// The snapshot's record count.
    public var records: Int

    /// A snapshot of Datanet `id`.
    public init(id: String, snapshotRoot: String, records: Int) {
        self.id = id
        self.snapshotRoot = snapshotRoot
        self.records = records
    }
}

/// The files a run leaves in its output directory besides the checkpoint.
public enum TrainingOutputs {
    /// Writes loss.csv, training-log.jsonl, provenance.json and the adapter files, each atomically; `recordsPath` names
    /// the records' file, or the Datanets they were read from (`datanets`); the GGUF-LoRA's tensors are
    /// `adapterType` (F16 halves what a peer holds per cached adapter; PEFT stays F32).
    public static func write(
        summary: TrainingSummary, trainer: LoRATrainer, modelPath: String, recordsPath: String,
        datanets: [TrainingDatanet] = [], adapterType: GGUFWriter.TensorType = .f32
    ) throws(TrainingError) {
        let directory = trainer.directory
        var csv = "step,loss,learning_rate,gradient_norm,validation_loss\n"
        for entry in summary.log {
            csv +=
                "\(entry.step),\(entry.loss),\(entry.learningRate),\(entry.gradientNorm),"
                + "\(entry.validationLoss.map { "\($0)" } ?? "")\n"
        }
        try save(Array(csv.utf8), directory + "/loss.csv")
        var log: [UInt8] = []
        for entry in summary.log { log += entry.leafBytes + [10] }
        try save(log, directory + "/training-log.jsonl")
        let config = trainer.config
        var provenance: [String: Any] = [
            "base_model": ["file": (modelPath as NSString).lastPathComponent, "sha256": trainer.modelHash],
            "training_data": [
                "file": (recordsPath as NSString).lastPathComponent, "sha256": trainer.dataHash,
                "records": trainer.sequences.count, "training": trainer.split.training.count,
                "validation": trainer.split.validation.count,
            ],
            "hyper_parameters": [
                "rank": config.rank, "alpha": Double(config.alpha), "targets": config.targets, "epochs": config.epochs,
                "learning_rate": config.learningRate, "batch": config.batch, "accumulation": config.accumulation,
                "sequence_length": config.sequenceLength, "seed": "\(config.seed)", "weight_decay": config.weightDecay,
                "clip_norm": config.clipNorm, "warmup_steps": config.warmupSteps ?? max(1, trainer.totalSteps / 10),
                "schedule": "linear warmup, cosine to zero", "optimizer": "AdamW",
            ],
            "steps": summary.steps,
            "finished": summary.finished,
            "final_training_loss": summary.log.last?.loss ?? NSNull(),
            "initial_validation_loss": summary.initialValidationLoss ?? NSNull(),
            "final_validation_loss": summary.finalValidationLoss ?? NSNull(),
            "training_log_root": "0x" + summary.logRoot,
            "training_log_tree": "keccak256 leaves of 0x00 ‖ entry JSON, nodes of 0x01 ‖ left ‖ right",
        ]
        if !datanets.isEmpty {
            provenance["datanets"] = datanets.map {
                ["id": $0.id, "snapshot_root": $0.snapshotRoot, "records": $0.records] as [String: Any]
            }
        }
        guard
            let json = try? JSONSerialization.data(
                withJSONObject: provenance, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { throw .io("provenance does not encode") }
        try save(Array(json) + [10], directory + "/provenance.json")
        var metadata = [
            "openledger.base_model.sha256": trainer.modelHash, "openledger.training_data.sha256": trainer.dataHash,
            "openledger.training_log_root": "0x" + summary.logRoot, "openledger.steps": "\(summary.steps)",
        ]
        if !datanets.isEmpty {
            metadata["openledger.datanets"] = datanets.map { "\($0.id):\($0.snapshotRoot)" }.joined(separator: ",")
        }
        try summary.parameters.writeGGUF(to: directory + "/adapter.gguf", metadata: metadata, type: adapterType)
        try summary.parameters.writePEFT(
            to: directory + "/peft", base: trainer.model.shape.loraBase,
            baseModelName: (trainer.model.model.file.metadata["general.name"]?.string ?? "base"), metadata: metadata)
    }

    static func save(_ bytes: [UInt8], _ path: String) throws(TrainingError) {
        do { try AtomicFile.write(bytes, to: path) } catch { throw .io("cannot write \(path): \(error)") }
    }
}

/// The loss curve as a small text plot.
public enum LossPlot {
    /// Rows of the plot: training loss as `·`, validation loss as `o`, over the steps.
    public static func render(_ log: [TrainingLogEntry], width: Int = 60, height: Int = 12) -> String {
        guard !log.isEmpty else { return "(no steps)" }
        let values = log.map(\.loss) + log.compactMap(\.validationLoss)
        let low = values.min() ?? 0
        let high = max((values.max() ?? 1), low + 1e-9)
        var grid = [[Character]](repeating: [Character](repeating: " ", count: width), count: height)
        func place(_ index: Int, _ value: Double, _ mark: Character) {
            let column = log.count == 1 ? 0 : index * (width - 1) / (log.count - 1)
            let row = Int(((high - value) / (high - low) * Double(height - 1)).rounded())
            grid[max(0, min(height - 1, row))][column] = mark
        }
        for (index, entry) in log.enumerated() { place(index, entry.loss, "·") }
        for (index, entry) in log.enumerated() { if let value = entry.validationLoss { place(index, value, "o") } }
        var lines: [String] = []
        for (row, cells) in grid.enumerated() {
            let label =
                row == 0
                ? String(format: "%7.3f", high) : row == height - 1 ? String(format: "%7.3f", low) : "       "
            lines.append(label + " │" + String(cells))
        }
        lines.append("        └" + String(repeating: "─", count: width))
        lines.append("         step 1" + String(repeating: " ", count: max(1, width - 12)) + "\(log.count)")
        lines.append("         · training loss   o validation loss")
        return lines.joined(separator: "\n")
    }
}
