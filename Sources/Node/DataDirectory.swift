import Codec
import Foundation

/// The one data directory of a node, and the only place that knows where each of its files lives.
///
/// Layout under `root` (default `$XDG_DATA_HOME/openledger/node`, else `~/.local/share/openledger/node`):
///
///     root/
///       identity.key           libp2p private key (protobuf), mode 0600, created on first use
///       chain.sqlite           the devnet sequencer's chain store (blocks, receipts, state, pending transactions)
///       light-headers.sqlite   the light client's verified headers (the last 1,024)
///       content/               reserved: the content store (blocks exchanged with peers)
///       adapters/              reserved: the adapter cache (LoRA weights fetched by CID)
///       wallet.key             the account key (secp256k1, hex), mode 0600: pays vouchers, signs receipts
///       payer.sqlite           the payer's channels and the vouchers it signed
///       serving.sqlite         the serving peer's channel ledger, vouchers and signed receipts
///       attester.sqlite        the attester's progress and decisions
///
/// Every file of one node sits under one root, so `--data-dir DIR` moves all of them at once. Attribution
/// indexes are not kept here: `attribute index --out DIR` names their directory. docs/node.md says the same.
public struct DataDirectory: Sendable, Equatable {
    /// The directory every path below is inside.
    public let root: String

    /// A data directory rooted at `root` (a trailing slash is dropped).
    public init(root: String) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// The directory a node uses when none is given: `$XDG_DATA_HOME/openledger/node`, else
    /// `$HOME/.local/share/openledger/node`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        dataHome(environment) + "/openledger/node"
    }

    /// Where the devnet kept its chain by default before the default moved to `defaultRoot`:
    /// `$XDG_DATA_HOME/openledger/devnet`, else `$HOME/.local/share/openledger/devnet`.
    public static func formerDevnetRoot(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        dataHome(environment) + "/openledger/devnet"
    }

    /// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
    private static func dataHome(_ environment: [String: String]) -> String {
        environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? ".") + "/.local/share")
    }

    /// Whether `former` holds a devnet chain store and this directory none, so that a devnet started here would
    /// begin a fresh chain while the old one is left in `former`.
    public func leavesBehindChain(in former: DataDirectory) -> Bool {
        former.root != root && FileManager.default.fileExists(atPath: former.chainStore)
            && !FileManager.default.fileExists(atPath: chainStore)
    }

    /// The data directory at `root`, or the default one when `root` is nil.
    public static func at(_ root: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> DataDirectory
    {
        DataDirectory(root: root ?? defaultRoot(environment: environment))
    }

    /// The libp2p identity key: root/identity.key.
    public var identityKey: String { root + "/identity.key" }
    /// The directory the devnet's chain store is opened in (`DevnetNode` keeps `chain.sqlite` there): the root.
    public var chainDirectory: String { root }
    /// The devnet's chain store: root/chain.sqlite.
    public var chainStore: String { chainDirectory + "/chain.sqlite" }
    /// The light client's header store: root/light-headers.sqlite.
    public var lightHeaderStore: String { root + "/light-headers.sqlite" }
    /// Reserved for the content store: root/content.
    public var contentStore: String { root + "/content" }
    /// Reserved for the adapter cache: root/adapters.
    public var adapterCache: String { root + "/adapters" }
    /// The account key (secp256k1 private key as hex), mode 0600: root/wallet.key.
    public var walletKey: String { root + "/wallet.key" }
    /// The payer's channels and the vouchers it signed: root/payer.sqlite.
    public var payerStore: String { root + "/payer.sqlite" }
    /// The serving peer's channel ledger, accepted vouchers and signed receipts: root/serving.sqlite.
    public var servingStore: String { root + "/serving.sqlite" }
    /// The attester's last judged block and its decisions: root/attester.sqlite.
    public var attesterStore: String { root + "/attester.sqlite" }
    /// The attribution indexes of Datanet snapshots, one directory per snapshot root: root/attribution.
    public var attributionIndexes: String { root + "/attribution" }
    /// The attribution index of the snapshot with `root`: root/attribution/<root as hex>.
    public func attributionIndex(root snapshotRoot: [UInt8]) -> String {
        attributionIndexes + "/" + Hex.encode(snapshotRoot)
    }

    /// Creates the root (and its parents) if it does not exist.
    public func create() throws(NodeError) {
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreateDirectory(path: root, reason: "\(error)")
        }
    }
}
