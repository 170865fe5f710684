import Codec
import Crypto
import Foundation
import TestSupport
import Testing

/// The fixture of tools/interop/gen_rsa_ecdsa.py (pyca/cryptography): keys, peer ids, signatures, refused keys.
private func fixture() throws -> [String: Any]? {
    guard let data = Fixtures.interop("rsa_ecdsa.json") else { return nil }
    return (try Fixtures.json(data) as? [String: Any])?["cases"] as? [String: Any]
}

private func hex(_ object: [String: Any], _ key: String) throws -> [UInt8] {
    try Hex.decode(object[key] as? String ?? "missing")
}

/// A deliberately altered copy: one bit of byte `index` flipped.
private func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
    var out = bytes
    out[index % out.count] ^= 0x01
    return out
}

/// RSA keys built from seeded primes: ours re-encode them byte for byte, verify every signature of theirs, and,
/// PKCS#1 v1.5 being deterministic, sign every message to the same bytes.
@Test func rsaAgreesWithPycaCryptography() throws {
    guard let cases = try fixture() else { return }
    let keys = try #require(cases["keys"] as? [[String: Any]]).filter { $0["algorithm"] as? String == "rsa" }
    #expect(keys.count == 4)
    var checked = 0
    for entry in keys {
        let privateDER = try hex(entry, "privateKey")
        let key = try RSAPrivateKey(derRepresentation: privateDER)
        #expect(key.derRepresentation == privateDER)
        #expect(key.publicKey.derRepresentation == (try hex(entry, "publicKey")))
        #expect(key.publicKey.bits == entry["bits"] as? Int)
        let publicKey = try RSAPublicKey(derRepresentation: try hex(entry, "publicKey"))
        #expect(publicKey == key.publicKey)
        for signed in try #require(entry["signatures"] as? [[String: Any]]) {
            let message = try hex(signed, "message")
            let signature = try hex(signed, "signature")
            #expect(publicKey.isValidSignature(signature, for: message))
            #expect(try key.signature(for: message) == signature)
            #expect(!publicKey.isValidSignature(flipped(signature, at: checked), for: message))
            #expect(!publicKey.isValidSignature(signature, for: message + [0]))
            #expect(!publicKey.isValidSignature(Array(signature.dropLast()), for: message))
            checked += 1
        }
    }
    #expect(checked >= 400)
}

/// ECDSA keys on P-256, P-384 and P-521: ours re-encode them, verify every RFC 6979 signature of theirs, and sign
/// (with random nonces) signatures that verify.
@Test func ecdsaAgreesWithPycaCryptography() throws {
    guard let cases = try fixture() else { return }
    let keys = try #require(cases["keys"] as? [[String: Any]]).filter { $0["algorithm"] as? String == "ecdsa" }
    #expect(Set(keys.compactMap { $0["curve"] as? String }) == ["P-256", "P-384", "P-521"])
    var checked = 0
    for entry in keys {
        let privateDER = try hex(entry, "privateKey")
        let key = try ECDSAPrivateKey(derRepresentation: privateDER)
        #expect(key.derRepresentation == privateDER)
        #expect(key.publicKey.derRepresentation == (try hex(entry, "publicKey")))
        #expect(key.publicKey.curve.rawValue == entry["curve"] as? String)
        let publicKey = try ECDSAPublicKey(derRepresentation: try hex(entry, "publicKey"))
        for signed in try #require(entry["signatures"] as? [[String: Any]]) {
            let message = try hex(signed, "message")
            let signature = try hex(signed, "signature")
            #expect(publicKey.isValidSignature(signature, for: message))
            #expect(!publicKey.isValidSignature(flipped(signature, at: checked), for: message))
            #expect(!publicKey.isValidSignature(signature, for: message + [0]))
            // DER only: trailing bytes are refused.
            #expect(!publicKey.isValidSignature(signature + [0], for: message))
            let ours = try key.signature(for: message)
            #expect(publicKey.isValidSignature(ours, for: message))
            checked += 1
        }
    }
    #expect(checked >= 400)
}

/// Keys outside the bounds (RSA below 2048 or above 8192 bits, curves other than the NIST three, the wrong
/// algorithm) are refused with the error that says why; the bounds themselves are accepted.
@Test func refusedKeysSayWhy() throws {
    guard let cases = try fixture() else { return }
    let refused = try #require(cases["refused"] as? [[String: Any]])
    #expect(refused.count == 10)
    for entry in refused {
        let der = try hex(entry, "publicKey")
        let refusal: CryptoError?
        do throws(CryptoError) {
            if entry["algorithm"] as? String == "rsa" {
                _ = try RSAPublicKey(derRepresentation: der)
            } else {
                _ = try ECDSAPublicKey(derRepresentation: der)
            }
            refusal = nil
        } catch {
            refusal = error
        }
        switch (entry["error"] as? String, refusal) {
        case ("rsaKeySize", .rsaKeySize(let bits, let allowed)?):
            #expect(!allowed.contains(bits) && allowed == 2048...8192)
        case ("unsupportedCurve", .unsupportedCurve?), ("invalidKey", .invalidKey?): break
        default: Issue.record("expected \(entry["error"] ?? "?"), got \(String(describing: refusal))")
        }
    }
    for entry in try #require(cases["bounds"] as? [[String: Any]]) {
        #expect(try RSAPublicKey(derRepresentation: try hex(entry, "publicKey")).bits == entry["bits"] as? Int)
    }
}

/// Garbage, truncations, trailing bytes, oversized and fuzzed DER: always a typed error or a valid key, never a
/// crash; a key that does parse from mutated bytes never verifies the original signature under a different DER.
@Test func hostileDERIsATypedError() throws {
    let rsaKey = try RSAPrivateKey.generate()
    let ecKey = try ECDSAPrivateKey.generate()
    let message = Array("hostile".utf8)
    let rsaSignature = try rsaKey.signature(for: message)
    let ecSignature = try ecKey.signature(for: message)
    let rsaDER = rsaKey.publicKey.derRepresentation
    let ecDER = ecKey.publicKey.derRepresentation
    #expect(throws: CryptoError.self) { try RSAPublicKey(derRepresentation: []) }
    #expect(throws: CryptoError.self) { try ECDSAPublicKey(derRepresentation: []) }
    #expect(throws: CryptoError.self) { try RSAPublicKey(derRepresentation: rsaDER + [0]) }
    #expect(throws: CryptoError.self) { try ECDSAPublicKey(derRepresentation: ecDER + [0, 0]) }
    #expect(throws: CryptoError.self) { try RSAPublicKey(derRepresentation: [UInt8](repeating: 0x30, count: 5_000)) }
    #expect(throws: CryptoError.self) { try ECDSAPublicKey(derRepresentation: [UInt8](repeating: 0x30, count: 600)) }
    for length in 0..<rsaDER.count {
        #expect(throws: CryptoError.self) { try RSAPublicKey(derRepresentation: Array(rsaDER.prefix(length))) }
    }
    for length in 0..<ecDER.count {
        #expect(throws: CryptoError.self) { try ECDSAPublicKey(derRepresentation: Array(ecDER.prefix(length))) }
    }
    var random = SeededRandom(seed: 16)
    var parsed = 0
    for round in 0..<2_000 {
        let garbage = random.bytes(Int(random.next() % 700))
        #expect(throws: CryptoError.self) { try RSAPublicKey(derRepresentation: garbage) }
        #expect(throws: CryptoError.self) { try ECDSAPublicKey(derRepresentation: garbage) }
        let mutatedRSA = random.mutate(rsaDER)
        if let key = try? RSAPublicKey(derRepresentation: mutatedRSA), mutatedRSA != rsaDER {
            parsed += 1
            #expect(key.bits >= 2048)
            _ = key.isValidSignature(rsaSignature, for: message)
        }
        let mutatedEC = random.mutate(ecDER)
        if let key = try? ECDSAPublicKey(derRepresentation: mutatedEC), mutatedEC != ecDER {
            parsed += 1
            #expect(!key.isValidSignature(ecSignature, for: message), "round \(round)")
        }
        #expect(throws: CryptoError.self) { try RSAPrivateKey(derRepresentation: random.mutate(garbage)) }
        #expect(throws: CryptoError.self) { try ECDSAPrivateKey(derRepresentation: random.mutate(garbage)) }
    }
    // Private keys: the wrong kind, truncated, with trailing bytes.
    #expect(throws: CryptoError.self) { try RSAPrivateKey(derRepresentation: ecKey.derRepresentation) }
    #expect(throws: CryptoError.self) { try ECDSAPrivateKey(derRepresentation: rsaKey.derRepresentation) }
    #expect(throws: CryptoError.self) {
        try RSAPrivateKey(derRepresentation: Array(rsaKey.derRepresentation.dropLast()))
    }
    #expect(throws: CryptoError.self) { try ECDSAPrivateKey(derRepresentation: ecKey.derRepresentation + [0]) }
    print("hostile DER: \(parsed) mutated keys still parsed (all checked)")
}

/// Signatures of the wrong size or shape never verify, and never crash.
@Test func hostileSignaturesDoNotVerify() throws {
    let rsaKey = try RSAPrivateKey.generate()
    let ecKey = try ECDSAPrivateKey.generate(curve: .p384)
    let message = [UInt8](repeating: 7, count: 100)
    let rsaSignature = try rsaKey.signature(for: message)
    let ecSignature = try ecKey.signature(for: message)
    #expect(rsaSignature.count == 256)
    #expect(rsaKey.publicKey.isValidSignature(rsaSignature, for: message))
    #expect(ecKey.publicKey.isValidSignature(ecSignature, for: message))
    for bad in [[], [0], rsaSignature + [0], [UInt8](repeating: 0xFF, count: 256), [UInt8](repeating: 0, count: 256)] {
        #expect(!rsaKey.publicKey.isValidSignature(bad, for: message))
    }
    for bad in [[], [0x30, 0x00], ecSignature + ecSignature, [UInt8](repeating: 0x30, count: 2_000)] {
        #expect(!ecKey.publicKey.isValidSignature(bad, for: message))
    }
    // An RSA signature checked by an ECDSA key and the reverse.
    #expect(!ecKey.publicKey.isValidSignature(rsaSignature, for: message))
    #expect(!rsaKey.publicKey.isValidSignature(ecSignature, for: message))
    var random = SeededRandom(seed: 17)
    for _ in 0..<500 {
        // A mutation can leave the bytes as they were (a byte set to its own value): only changed bytes must fail.
        let rsaMutated = random.mutate(rsaSignature)
        #expect(rsaMutated == rsaSignature || !rsaKey.publicKey.isValidSignature(rsaMutated, for: message))
        let ecMutated = random.mutate(ecSignature)
        #expect(ecMutated == ecSignature || !ecKey.publicKey.isValidSignature(ecMutated, for: message))
    }
}

/// Generated keys round-trip through their DER, sign, verify, and refuse sizes outside the bounds.
@Test(arguments: ECDSAPublicKey.Curve.allCases) func generatedECDSAKeysRoundTrip(curve: ECDSAPublicKey.Curve) throws {
    let key = try ECDSAPrivateKey.generate(curve: curve)
    #expect(key.publicKey.curve == curve)
    let reloaded = try ECDSAPrivateKey(derRepresentation: key.derRepresentation)
    #expect(reloaded.publicKey == key.publicKey)
    let signature = try reloaded.signature(for: [1, 2, 3])
    #expect(key.publicKey.isValidSignature(signature, for: [1, 2, 3]))
    #expect(try ECDSAPublicKey(derRepresentation: key.publicKey.derRepresentation) == key.publicKey)
}

/// A generated RSA key round-trips, and key sizes outside 2048–8192 bits are refused before any work.
@Test func generatedRSAKeysRoundTrip() throws {
    let key = try RSAPrivateKey.generate(bits: 3072)
    #expect(key.publicKey.bits == 3072)
    let reloaded = try RSAPrivateKey(derRepresentation: key.derRepresentation)
    #expect(reloaded.publicKey == key.publicKey)
    #expect(try reloaded.signature(for: [9]) == (try key.signature(for: [9])))
    #expect(throws: CryptoError.rsaKeySize(bits: 1024, allowed: 2048...8192)) { try RSAPrivateKey.generate(bits: 1024) }
    #expect(throws: CryptoError.rsaKeySize(bits: 16384, allowed: 2048...8192)) {
        try RSAPrivateKey.generate(bits: 16384)
    }
}

/// One key object verifies and signs from many threads at once.
@Test func keysAreSharedAcrossThreads() throws {
    let rsaKey = try RSAPrivateKey.generate()
    let ecKey = try ECDSAPrivateKey.generate()
    let messages = (0..<64).map { [UInt8(truncatingIfNeeded: $0), 1, 2] }
    let rsaSignatures = try messages.map { try rsaKey.signature(for: $0) }
    let results = ResultSlots(count: messages.count)
    DispatchQueue.concurrentPerform(iterations: messages.count) { index in
        let message = messages[index]
        let ecSignature = try? ecKey.signature(for: message)
        let ok =
            rsaKey.publicKey.isValidSignature(rsaSignatures[index], for: message)
            && (try? rsaKey.signature(for: message)) == rsaSignatures[index]
            && ecSignature.map { ecKey.publicKey.isValidSignature($0, for: message) } == true
            && !rsaKey.publicKey.isValidSignature(rsaSignatures[(index + 1) % messages.count], for: message)
        results.set(index, ok)
    }
    #expect(results.all)
}

/// Per-index results written from concurrent iterations.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Bool]
    init(count: Int) { values = Array(repeating: false, count: count) }
    func set(_ index: Int, _ value: Bool) { lock.withLock { values[index] = value } }
    var all: Bool { lock.withLock { values.allSatisfy { $0 } } }
}
