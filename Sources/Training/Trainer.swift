import Crypto
import FileIO
import Foundation
import Inference
import Runtime

/// What a training run reports after each step.
public struct TrainingProgress: Sendable {
    /// The step just taken, from 1.
    public var step: Int
    /// Steps in the run.
    public var totalSteps: Int
    /// The epoch of the step, from 1.
    public var epoch: Int
    /// The step's mean training loss.
    public var loss: Double
    /// The latest validation loss.
    public var validationLoss: Double?
    /// Tokens per second over this process's steps.
    public var tokensPerSecond: Double
    /// Seconds left at that rate.
    public var secondsLeft: Double
    /// Whether the step ended with a checkpoint.
    public var checkpointed: Bool
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    /// Steps taken in all, across resumes.
    public var steps: Int
    /// Whether the run reached its last step.
    public var finished: Bool
    /// The log.
    public var log: [TrainingLogEntry]
    /// The validation loss before the first step.
    public var initialValidationLoss: Double?
    /// The latest validation loss.
    public var finalValidationLoss: Double?
    /// The adapter.
    public var parameters: LoRAParameters
    /// The training log's Merkle root (hex).
    public var logRoot: String
}

/// A LoRA training run over records, with checkpoints in its output directory.
public final class LoRATrainer {
    /// The base.
    public let model: QuantizedModel
    /// The hyper-parameters.
    public let config: TrainingConfig
    /// The output directory.
    public let directory: String
    /// Training sequences, by record.
    public let sequences: [TrainingSequence]
    /// The split.
    public let split: DataSplit
    /// SHA-256 of the training data (hex): the records file's bytes.
    public let dataHash: String
    /// SHA-256 of the base model's GGUF file (hex).
    public let modelHash: String
    /// The run's identity: what a checkpoint must match to be resumed.
    public let fingerprint: String

    /// A run on `records` (whose file bytes hash to `dataHash`) of `model`, writing into `directory`.
    public init(
        model: LlamaModel, modelHash: String, records: [TrainingRecord], dataHash: String, config: TrainingConfig,
        directory: String, threads: Int = 2
    ) throws(TrainingError) {
        try config.validate()
        self.model = QuantizedModel(model, threads: threads)
        self.config = config
        self.directory = directory
        self.dataHash = dataHash
        self.modelHash = modelHash
        let template = try? ChatTemplate(template: model.chatTemplate)
        var sequences: [TrainingSequence] = []
        for record in records {
            sequences.append(
                try record.sequence(tokenizer: model.tokenizer, template: template, length: config.sequenceLength))
        }
        self.sequences = sequences
        split = DataSplit(count: records.count, fraction: config.validationFraction, seed: config.seed)
        guard !split.training.isEmpty else { throw .configuration("no training records after the split") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let configBytes = Array((try? encoder.encode(config)) ?? Data())
        fingerprint = hex(SHA256.hash(Array(modelHash.utf8) + [0] + Array(dataHash.utf8) + [0] + configBytes))
    }

    /// The file name of the adapter kept at step `step`'s checkpoint, under `checkpoints/`.
    public static func snapshotName(step: Int) -> String { String(format: "step-%07d.gguf", step) }

    /// Refuses a step whose loss or gradient is not finite: the run stops there, its last checkpoint intact.
    public static func checkFinite(loss: Double, gradientNorm: Double, step: Int) throws(TrainingError) {
        guard loss.isFinite, gradientNorm.isFinite else {
            throw .configuration(
                "the loss diverged at step \(step) (loss \(loss), gradient norm \(gradientNorm)): the run stopped "
                    + "before that step with its last checkpoint kept; start again with a lower --learning-rate")
        }
    }

    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int {
        let perStep = config.batch * config.accumulation
        return (split.training.count + perStep - 1) / perStep
    }

    /// Steps in the whole run.
    public var totalSteps: Int { stepsPerEpoch * config.epochs }

    /// The records of step `step` (0-based), in micro-batches.
    public func microBatches(step: Int) -> [[TrainingSequence]] {
        let epoch = step / stepsPerEpoch
        let index = step % stepsPerEpoch
        let order = split.order(epoch: epoch, seed: config.seed)
        let perStep = config.batch * config.accumulation
        let chosen = Array(order[(index * perStep)..<min(order.count, (index + 1) * perStep)])
        return stride(from: 0, to: chosen.count, by: config.batch).map { start in
            chosen[start..<min(chosen.count, start + config.batch)].map { sequences[$0] }
        }
    }

    /// The mean loss over the validation records.
    public func validationLoss(_ parameters: LoRAParameters) -> Double? {
        guard !split.validation.isEmpty else { return nil }
        let tensors = LoRATensors<Float>(parameters, layers: model.shape.layers)
        let result = loss(model: model, lora: tensors, batch: split.validation.map { sequences[$0] })
        return result.1 > 0 ? result.0 : nil
    }

    /// A fresh start: the seeded initialization.
    public func initialCheckpoint() throws(TrainingError) -> TrainingCheckpoint {
        var parameters = LoRAParameters(
            base: model.shape.loraBase, rank: config.rank, alpha: config.alpha, targets: try config.loraTargets())
        parameters.initialize(seed: config.seed)
        return TrainingCheckpoint(
            fingerprint: fingerprint, step: 0, parameters: parameters, optimizer: AdamW(parameters), log: [])
    }

    /// Trains from the checkpoint in the directory when `resume` (else from the start), for at most `maxSteps`
    /// more steps; reports each step to `progress`.
    public func run(
        resume: Bool, maxSteps: Int? = nil, clock: any Clock = SystemClock(),
        progress: (TrainingProgress) -> Void = { _ in }
    ) throws(TrainingError) -> TrainingSummary {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch { throw .io("cannot create \(directory): \(error.localizedDescription)") }
        do {
            try FileManager.default.createDirectory(
                atPath: directory + "/checkpoints", withIntermediateDirectories: true)
        } catch { throw .io("cannot create \(directory)/checkpoints: \(error.localizedDescription)") }
        var state: TrainingCheckpoint
        if resume, FileManager.default.fileExists(atPath: directory + "/checkpoint.bin") {
            state = try TrainingCheckpoint.read(from: directory)
            guard state.fingerprint == fingerprint else {
                throw .checkpoint("the checkpoint in \(directory) belongs to another model, data or configuration")
            }
            guard state.step <= totalSteps else { throw .checkpoint("checkpoint step beyond the run") }
        } else {
            state = try initialCheckpoint()
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let configJSON = try? encoder.encode(config) else { throw .io("configuration does not encode") }
        try TrainingOutputs.save(Array(configJSON) + [10], directory + "/training-config.json")
        let initialValidation = state.step == 0 ? validationLoss(state.parameters) : nil
        var latestValidation = state.log.last { $0.validationLoss != nil }?.validationLoss ?? initialValidation
        let started = clock.now()
        var tokens = 0
        var taken = 0
        while state.step < totalSteps, taken < (maxSteps ?? Int.max) {
            let step = state.step
            let tensors = LoRATensors<Float>(state.parameters, layers: model.shape.layers)
            var lossSum = 0.0
            var targetSum = 0
            let batches = microBatches(step: step)
            let parts = batches.map { lossAndGradients(model: model, lora: tensors, batch: $0) }
            let allTargets = parts.reduce(0) { $0 + $1.targets }
            var gradients: LoRATensors<Float>
            if parts.count == 1 {
                // One micro-batch: its gradient is the step's (a weight of 1 would change no bit).
                gradients = parts[0].gradients
            } else {
                gradients = tensors.zeros()
                for part in parts where part.targets > 0 {
                    gradients.add(part.gradients, scaledBy: Float(Double(part.targets) / Double(allTargets)))
                }
            }
            for part in parts {
                lossSum += part.loss * Double(part.targets)
                targetSum += part.targets
            }
            tokens += batches.joined().reduce(0) { $0 + $1.tokens.count }
            let rate = config.learningRate(step: step, total: totalSteps)
            try Self.checkFinite(
                loss: targetSum > 0 ? lossSum / Double(targetSum) : 0, gradientNorm: AdamW.norm(gradients),
                step: state.step + 1)
            let norm = state.optimizer.step(&state.parameters, gradients, rate: rate, config: config)
            state.step += 1
            taken += 1
            var entry = TrainingLogEntry(
                step: state.step, loss: targetSum > 0 ? lossSum / Double(targetSum) : 0, learningRate: rate,
                gradientNorm: norm, validationLoss: nil, checkpoint: nil)
            let checkpointNow =
                state.step % config.checkpointEvery == 0 || state.step == totalSteps
                || taken == (maxSteps ?? Int.max)
            if checkpointNow {
                entry.validationLoss = validationLoss(state.parameters)
                if let value = entry.validationLoss { latestValidation = value }
                entry.checkpoint = state.stateHash
            }
            state.log.append(entry)
            if checkpointNow {
                // The adapter at this checkpoint, kept for gradient attribution, then the checkpoint itself.
                try state.parameters.writeGGUF(
                    to: directory + "/checkpoints/" + Self.snapshotName(step: state.step),
                    metadata: ["openledger.step": "\(state.step)", "openledger.learning_rate": "\(rate)"])
                try state.write(to: directory)
            }
            let elapsed = max(1e-9, clock.now().seconds(since: started))
            let speed = Double(tokens) / elapsed
            let perStep = elapsed / Double(taken)
            progress(
                TrainingProgress(
                    step: state.step, totalSteps: totalSteps, epoch: step / stepsPerEpoch + 1, loss: entry.loss,
                    validationLoss: latestValidation, tokensPerSecond: speed,
                    secondsLeft: perStep * Double(totalSteps - state.step), checkpointed: checkpointNow))
        }
        return TrainingSummary(
            steps: state.step, finished: state.step == totalSteps, log: state.log,
            initialValidationLoss: initialValidation ?? state.log.first?.validationLoss,
            finalValidationLoss: latestValidation, parameters: state.parameters,
            logRoot: hex(TrainingLogTree.root(state.log)))
    }
}
