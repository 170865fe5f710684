import AttributionRules
import Codec
import Foundation
import TestSupport
import Testing

@testable import Attribution

private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try DevnetProcess.run(arguments)
}

/// index → run (exact JSON shape and values) → verify, and the errors a user can cause.
@Test(.integration) func attributeCommandsEndToEnd() throws {
    let directory = DevnetProcess.temporaryDirectory("attribute")
    let records = [
        (
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "Aspirin inhibits the enzyme cyclooxygenase and reduces fever and inflammation."
        ),
        (
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "Ibuprofen is a nonsteroidal anti-inflammatory drug that inhibits cyclooxygenase."
        ),
        (
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            "Aspirin inhibits the enzyme cyclooxygenase and reduces fever and inflammation."
        ),
    ]
    let jsonl = records.map { #"{"contributor": "\#($0.0)", "text": "\#($0.1)"}"# }.joined(separator: "\n")
    try jsonl.write(toFile: directory + "/records.jsonl", atomically: true, encoding: .utf8)
    let response =
        "In short: Aspirin inhibits the enzyme cyclooxygenase and reduces fever, and ibuprofen is a nonsteroidal anti-inflammatory drug that inhibits cyclooxygenase too."
    try response.write(toFile: directory + "/response.txt", atomically: true, encoding: .utf8)

    let index = try run([
        "attribute", "index", "--records", directory + "/records.jsonl", "--out", directory + "/index",
    ])
    #expect(index.status == 0, "\(index.stderr)")
    let json = try run([
        "attribute", "run", "--index", directory + "/index", "--response", directory + "/response.txt", "--json",
        "--proof", directory + "/proof.json",
    ])
    #expect(json.status == 0, "\(json.stderr)")
    let parsed = try Record.parseJSONL(Array(jsonl.utf8))
    let result = Attribution.attribute(
        Array(response.utf8), index: try AttributionIndex(records: parsed), minSpan: 32, maxRecords: 4)
    #expect(result.spans.count == 2)
    let proof = AttributionProof(
        result: result, response: Array(response.utf8), records: parsed, minSpan: 32, maxRecords: 4)
    #expect(json.stdout.trimmingCharacters(in: .newlines) == AttributionCLIFormat.json(proof))
    #expect(json.stdout.hasPrefix(#"{"snapshotRoot":"0x"#))
    #expect(json.stdout.contains(#""spans":[{"start":10,"#))

    let verify = try run([
        "attribute", "verify", "--records", directory + "/records.jsonl", "--proof", directory + "/proof.json",
    ])
    #expect(verify.status == 0 && verify.stdout.hasPrefix("valid:"), "\(verify.stderr)")
    // The proof of another snapshot fails.
    let other = jsonl.replacingOccurrences(of: "Ibuprofen", with: "Naproxen")
    try other.write(toFile: directory + "/other.jsonl", atomically: true, encoding: .utf8)
    let wrong = try run([
        "attribute", "verify", "--records", directory + "/other.jsonl", "--proof", directory + "/proof.json",
    ])
    #expect(wrong.status == 1 && wrong.stderr.contains("snapshot root"))

    try "not json\n".write(toFile: directory + "/bad.jsonl", atomically: true, encoding: .utf8)
    let bad = try run(["attribute", "index", "--records", directory + "/bad.jsonl", "--out", directory + "/bad"])
    #expect(bad.status == 1 && bad.stderr.contains("line 1"))
    #expect(try run(["attribute", "index", "--records", directory + "/missing.jsonl", "--out", directory]).status == 1)
    #expect(try run(["attribute", "run", "--index", directory + "/index"]).status == 64)
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/index/zz.olai"))
    let corrupt = try run([
        "attribute", "run", "--index", directory + "/index", "--response", directory + "/response.txt",
    ])
    #expect(corrupt.status == 1 && corrupt.stderr.contains("zz.olai"))
}

/// `attribute run` takes L and K from the network config; a config it cannot read or parse is an error naming
/// the file, never a silent fallback to built-in values.
@Test(.integration) func attributeRunRejectsABadConfigNamingTheFile() throws {
    let directory = DevnetProcess.temporaryDirectory("attribute-config")
    try #"{"contributor": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "text": "Aspirin inhibits cyclooxygenase."}"#
        .write(toFile: directory + "/records.jsonl", atomically: true, encoding: .utf8)
    try "Aspirin inhibits cyclooxygenase.".write(toFile: directory + "/response.txt", atomically: true, encoding: .utf8)
    let index = try run([
        "attribute", "index", "--records", directory + "/records.jsonl", "--out", directory + "/index",
    ])
    #expect(index.status == 0, "\(index.stderr)")
    let attribute = ["attribute", "run", "--index", directory + "/index", "--response", directory + "/response.txt"]
    let missing = try run(attribute + ["--config", directory + "/missing.json"])
    #expect(missing.status == 1)
    #expect(missing.stderr == "error: cannot read network config \(directory)/missing.json\n")
    try "{ not json".write(toFile: directory + "/broken.json", atomically: true, encoding: .utf8)
    let broken = try run(attribute + ["--config", directory + "/broken.json"])
    #expect(broken.status == 1 && broken.stderr.hasPrefix("error: \(directory)/broken.json: malformed network config"))
    #expect(broken.stdout.isEmpty)
    // Explicit L and K need no config, but a named config is still read.
    #expect(try run(attribute + ["--min-span", "8", "--max-records", "2"]).status == 0)
    let named = try run(attribute + ["--min-span", "8", "--max-records", "2", "--config", directory + "/broken.json"])
    #expect(named.status == 1 && named.stderr.contains("broken.json"))
    let good = try run(
        attribute + ["--config", Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path, "--json"])
    #expect(good.status == 0, "\(good.stderr)")
}
