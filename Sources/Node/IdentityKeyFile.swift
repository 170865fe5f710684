import FileIO
import Foundation
import P2P

/// The kind of key a new libp2p identity gets.
public enum IdentityKeyType: String, Sendable, CaseIterable {
    /// Ed25519 (peer ids `12D3KooW…`), the default.
    case ed25519
    /// secp256k1 (peer ids `16Uiu2…`).
    case secp256k1
}

/// The node's libp2p identity in `DataDirectory.identityKey`: the libp2p private-key protobuf, mode 0600.
public enum IdentityKeyFile {
    /// The identity stored in `directory`, or, when it has none, a new one of `newKeyType` written there.
    ///
    /// An existing key always wins over `newKeyType`. Only a missing file means "create": a key that is there but
    /// cannot be read is `NodeError.identityUnreadable`, never replaced. The new key appears whole or not at all and
    /// never replaces a key another process created meanwhile; that process's key is read and returned instead.
    public static func loadOrCreate(in directory: DataDirectory, newKeyType: IdentityKeyType = .ed25519)
        throws(NodeError) -> LibP2PIdentity
    {
        let path = directory.identityKey
        if let bytes = try read(path) { return try identity(bytes, path) }
        let identity: LibP2PIdentity =
            switch newKeyType {
            case .ed25519: .ed25519(.generate())
            case .secp256k1: .secp256k1(.generate())
            }
        try directory.create()
        let created: Bool
        do {
            created = try AtomicFile.create(identity.privateKeyProtobuf, at: path, mode: 0o600)
        } catch {
            throw .identityUnwritable(error)
        }
        if created { return identity }
        // Another process created the key between the read and the link: its key is the node's.
        guard let theirs = try read(path) else { throw .identityUnreadable(.open(path: path, errno: ENOENT)) }
        return try self.identity(theirs, path)
    }

    /// The bytes of the key file at `path`, or nil when there is no such file.
    static func read(_ path: String) throws(NodeError) -> [UInt8]? {
        do {
            let file = try MappedFile(path: path)
            return file.bytes(at: 0, count: file.count)
        } catch .open(_, let code) where code == ENOENT {
            return nil
        } catch {
            throw .identityUnreadable(error)
        }
    }

    /// The identity a key file's bytes hold.
    static func identity(_ bytes: [UInt8], _ path: String) throws(NodeError) -> LibP2PIdentity {
        do {
            return try LibP2PIdentity(privateKeyProtobuf: bytes)
        } catch {
            throw .identityInvalid(path: path, reason: error)
        }
    }
}
