import Codec
import Crypto
import FileIO
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The account key in `DataDirectory.walletKey`: a secp256k1 private key as 0x-hex text and a newline, mode 0600.
///
/// The key pays for channels and signs vouchers. Like an ssh key, a file that group or others may access is refused
/// rather than used, and an existing key is never replaced unless that is asked for.
public enum WalletKeyFile {
    /// The longest file accepted: the 66 characters of the key, a newline, and room for trailing blanks.
    static let maximumFileBytes = 256

    /// Writes a new key from the system's secure random source to `path`; refuses when a file is already there.
    ///
    /// The parent directory is created if needed. The key appears whole or not at all, and of two processes creating
    /// it at once exactly one succeeds.
    public static func create(at path: String) throws(NodeError) -> Secp256k1PrivateKey {
        let key = Secp256k1PrivateKey.generate()
        try importKey(key, at: path, overwrite: false)
        return key
    }

    /// Writes `key` to `path`; an existing file is replaced only when `overwrite` is true.
    public static func importKey(_ key: Secp256k1PrivateKey, at path: String, overwrite: Bool) throws(NodeError) {
        try createParent(of: path)
        var text = key.withUnsafeSecretBytes { Array(Hex.encode($0).utf8) } + [0x0A]
        defer { wipe(&text) }
        let written: Bool
        do {
            if overwrite {
                try AtomicFile.write(text, to: path, mode: 0o600)
                written = true
            } else {
                written = try AtomicFile.create(text, at: path, mode: 0o600)
            }
        } catch {
            throw .walletKeyUnwritable(error)
        }
        guard written else { throw .walletKeyExists(path: path) }
    }

    /// The key at `path`: refused when the file is missing, accessible by group or others, or not one key.
    public static func load(at path: String) throws(NodeError) -> Secp256k1PrivateKey {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            if code == ENOENT { throw .walletKeyMissing(path: path) }
            throw .walletKeyUnreadable(.open(path: path, errno: code))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .walletKeyUnreadable(.notRegularFile(path: path)) }
        guard status.st_mode & 0o077 == 0 else {
            throw .walletKeyExposed(path: path, mode: UInt32(status.st_mode & 0o7777))
        }
        guard status.st_size <= maximumFileBytes else {
            throw .walletKeyInvalid(path: path, reason: "longer than \(maximumFileBytes) bytes, not one key")
        }
        var bytes: [UInt8]
        do {
            let file = try MappedFile(path: path)
            bytes = file.bytes(at: 0, count: min(file.count, maximumFileBytes))
        } catch {
            throw .walletKeyUnreadable(error)
        }
        defer { wipe(&bytes) }
        return try parse(bytes, path: path)
    }

    /// The key a file's bytes hold: 0x and 64 hex digits, then optional blanks and newlines.
    static func parse(_ bytes: [UInt8], path: String) throws(NodeError) -> Secp256k1PrivateKey {
        var end = bytes.count
        while end > 0, [0x0A, 0x0D, 0x20, 0x09].contains(bytes[end - 1]) { end -= 1 }
        let text = bytes[..<end]
        guard text.count == 66, text.starts(with: [0x30, 0x78]) else {
            throw .walletKeyInvalid(path: path, reason: "expected 0x and 64 hex digits")
        }
        guard var scalar = try? Hex.decode(String(decoding: text, as: UTF8.self)) else {
            throw .walletKeyInvalid(path: path, reason: "not hex")
        }
        defer { wipe(&scalar) }
        do {
            return try Secp256k1PrivateKey(bytes: scalar)
        } catch {
            throw .walletKeyInvalid(path: path, reason: "\(error)")
        }
    }

    /// The account address of `key`.
    public static func address(of key: Secp256k1PrivateKey) -> Address {
        // An Ethereum address is always the last 20 bytes of a hash, so this cannot fail.
        try! Address(bytes: key.publicKey.ethereumAddress)
    }

    /// Overwrites a copy of secret bytes with zeros, so that it does not linger in freed memory.
    private static func wipe(_ bytes: inout [UInt8]) {
        _ = bytes.withUnsafeMutableBytes { buffer in buffer.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    /// Creates the directory `path` is in, when it is missing.
    private static func createParent(of path: String) throws(NodeError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreateDirectory(path: directory, reason: "\(error)")
        }
    }
}
