import Crypto

/// The hash function of a Noise protocol name (`…_SHA256` or `…_BLAKE2b`), with the HMAC and HKDF that Noise
/// builds from it (Noise spec §4.3).
public enum NoiseHash: Sendable {
    case sha256
    case blake2b

    /// HASHLEN.
    public var length: Int { self == .sha256 ? 32 : 64 }
    /// BLOCKLEN.
    var blockLength: Int { self == .sha256 ? 64 : 128 }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: SHA256.hash(data)
        case .blake2b: try! BLAKE2b.hash(data, outputLength: 64)
        }
    }

    /// HMAC (RFC 2104) over this hash.
    func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var key = key.count > blockLength ? hash(key) : key
        key += [UInt8](repeating: 0, count: blockLength - key.count)
        let inner = hash(key.map { $0 ^ 0x36 } + data)
        return hash(key.map { $0 ^ 0x5C } + inner)
    }

    /// HKDF(chainingKey, inputKeyMaterial, n) for n = 2 or 3 outputs of HASHLEN bytes.
    func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8], outputs: Int) -> [[UInt8]] {
        let temporary = hmac(key: chainingKey, inputKeyMaterial)
        var out = [hmac(key: temporary, [0x01])]
        for index in 2...outputs { out.append(hmac(key: temporary, out[index - 2] + [UInt8(index)])) }
        return out
    }
}

/// A Noise CipherState over ChaChaPoly: key k and nonce n (nonce = 32 zero bits ‖ n little-endian).
public struct NoiseCipherState: Sendable {
    var key: [UInt8]?
    var nonce: UInt64 = 0

    public var hasKey: Bool { key != nil }

    /// A cipher state with a 32-byte key (or none: pass-through) and a starting nonce.
    public init(key: [UInt8]? = nil, nonce: UInt64 = 0) {
        self.key = key
        self.nonce = nonce
    }

    static func nonceBytes(_ n: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
    }

    /// Encrypts with associated data; plaintext passes through before a key is set.
    public mutating func encrypt(_ plaintext: [UInt8], ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        defer { nonce += 1 }
        do {
            return try ChaCha20Poly1305.seal(plaintext, key: key, nonce: Self.nonceBytes(nonce), associatedData: ad)
        } catch {
            throw .decryptionFailed
        }
    }

    /// Decrypts with associated data; fails on any tampering.
    public mutating func decrypt(_ ciphertext: [UInt8], ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        do {
            let plaintext = try ChaCha20Poly1305.open(
                ciphertext, key: key, nonce: Self.nonceBytes(nonce), associatedData: ad)
            nonce += 1
            return plaintext
        } catch {
            throw .decryptionFailed
        }
    }
}

/// What went wrong in a Noise session.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    case decryptionFailed
    case nonceExhausted
    case malformedMessage(String)
    case invalidKey(String)
    case outOfOrder(String)

    public var description: String {
        switch self {
        case .decryptionFailed: "noise: decryption failed (tampered or wrong key)"
        case .nonceExhausted: "noise: nonce exhausted"
        case .malformedMessage(let why): "noise: malformed message: \(why)"
        case .invalidKey(let why): "noise: invalid key: \(why)"
        case .outOfOrder(let why): "noise: message out of order: \(why)"
        }
    }
}
