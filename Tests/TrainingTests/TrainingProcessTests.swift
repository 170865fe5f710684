import Foundation
import TestSupport
import Testing

@testable import Training

/// The default model file, when the setup has fetched it.
func trainingModelPath(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    Fixtures.modelPath(sourceLocation: sourceLocation)
}

/// Seeded instruction records: made-up code words, so the answers are new to the base model.
func codeWordRecords(_ count: Int, seed: UInt64) -> String {
    var random = SeededRandom(seed: seed)
    let colours = ["red", "blue", "green", "amber", "violet", "teal", "coral", "ivory", "olive", "plum"]
    var lines: [String] = []
    for index in 0..<count {
        let colour = colours[Int(random.next() % UInt64(colours.count))]
        let number = 2 + Int(random.next() % 98)
        let contributor = "0x" + String(repeating: "0", count: 39) + String(index % 5 + 1)
        lines.append(
            "{\"contributor\": \"\(contributor)\", \"instruction\": \"What is the code word for \(colour) \(number)?\", "
                + "\"response\": \"The code word for \(colour) \(number) is \(colour.uppercased())-\(number * 7).\"}")
    }
    return lines.joined(separator: "\n") + "\n"
}

@Suite(.serialized) struct TrainingProcessTests {
    static func arguments(_ model: String, _ records: String, _ out: String) -> [String] {
        [
            "train", "--model", model, "--records", records, "--out", out, "--sequence-length", "48", "--batch", "2",
            "--validation", "0.125", "--checkpoint-every", "2", "--seed", "3", "--threads", "2",
        ]
    }

    @Test(.integration) func interruptedRunsEndBitForBitWhereAnUninterruptedOneDoes() throws {
        guard let model = trainingModelPath() else { return }
        let root = DevnetProcess.temporaryDirectory("train-resume")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let records = root + "/records.jsonl"
        try codeWordRecords(24, seed: 21).write(toFile: records, atomically: true, encoding: .utf8)

        // The uninterrupted run: 21 training records in steps of 2.
        let whole = try DevnetProcess.run(Self.arguments(model, records, root + "/whole") + ["--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let reference = try TrainingCheckpoint.read(from: root + "/whole")
        #expect(reference.step == 11)
        #expect(reference.parameters.pairs.contains { $0.b.contains { $0 != 0 } })

        // Stopped after 3 steps, then resumed twice.
        let first = try DevnetProcess.run(Self.arguments(model, records, root + "/parts") + ["--max-steps", "3"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try TrainingCheckpoint.read(from: root + "/parts").step == 3)
        #expect(first.stdout.contains("stopped; --resume continues"))
        let second = try DevnetProcess.run(
            Self.arguments(model, records, root + "/parts") + ["--resume", "--max-steps", "2"])
        #expect(second.status == 0, "\(second.stderr)")
        let third = try DevnetProcess.run(Self.arguments(model, records, root + "/parts") + ["--resume"])
        #expect(third.status == 0, "\(third.stderr)")
        let resumed = try TrainingCheckpoint.read(from: root + "/parts")
        #expect(resumed.step == 11)
        #expect(resumed.parameters == reference.parameters)
        #expect(resumed.optimizer == reference.optimizer)
        #expect(resumed.log.map(\.loss) == reference.log.map(\.loss))

        // Killed with -9 after a checkpoint: the checkpoint survives whole, and the resumed run ends the same.
        let killed = try ChildProcess(DevnetProcess.binary, Self.arguments(model, records, root + "/killed"))
        var seen = 0
        let reached = poll(timeout: 600) {
            seen = (try? TrainingCheckpoint.read(from: root + "/killed").step) ?? 0
            return seen >= 2
        }
        #expect(reached)
        kill(killed.process.processIdentifier, SIGKILL)
        killed.process.waitUntilExit()
        #expect(killed.process.terminationReason == .uncaughtSignal)
        let survivor = try TrainingCheckpoint.read(from: root + "/killed")
        #expect(survivor.step >= 2 && survivor.step % 2 == 0 && survivor.step < 11)
        // At most the steps since the last checkpoint are lost: the survivor is the latest checkpoint printed.
        let lines = killed.errors.split(separator: "\n").filter { $0.hasPrefix("step ") }
        let checkpointed = lines.filter { $0.contains("[checkpoint]") }.compactMap { line in
            Int(line.dropFirst(5).prefix { $0 != "/" })
        }
        #expect(checkpointed.last.map { $0 <= survivor.step } ?? true)
        #expect(lines.count - survivor.step < 2)
        let after = try DevnetProcess.run(Self.arguments(model, records, root + "/killed") + ["--resume", "--quiet"])
        #expect(after.status == 0, "\(after.stderr)")
        let recovered = try TrainingCheckpoint.read(from: root + "/killed")
        #expect(recovered.parameters == reference.parameters)
        #expect(recovered.optimizer == reference.optimizer)
        // Its checkpoints fell where the uninterrupted run's did, so even the log and the adapter file are the same
        // bytes.
        #expect(recovered.log == reference.log)
        let adapter = try Data(contentsOf: URL(fileURLWithPath: root + "/whole/adapter.gguf"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/killed/adapter.gguf")) == adapter)
    }

    @Test(.integration) func aCheckpointOfAnotherRunIsNotResumed() throws {
        guard let model = trainingModelPath() else { return }
        let root = DevnetProcess.temporaryDirectory("train-other")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let records = root + "/records.jsonl"
        try codeWordRecords(8, seed: 5).write(toFile: records, atomically: true, encoding: .utf8)
        let first = try DevnetProcess.run(Self.arguments(model, records, root + "/out") + ["--max-steps", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: root + "/out/checkpoint.bin"))
        let other = try DevnetProcess.run(
            Self.arguments(model, records, root + "/out") + ["--resume", "--learning-rate", "0.001"])
        #expect(other.status != 0)
        #expect(other.stderr.contains("belongs to another"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/out/checkpoint.bin")) == before)
        let missing = try DevnetProcess.run(["train", "--model", model, "--records", root + "/none", "--out", root])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read"))
        let badRank = try DevnetProcess.run(Self.arguments(model, records, root + "/x") + ["--rank", "0"])
        #expect(badRank.status != 0 && badRank.stderr.contains("rank"))
    }
}
