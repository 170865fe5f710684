import Codec
import Crypto
import Foundation

/// `openledger bench crypto`: throughput of the node's cryptography, one JSON line per figure.
///
/// Keccak-256, secp256k1 signing and recovery, RLP, ChaCha20-Poly1305 and the RSA and ECDSA peer keys, each with
/// the ratio to a reference implementation when reference figures are supplied (`tools/bench/crypto_reference.py` measures pycryptodome and coincurve,
/// `tools/bench/secp256k1_baseline.c` the system libsecp256k1 from C; `make bench` runs them all).
/// ChaCha20-Poly1305 (libcrypto, what Noise seals with) always carries its ratio to libsodium's, measured in the same
/// run.
enum BenchCrypto {
    static let command = CommandSpec(
        name: "crypto",
        summary: "Keccak-256, secp256k1, RLP, ChaCha20-Poly1305, RSA and ECDSA throughput (JSON lines).",
        discussion: """
            Each line is one figure. With --reference FILE (JSON lines from tools/bench/crypto_reference.py,
            measured in the same run by `make bench`), lines also carry the reference figure and the ratio.
            ChaCha20-Poly1305 lines carry the ratio to libsodium's, measured in the same run.
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
            for (figure, sameRun) in chaCha20Poly1305(seconds: seconds) {
                output.line(sameRun.jsonLine(references: []))
                output.line(figure.jsonLine(references: [sameRun] + (references[figure.bench] ?? [])))
            }
            for figure in peerKeys(seconds: seconds) {
                output.line(figure.jsonLine(references: references[figure.bench] ?? []))
            }
        }
    )

    static func run(seconds: Double) -> [BenchFigure] {
        [keccak(seconds: seconds)] + secp256k1(seconds: seconds) + rlp(seconds: seconds)
    }

    /// Sealing and opening 64 KiB messages (Noise's frame size) on one core: libcrypto's EVP implementation, which
    /// the package uses, each paired with libsodium's figure from the same run.
    private static func chaCha20Poly1305(seconds: Double) -> [(BenchFigure, BenchFigure)] {
        let size = 65_519  // the largest Noise frame plaintext: 65,535 bytes with the tag
        let key = [UInt8](repeating: 0x42, count: 32)
        let nonce = [UInt8](repeating: 0, count: 12)
        let plaintext = [UInt8](repeating: 0x5A, count: size)
        var sealed = [UInt8](repeating: 0, count: size + ChaCha20Poly1305.tagLength)
        var opened = [UInt8](repeating: 0, count: size)
        typealias Seal = (
            UnsafeRawBufferPointer, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafeMutableRawBufferPointer
        )
            -> Void
        typealias Open = (
            UnsafeRawBufferPointer, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafeMutableRawBufferPointer
        )
            -> Bool
        func measure(_ seal: Seal, _ open: Open) -> (seal: Double, open: Double) {
            let (sealCount, sealElapsed) = BenchTimer.repeatFor(seconds: seconds) {
                plaintext.withUnsafeBytes { input in sealed.withUnsafeMutableBytes { seal(input, key, nonce, $0) } }
            }
            var valid = true
            let (openCount, openElapsed) = BenchTimer.repeatFor(seconds: seconds) {
                valid =
                    valid
                    && sealed.withUnsafeBytes { input in opened.withUnsafeMutableBytes { open(input, key, nonce, $0) } }
            }
            precondition(valid && opened == plaintext, "ChaCha20-Poly1305 round trip failed in the benchmark")
            return (Double(sealCount * size) / 1e6 / sealElapsed, Double(openCount * size) / 1e6 / openElapsed)
        }
        let sodium = measure(
            { ChaCha20Poly1305.Libsodium.seal($0, key: $1, nonce: $2, into: $3) },
            { ChaCha20Poly1305.Libsodium.open($0, key: $1, nonce: $2, into: $3) })
        let ours = measure(
            { ChaCha20Poly1305.seal($0, key: $1, nonce: $2, into: $3) },
            { ChaCha20Poly1305.open($0, key: $1, nonce: $2, into: $3) })
        let details = ["where": "one core, \(size)-byte messages", "backend": "libcrypto"]
        return [
            (
                BenchFigure(
                    bench: "chacha20poly1305_seal", unit: .megabytesPerSecond, value: ours.seal, details: details),
                BenchFigure(
                    bench: "chacha20poly1305_seal", unit: .megabytesPerSecond, value: sodium.seal,
                    implementation: "libsodium")
            ),
            (
                BenchFigure(
                    bench: "chacha20poly1305_open", unit: .megabytesPerSecond, value: ours.open, details: details),
                BenchFigure(
                    bench: "chacha20poly1305_open", unit: .megabytesPerSecond, value: sodium.open,
                    implementation: "libsodium")
            ),
        ]
    }

    /// Signing and verifying with the RSA-2048 and ECDSA P-256 keys libp2p peers (kubo among them) identify with.
    private static func peerKeys(seconds: Double) -> [BenchFigure] {
        let rsa = try! RSAPrivateKey.generate(bits: 2048)
        let ecdsa = try! ECDSAPrivateKey.generate(curve: .p256)
        let message = [UInt8](repeating: 0x17, count: 256)
        var sink = 0
        func rate(_ body: () -> Void) -> Double {
            let (count, elapsed) = BenchTimer.repeatFor(seconds: seconds, body)
            return Double(count) / elapsed
        }
        let rsaSignature = try! rsa.signature(for: message)
        let ecdsaSignature = try! ecdsa.signature(for: message)
        let rsaPublic = rsa.publicKey
        let ecdsaPublic = ecdsa.publicKey
        let figures = [
            BenchFigure(
                bench: "rsa2048_sign", unit: .operationsPerSecond,
                value: rate { sink &+= Int((try! rsa.signature(for: message))[0]) }),
            BenchFigure(
                bench: "rsa2048_verify", unit: .operationsPerSecond,
                value: rate { sink &+= rsaPublic.isValidSignature(rsaSignature, for: message) ? 1 : 0 }),
            BenchFigure(
                bench: "ecdsa_p256_sign", unit: .operationsPerSecond,
                value: rate { sink &+= Int((try! ecdsa.signature(for: message))[0]) }),
            BenchFigure(
                bench: "ecdsa_p256_verify", unit: .operationsPerSecond,
                value: rate { sink &+= ecdsaPublic.isValidSignature(ecdsaSignature, for: message) ? 1 : 0 }),
        ]
        blackHole(sink)
        return figures
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
