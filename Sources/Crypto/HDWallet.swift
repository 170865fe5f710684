import CSecp256k1

/// BIP-39 seeds and BIP-32 hierarchical deterministic secp256k1 keys, as wallets derive Ethereum accounts
/// (path m/44'/60'/0'/0/i).
public enum HDWallet {
    /// The BIP-39 seed of a mnemonic: PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" ‖ passphrase, 2048, 64).
    ///
    /// The words are taken as given (normalized to single spaces); ASCII mnemonics need no NFKD step.
    public static func seed(mnemonic: String, passphrase: String = "") -> [UInt8] {
        let words = mnemonic.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return pbkdf2SHA512(password: Array(words.utf8), salt: Array(("mnemonic" + passphrase).utf8), iterations: 2048)
    }

    /// PBKDF2 (RFC 8018) with HMAC-SHA512, one 64-byte block.
    static func pbkdf2SHA512(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        var block = HMACSHA512.authenticate(salt + [0, 0, 0, 1], key: password)
        var result = block
        for _ in 1..<iterations {
            block = HMACSHA512.authenticate(block, key: password)
            for index in 0..<64 { result[index] ^= block[index] }
        }
        return result
    }

    /// A BIP-32 extended private key.
    public struct ExtendedKey: Sendable {
        /// The private key at this point of the tree.
        public let key: Secp256k1PrivateKey
        /// The 32-byte chain code that child keys are derived with.
        public let chainCode: [UInt8]

        /// The master key of a seed.
        public init(seed: [UInt8]) throws(CryptoError) {
            let digest = HMACSHA512.authenticate(seed, key: Array("Bitcoin seed".utf8))
            key = try Secp256k1PrivateKey(bytes: Array(digest[0..<32]))
            chainCode = Array(digest[32..<64])
        }

        private init(key: Secp256k1PrivateKey, chainCode: [UInt8]) {
            self.key = key
            self.chainCode = chainCode
        }

        /// The child at `index` (hardened when index ≥ 2^31).
        public func child(_ index: UInt32) throws(CryptoError) -> ExtendedKey {
            var data: [UInt8]
            if index >= 0x8000_0000 {
                data = key.withUnsafeSecretBytes { [0] + Array($0) }
            } else {
                data = key.publicKey.compressed
            }
            data += [
                UInt8(index >> 24), UInt8(truncatingIfNeeded: index >> 16), UInt8(truncatingIfNeeded: index >> 8),
                UInt8(truncatingIfNeeded: index),
            ]
            let digest = HMACSHA512.authenticate(data, key: chainCode)
            var childKey = key.withUnsafeSecretBytes { Array($0) }
            defer { for index in childKey.indices { childKey[index] = 0 } }
            guard secp256k1_ec_seckey_tweak_add(Secp256k1Context.shared, &childKey, Array(digest[0..<32])) == 1 else {
                throw .invalidKey("BIP-32 child \(index) is invalid; use the next index")
            }
            return ExtendedKey(key: try Secp256k1PrivateKey(bytes: childKey), chainCode: Array(digest[32..<64]))
        }

        /// The key at a path such as `m/44'/60'/0'/0/3`.
        public func derive(path: String) throws(CryptoError) -> ExtendedKey {
            var parts = path.split(separator: "/")
            guard parts.first == "m" else { throw .invalidKey("BIP-32 path must start with m") }
            parts.removeFirst()
            var current = self
            for part in parts {
                let hardened = part.hasSuffix("'") || part.hasSuffix("h")
                guard let number = UInt32(hardened ? part.dropLast() : part), number < 0x8000_0000 else {
                    throw .invalidKey("bad BIP-32 path component '\(part)'")
                }
                current = try current.child(hardened ? number | 0x8000_0000 : number)
            }
            return current
        }
    }

    /// The Ethereum account keys m/44'/60'/0'/0/i for i in 0..<count.
    public static func ethereumKeys(mnemonic: String, count: Int) throws(CryptoError) -> [Secp256k1PrivateKey] {
        let account = try ExtendedKey(seed: seed(mnemonic: mnemonic)).derive(path: "m/44'/60'/0'/0")
        var keys: [Secp256k1PrivateKey] = []
        for index in 0..<count { keys.append(try account.child(UInt32(index)).key) }
        return keys
    }
}
