import CSodium

/// HMAC-SHA256 (RFC 2104) through libsodium; keys of any length.
public struct HMACSHA256: Sendable {
    private var state = crypto_auth_hmacsha256_state()

    /// A MAC keyed with `key`.
    public init(key: [UInt8]) {
        Sodium.ensureInitialized()
        crypto_auth_hmacsha256_init(&state, key, key.count)
    }

    /// Absorbs more of the message.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Sodium.withContiguousBytes(bytes) { pointer, count in
            _ = crypto_auth_hmacsha256_update(&state, pointer, UInt64(count))
        }
    }

    /// The 32-byte tag.
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    /// The tag of `message` under `key`.
    public static func authenticate(_ message: some Sequence<UInt8>, key: [UInt8]) -> [UInt8] {
        var mac = HMACSHA256(key: key)
        mac.update(message)
        return mac.finalize()
    }

    /// Whether `tag` is the tag of `message` under `key`, compared in constant time.
    public static func isValid(tag: [UInt8], for message: some Sequence<UInt8>, key: [UInt8]) -> Bool {
        let expected = authenticate(message, key: key)
        return tag.count == 32 && sodium_memcmp(tag, expected, 32) == 0
    }
}

/// HKDF with HMAC-SHA256 (RFC 5869).
public enum HKDF {
    /// HKDF-Extract: a pseudorandom key from input keying material and a salt (zeros when empty).
    public static func extract(salt: [UInt8], inputKeyMaterial: [UInt8]) -> [UInt8] {
        HMACSHA256.authenticate(inputKeyMaterial, key: salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt)
    }

    /// HKDF-Expand: `length` bytes (at most 255 · 32) from a pseudorandom key and context `info`.
    public static func expand(pseudoRandomKey: [UInt8], info: [UInt8], length: Int) throws(CryptoError) -> [UInt8] {
        guard (0...255 * 32).contains(length) else {
            throw .invalidLength("HKDF output of \(length) bytes, at most \(255 * 32)")
        }
        var output: [UInt8] = []
        output.reserveCapacity(length)
        var block: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            var mac = HMACSHA256(key: pseudoRandomKey)
            mac.update(block)
            mac.update(info)
            mac.update([counter])
            block = mac.finalize()
            output += block.prefix(length - output.count)
            counter &+= 1
        }
        return output
    }

    /// Extract then expand.
    public static func deriveKey(
        inputKeyMaterial: [UInt8], salt: [UInt8], info: [UInt8], length: Int
    ) throws(CryptoError) -> [UInt8] {
        try expand(pseudoRandomKey: extract(salt: salt, inputKeyMaterial: inputKeyMaterial), info: info, length: length)
    }
}

/// HMAC-SHA512 (RFC 2104) through libsodium, for BIP-32 and PBKDF2.
public enum HMACSHA512 {
    /// The 64-byte tag of `message` under `key`.
    public static func authenticate(_ message: some Sequence<UInt8>, key: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var state = crypto_auth_hmacsha512_state()
        crypto_auth_hmacsha512_init(&state, key, key.count)
        Sodium.withContiguousBytes(message) { pointer, count in
            _ = crypto_auth_hmacsha512_update(&state, pointer, UInt64(count))
        }
        var out = [UInt8](repeating: 0, count: 64)
        crypto_auth_hmacsha512_final(&state, &out)
        return out
    }
}
