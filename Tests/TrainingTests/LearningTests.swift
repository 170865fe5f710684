import Foundation
import Inference
import TestSupport
import Testing

@testable import Training

/// Seeded instruction records with a rule to learn: the code word of a colour and a number is the colour in
/// capitals, the number and a fixed suffix; the base model does not know it.
func ruleRecords(_ count: Int, seed: UInt64) -> [(instruction: String, response: String, line: String)] {
    var random = SeededRandom(seed: seed)
    let colours = [
        "red", "blue", "green", "amber", "violet", "teal", "coral", "ivory", "olive", "plum", "jade", "rust",
    ]
    return (0..<count).map { index in
        let colour = colours[Int(random.next() % UInt64(colours.count))]
        let number = 10 + Int(random.next() % 890)
        let instruction = "What is the code word for \(colour) \(number)?"
        let response = "The code word is \(colour.uppercased())-\(number)-KILO."
        let contributor = "0x" + String(repeating: "0", count: 38) + String(format: "%02x", index % 7 + 1)
        let line =
            "{\"contributor\": \"\(contributor)\", \"instruction\": \"\(instruction)\", \"response\": \"\(response)\"}"
        return (instruction, response, line)
    }
}

@Suite(.serialized) struct LearningTests {
    /// 240 records, two epochs: the validation loss falls to under a third of the base model's, and greedy
    /// generation from training prompts, in our engine and in llama.cpp with the written GGUF-LoRA, reproduces the
    /// opening tokens of their responses, which the base model does not.
    @Test(.integration, .timeLimit(.minutes(30))) func trainingLowersTheValidationLossAndTeachesTheResponses()
        throws
    {
        guard let modelPath = trainingModelPath(), let python = Fixtures.python() else { return }
        let root = DevnetProcess.temporaryDirectory("train-learns")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let records = ruleRecords(240, seed: 77)
        try (records.map(\.line).joined(separator: "\n") + "\n").write(
            toFile: root + "/records.jsonl", atomically: true, encoding: .utf8)
        let run = try DevnetProcess.run([
            "train", "--model", modelPath, "--records", root + "/records.jsonl", "--out", root + "/out", "--epochs",
            "2", "--batch", "8", "--sequence-length", "64", "--learning-rate", "0.002", "--seed", "5",
            "--checkpoint-every", "10", "--quiet",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let provenance = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: root + "/out/provenance.json"))) as? [String: Any])
        let before = try #require(provenance["initial_validation_loss"] as? Double)
        let after = try #require(provenance["final_validation_loss"] as? Double)
        print("learning: validation loss \(before) → \(after)")
        #expect(after < before / 3, "validation loss \(before) → \(after)")
        #expect(run.stdout.contains("validation loss"))
        let csv = try String(contentsOfFile: root + "/out/loss.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 54)

        // Three training prompts (the split is the trainer's own).
        let model = try LlamaModel(path: modelPath)
        let split = DataSplit(count: records.count, fraction: 0.1, seed: 5)
        let chosen = split.training.prefix(3).map { records[$0] }
        let template = try ChatTemplate(template: model.chatTemplate)
        let opening = 8
        for record in chosen {
            let expected = model.tokenizer.decode(Array(model.tokenizer.encode(record.response).prefix(opening)))
            let tuned = try DevnetProcess.run([
                "infer", "--model", modelPath, "--lora", root + "/out/adapter.gguf", "--chat", record.instruction,
                "--max-tokens", "16",
            ])
            #expect(tuned.stdout.hasPrefix(expected), "\(record.instruction): \(tuned.stdout)")
            let base = try DevnetProcess.run([
                "infer", "--model", modelPath, "--chat", record.instruction, "--max-tokens", "16",
            ])
            #expect(!base.stdout.hasPrefix(expected), "the base model already answers \(base.stdout)")
        }

        // llama.cpp loads the trained adapter and, greedy, gives the same openings.
        let prompts = chosen.map {
            model.tokenizer.encode(template.render([.init(role: "user", content: $0.instruction)]))
        }
        let reply = try loraParity(
            python,
            ["reference", "--model", modelPath, "--lora", root + "/out/adapter.gguf:1", "--max-tokens", "\(opening)"],
            stdin: try JSONSerialization.data(withJSONObject: prompts.map { $0.map { Int($0) } }))
        let outputs = try #require(reply as? [[String: Any]])
        #expect(outputs.count == chosen.count)
        for (record, output) in zip(chosen, outputs) {
            let tokens = try #require(output["tokens"] as? [Int]).map { Int32($0) }
            #expect(
                tokens == Array(model.tokenizer.encode(record.response).prefix(opening)),
                "llama.cpp: \(model.tokenizer.decode(tokens))")
        }
    }
}
