import Codec
import Crypto
import Foundation

/// `openledger bench crypto`: throughput of Keccak-256, secp256k1 signing and recovery, and RLP, each printed
/// as one JSON line, with the ratio to a reference implementation when reference figures are supplied
/// (`tools/bench/crypto_reference.py` measures pycryptodome and coincurve, `tools/bench/secp256k1_baseline.c` the
/// system libsecp256k1 from C; `make bench` runs them all).
enum BenchCrypto {
    static let command = CommandSpec(
        name: "crypto",
        summary: "Keccak-256, secp256k1 and RLP throughput (JSON lines).",
        discussion: """
            Each line is one figure. With --reference FILE (JSON lines from tools/bench/crypto_reference.py,
            measured in the same run by `make bench`), lines also carry the reference figure and the ratio.
            """,
        options: [
            OptionSpec(name: "seconds", valueName: "S", help: "Minimum time per figure.", defaultValue: "1"),
            OptionSpec(name: "reference", valueName: "FILE", help: "Reference figures (JSON lines) to compare with."),
        ],
        action: { arguments, output throws(CLIError) in
            let seconds = try arguments.double("seconds", in: 0.01...600) ?? 1
            var references: [String: [BenchFigure]] = [:]
            if let path = arguments.string("reference") {
                references = try BenchFigure.load(path)
            }
            for figure in run(seconds: seconds) {
                output.line(figure.jsonLine(references: references[figure.bench] ?? []))
            }
        }
    )

    static func run(seconds: Double) -> [BenchFigure] {
        [keccak(seconds: seconds)] + secp256k1(seconds: seconds) + rlp(seconds: seconds)
    }

    private static func secp256k1(seconds: Double) -> [BenchFigure] {
        let key = Secp256k1PrivateKey.generate()
        let digests = (0..<1024).map { Keccak256.hash([UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)]) }
        var index = 0
        var signatures: [RecoverableSignature] = []
        let (signCount, signElapsed) = BenchTimer.repeatFor(seconds: seconds) {
            let signature = try! key.signRecoverable(digest: digests[index & 1023])
            if signatures.count < 1024 { signatures.append(signature) }
            index += 1
        }
        index = 0
        var sink = 0
        let (recoverCount, recoverElapsed) = BenchTimer.repeatFor(seconds: seconds) {
            let slot = index % signatures.count
            sink &+= Int(try! signatures[slot].recoverPublicKey(digest: digests[slot]).uncompressed[1])
            index += 1
        }
        blackHole(sink)
        return [
            BenchFigure(bench: "secp256k1_sign", unit: .operationsPerSecond, value: Double(signCount) / signElapsed),
            BenchFigure(
                bench: "secp256k1_recover", unit: .operationsPerSecond, value: Double(recoverCount) / recoverElapsed),
        ]
    }

    /// A block-like payload: 1,000 legacy-transaction-shaped lists.
    private static func rlp(seconds: Double) -> [BenchFigure] {
        var random = SystemRandomNumberGenerator()
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        let transactions: [RLPItem] = (0..<1000).map { nonce in
            .list([
                .bytes(UInt256(UInt64(nonce)).minimalBigEndianBytes), .bytes(bytes(5)), .bytes([0x52, 0x08]),
                .bytes(bytes(20)), .bytes(bytes(9)), .bytes(bytes(Int.random(in: 0...200, using: &random))),
                .bytes([0x1C]), .bytes(bytes(32)), .bytes(bytes(32)),
            ])
        }
        let payload = RLPItem.list(transactions)
        let encoded = RLP.encode(payload)
        var sink = 0
        let (encodeCount, encodeElapsed) = BenchTimer.repeatFor(seconds: seconds) { sink &+= RLP.encode(payload).count }
        let (decodeCount, decodeElapsed) = BenchTimer.repeatFor(seconds: seconds) {
            if case .list(let items) = try! RLP.decode(encoded) { sink &+= items.count }
        }
        blackHole(sink)
        let size = Double(encoded.count)
        return [
            BenchFigure(
                bench: "rlp_encode", unit: .megabytesPerSecond, value: Double(encodeCount) * size / 1e6 / encodeElapsed,
                details: ["payload_bytes": "\(encoded.count)"]),
            BenchFigure(
                bench: "rlp_decode", unit: .megabytesPerSecond, value: Double(decodeCount) * size / 1e6 / decodeElapsed,
                details: ["payload_bytes": "\(encoded.count)"]),
        ]
    }

    private static func keccak(seconds: Double) -> BenchFigure {
        let size = 1 << 20
        var random = SystemRandomNumberGenerator()
        let input = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
        var sink: UInt8 = 0
        let (count, elapsed) = BenchTimer.repeatFor(seconds: seconds) {
            sink ^= Keccak256.hash(input)[0]
        }
        blackHole(sink)
        return BenchFigure(
            bench: "keccak256", unit: .megabytesPerSecond,
            value: Double(count * size) / 1e6 / elapsed,
            details: ["input_bytes": "\(size)", "iterations": "\(count)"])
    }
}
