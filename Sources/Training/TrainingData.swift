import Foundation
import Inference
import Runtime

/// One Datanet record: an instruction and its response, or plain text, with its contributor.
public struct TrainingRecord: Sendable, Equatable {
    /// The contributor's address (`0x` and 40 hex digits), as the record names it.
    public var contributor: String
    /// What the record teaches.
    public var content: Content

    /// A record's two forms.
    public enum Content: Sendable, Equatable {
        /// Trained through the chat template; only the response is predicted.
        case instruction(String, response: String)
        /// Every token after the first is predicted.
        case text(String)
    }

    /// A record from its parts.
    public init(contributor: String, content: Content) {
        self.contributor = contributor
        self.content = content
    }

    /// The largest records file read (bytes).
    public static let maximumFileBytes = 256 << 20
    /// The largest record (bytes of one line).
    public static let maximumLineBytes = 1 << 20

    /// Records from JSONL bytes: one object per line, blank lines skipped.
    public static func parse(jsonl bytes: [UInt8]) throws(TrainingError) -> [TrainingRecord] {
        guard bytes.count <= maximumFileBytes else {
            throw .records(line: 0, "file of \(bytes.count) bytes exceeds \(maximumFileBytes)")
        }
        var records: [TrainingRecord] = []
        var line = 0
        for slice in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            line += 1
            let trimmed = slice.drop { $0 == 32 || $0 == 9 || $0 == 13 }
            if trimmed.isEmpty || trimmed.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard slice.count <= maximumLineBytes else {
                throw .records(line: line, "line of \(slice.count) bytes exceeds \(maximumLineBytes)")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(slice)) as? [String: Any] else {
                throw .records(line: line, "not a JSON object")
            }
            guard let contributor = object["contributor"] as? String, isAddress(contributor) else {
                throw .records(line: line, "contributor must be a 0x-prefixed 20-byte hex address")
            }
            if let instruction = object["instruction"] as? String, let response = object["response"] as? String {
                guard !response.isEmpty else { throw .records(line: line, "empty response") }
                records.append(
                    TrainingRecord(contributor: contributor, content: .instruction(instruction, response: response)))
            } else if let text = object["text"] as? String {
                guard !text.isEmpty else { throw .records(line: line, "empty text") }
                records.append(TrainingRecord(contributor: contributor, content: .text(text)))
            } else {
                throw .records(line: line, "needs \"instruction\" and \"response\" strings, or a \"text\" string")
            }
        }
        guard !records.isEmpty else { throw .records(line: 0, "no records") }
        return records
    }

    static func isAddress(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 42, bytes[0] == UInt8(ascii: "0"),
            bytes[1] == UInt8(ascii: "x") || bytes[1] == UInt8(ascii: "X")
        else { return false }
        return bytes[2...].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }

    /// The record as a training sequence of at most `length` tokens.
    public func sequence(tokenizer: Tokenizer, template: ChatTemplate?, length: Int) throws(TrainingError)
        -> TrainingSequence
    {
        var tokens: [Int32]
        var targets: [Bool]
        switch content {
        case .instruction(let instruction, let response):
            guard let template else {
                throw .configuration("the model has no ChatML chat template for instruction records")
            }
            let prompt = tokenizer.encode(template.render([.init(role: "user", content: instruction)]))
            let answer = tokenizer.encode(response + "<|im_end|>")
            tokens = prompt + answer
            targets = [Bool](repeating: false, count: prompt.count) + [Bool](repeating: true, count: answer.count)
        case .text(let text):
            tokens = tokenizer.encode(text)
            targets = tokens.indices.map { $0 > 0 }
        }
        if tokens.count > length {
            tokens = Array(tokens.prefix(length))
            targets = Array(targets.prefix(length))
        }
        if !targets.isEmpty { targets[0] = false }
        return TrainingSequence(tokens: tokens, targets: targets)
    }
}

/// The seeded split of records into training and validation sets, and each epoch's order.
public struct DataSplit: Sendable, Equatable {
    /// Indices of the training records.
    public let training: [Int]
    /// Indices of the validation records.
    public let validation: [Int]

    /// A split of `count` records: `fraction` of them (at least one when there are two or more) for validation.
    public init(count: Int, fraction: Double, seed: UInt64) {
        var random = SeededRandom(seed: seed ^ 0x5350_4c49_54)
        let order = shuffled(Array(0..<count), &random)
        let held = count < 2 || fraction <= 0 ? 0 : max(1, min(count - 1, Int((Double(count) * fraction).rounded())))
        validation = Array(order.prefix(held)).sorted()
        training = Array(order.dropFirst(held))
    }

    /// The training records' order in epoch `epoch`: a shuffle seeded by the run's seed and the epoch.
    public func order(epoch: Int, seed: UInt64) -> [Int] {
        var random = SeededRandom(seed: seed ^ 0x4550_4f43_48 ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        return shuffled(training, &random)
    }
}

/// Fisher–Yates with the seeded source.
func shuffled(_ items: [Int], _ random: inout SeededRandom) -> [Int] {
    var items = items
    guard items.count > 1 else { return items }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        let j = Int(random.next() % UInt64(i + 1))
        items.swapAt(i, j)
    }
    return items
}
