import Crypto
import Foundation
import P2P

/// `openledger p2p …`: the node's libp2p identity.
enum P2PCommand {
    static let command = CommandSpec(
        name: "p2p",
        summary: "libp2p identity of this node.",
        subcommands: [
            CommandSpec(
                name: "id", summary: "Print the peer id (creating the identity key in the data directory if needed).",
                options: [
                    OptionSpec(
                        name: "data-dir", valueName: "DIR",
                        help: "Node data directory (default: ~/.local/share/openledger/node)."),
                    OptionSpec(
                        name: "key-type", valueName: "TYPE", help: "Key type for a new identity: ed25519 or secp256k1.",
                        defaultValue: "ed25519"),
                ],
                action: { arguments, output throws(CLIError) in
                    let directory = arguments.string("data-dir") ?? defaultDataDirectory()
                    let keyType = arguments.string("key-type") ?? "ed25519"
                    guard keyType == "ed25519" || keyType == "secp256k1" else {
                        throw .usage(
                            "option --key-type expects ed25519 or secp256k1, got '\(keyType)'",
                            command: arguments.command)
                    }
                    let identity = try loadOrCreateIdentity(directory: directory, keyType: keyType)
                    output.line(identity.peerID.description)
                })
        ])

    static func defaultDataDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        return (environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? ".") + "/.local/share")) + "/openledger/node"
    }

    /// DIR/identity.key (libp2p private-key protobuf, mode 0600), created with a fresh key when absent.
    static func loadOrCreateIdentity(directory: String, keyType: String) throws(CLIError) -> LibP2PIdentity {
        let path = directory + "/identity.key"
        if let data = FileManager.default.contents(atPath: path) {
            do {
                return try LibP2PIdentity(privateKeyProtobuf: Array(data))
            } catch {
                throw .failure("\(path): \(error)")
            }
        }
        let identity: LibP2PIdentity = keyType == "secp256k1" ? .secp256k1(.generate()) : .ed25519(.generate())
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .failure("cannot create \(directory): \(error)")
        }
        let temporary = path + ".tmp-\(getpid())"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(identity.privateKeyProtobuf), attributes: [.posixPermissions: 0o600])
        else { throw .failure("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else { throw .failure("cannot create \(path)") }
        return identity
    }
}
