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
    /// The identity stored in `directory`, or, when it has none, a new one of `newKeyType` written there with
    /// the atomic writer. An existing key always wins over `newKeyType`.
    public static func loadOrCreate(in directory: DataDirectory, newKeyType: IdentityKeyType = .ed25519)
        throws(NodeError) -> LibP2PIdentity
    {
        let path = directory.identityKey
        if let data = FileManager.default.contents(atPath: path) {
            do {
                return try LibP2PIdentity(privateKeyProtobuf: Array(data))
            } catch {
                throw .identityInvalid(path: path, reason: error)
            }
        }
        let identity: LibP2PIdentity =
            switch newKeyType {
            case .ed25519: .ed25519(.generate())
            case .secp256k1: .secp256k1(.generate())
            }
        try directory.create()
        do {
            try AtomicFile.write(identity.privateKeyProtobuf, to: path, mode: 0o600)
        } catch {
            throw .identityUnwritable(error)
        }
        return identity
    }
}
