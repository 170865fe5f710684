import Codec
import Crypto
import Foundation

/// A network: chain id, sequencer, genesis allocations and protocol parameters, read from `netconfig/<network>.json`
/// (format in docs/netconfig.md).
///
/// Validation happens in `init(from:)`, so a config that exists is a sound one.
public struct NetworkConfig: Sendable, Equatable, Decodable {
    /// 10^18 wei: one OPEN.
    public static let weiPerOpen = UInt256(1_000_000_000_000_000_000 as UInt64)
    /// The fixed supply: 1,000,000,000 OPEN.
    public static let totalSupply = UInt256(1_000_000_000) * weiPerOpen

    /// A genesis balance: a labelled address and the wei it starts with.
    public struct Allocation: Sendable, Equatable, Decodable {
        /// The allocation's name, such as `community`; dev accounts are funded from one by label.
        public var label: String
        /// The funded address.
        public var address: Address
        /// The genesis balance in wei.
        public var balance: UInt256

        enum CodingKeys: String, CodingKey { case label, address, balance }

        /// An allocation of `balance` wei to `address`.
        public init(label: String, address: Address, balance: UInt256) {
            self.label = label
            self.address = address
            self.balance = balance
        }

        /// Reads `{label, address, balance}`, the balance as `"<decimal> OPEN"` or `"<decimal> wei"`.
        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            label = try container.decode(String.self, forKey: .label)
            address = try Address(hex: try container.decode(String.self, forKey: .address))
            balance = try NetworkConfig.openAmount(try container.decode(String.self, forKey: .balance), key: "balance")
        }
    }

    /// A funded development account; its key is public, so it exists only on devnets.
    public struct DevAccount: Sendable, Equatable {
        /// The account's secp256k1 private key, 32 bytes.
        public var privateKey: [UInt8]
        /// The genesis balance in wei.
        public var balance: UInt256
        /// The account's address, derived from the key.
        public var address: Address

        /// A dev account holding `balance`.
        public init(key: Secp256k1PrivateKey, balance: UInt256) throws(CodecError) {
            privateKey = key.withUnsafeSecretBytes { Array($0) }
            self.balance = balance
            address = try Address(bytes: key.publicKey.ethereumAddress)
        }
    }

    /// How a finalized inference fee is divided, in basis points summing to 10,000.
    public struct FeeSplit: Sendable, Equatable, Decodable {
        /// The share burned.
        public var burn: UInt64
        /// The share of the peer that served the inference.
        public var servingPeer: UInt64
        /// The share of the adapter's owner.
        public var adapterOwner: UInt64
        /// The share of the attributed data contributors.
        public var dataContributors: UInt64
    }

    /// Protocol parameters, set at genesis and changed later by governance.
    public struct Parameters: Sendable, Equatable, Decodable {
        /// How a finalized inference fee is divided.
        public var feeSplitBasisPoints: FeeSplit
        /// How long, in seconds, a reward claim can be challenged.
        public var claimChallengeWindowSeconds: UInt64
        /// The shortest settle delay, in seconds, a payment channel may have.
        public var minimumSettleDelaySeconds: UInt64
        /// PoA-SA v1 L: the shortest span, in bytes, that counts as a match.
        public var attributionMinSpan: Int
        /// PoA-SA v1 K: the most attribution records one output credits.
        public var attributionMaxRecords: Int
    }

    /// The network's name, such as `devnet`.
    public var name: String
    /// The EIP-155 chain id.
    public var chainId: UInt64
    /// The address whose signature every block carries.
    public var sequencer: Address
    /// Block interval in milliseconds.
    public var blockTimeMilliseconds: UInt64
    /// The gas limit of every block (at least 5,000,000).
    public var gasLimit: UInt64
    /// The genesis block's timestamp, in seconds.
    public var genesisTimestamp: UInt64
    /// The genesis base fee in wei; later blocks follow EIP-1559.
    public var initialBaseFee: UInt256
    /// The genesis balances, totalling exactly `totalSupply`.
    public var allocations: [Allocation]
    /// Accounts funded from the allocation labelled `devFundingSource`: the first `devAccountCount` accounts
    /// of `devMnemonic` (BIP-39/BIP-32, m/44'/60'/0'/0/i), each with `devAccountBalance`.
    public var devAccounts: [DevAccount]
    /// The label of the allocation that funds `devAccounts`.
    public var devFundingSource: String?
    /// The BIP-39 mnemonic of the dev accounts; nil on networks without them.
    public var devMnemonic: String?
    /// The protocol parameters.
    public var parameters: Parameters
    /// Genesis values of the economy's parameters beyond `parameters` (the `economy` object: name → amount); the
    /// rest take their defaults (`ProtocolParameter.defaultValue`).
    public var economyParameters: [ProtocolParameter: UInt256] = [:]
    /// libp2p peers a new node joins the network through (the `bootstrap` list: multiaddrs ending in
    /// `/p2p/<peer id>`, at most `maxBootstrapPeers`); empty on the devnet, whose peers find each other locally.
    public var bootstrap: [Multiaddr] = []
    /// The most bootstrap peers a config may list.
    public static let maxBootstrapPeers = 64

    enum CodingKeys: String, CodingKey {
        case name, chainId, sequencer, blockTimeMilliseconds, gasLimit, genesisTimestamp, initialBaseFee
        case allocations, devMnemonic, devAccountCount, devAccountBalance, devFundingSource, parameters, economy
        case bootstrap
    }

    /// Reads the JSON form and checks every rule of docs/netconfig.md.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        chainId = try container.decode(UInt64.self, forKey: .chainId)
        sequencer = try Address(hex: try container.decode(String.self, forKey: .sequencer))
        blockTimeMilliseconds = try container.decode(UInt64.self, forKey: .blockTimeMilliseconds)
        gasLimit = try container.decode(UInt64.self, forKey: .gasLimit)
        genesisTimestamp = try container.decode(UInt64.self, forKey: .genesisTimestamp)
        guard let baseFee = UInt256(decimal: try container.decode(String.self, forKey: .initialBaseFee)) else {
            throw ChainError.malformed(what: "network config", why: "initialBaseFee is not a decimal integer")
        }
        initialBaseFee = baseFee
        allocations = try container.decode([Allocation].self, forKey: .allocations)
        devMnemonic = try container.decodeIfPresent(String.self, forKey: .devMnemonic)
        devAccounts = []
        if let mnemonic = devMnemonic {
            let count = try container.decode(Int.self, forKey: .devAccountCount)
            guard (1...1000).contains(count) else {
                throw ChainError.malformed(what: "network config", why: "devAccountCount must be 1...1000")
            }
            let balance = try Self.openAmount(
                try container.decode(String.self, forKey: .devAccountBalance), key: "devAccountBalance")
            devAccounts = try HDWallet.ethereumKeys(mnemonic: mnemonic, count: count).map {
                try DevAccount(key: $0, balance: balance)
            }
        }
        devFundingSource = try container.decodeIfPresent(String.self, forKey: .devFundingSource)
        parameters = try container.decode(Parameters.self, forKey: .parameters)
        for (name, text) in try container.decodeIfPresent([String: String].self, forKey: .economy) ?? [:] {
            guard let parameter = ProtocolParameter(name: name) else {
                throw ChainError.malformed(what: "network config", why: "economy names no parameter '\(name)'")
            }
            economyParameters[parameter] = try Self.openAmount(text, key: name)
        }
        let peers = try container.decodeIfPresent([String].self, forKey: .bootstrap) ?? []
        guard peers.count <= Self.maxBootstrapPeers else {
            throw ChainError.malformed(
                what: "network config", why: "bootstrap lists more than \(Self.maxBootstrapPeers) peers")
        }
        bootstrap = try peers.map { text in
            let address = try Multiaddr(text)
            guard address.peerID != nil else {
                throw ChainError.malformed(
                    what: "network config", why: "bootstrap address '\(text)' does not end in /p2p/<peer id>")
            }
            return address
        }
        try validate()
    }

    /// Reads and validates a config file's bytes.
    public static func parse(_ data: Data) throws(ChainError) -> NetworkConfig {
        do {
            return try JSONDecoder().decode(NetworkConfig.self, from: data)
        } catch let error as ChainError {
            throw error
        } catch let error as CodecError {
            throw .malformed(what: "network config", why: error.description)
        } catch {
            throw .malformed(what: "network config", why: "\(error)")
        }
    }

    private func validate() throws(ChainError) {
        func fail(_ why: String) -> ChainError { .malformed(what: "network config \(name)", why: why) }
        guard chainId > 0 else { throw fail("chainId must be positive") }
        guard gasLimit >= 5_000_000 else { throw fail("gasLimit below 5,000,000") }
        guard blockTimeMilliseconds >= 10 else { throw fail("blockTimeMilliseconds below 10") }
        let split = parameters.feeSplitBasisPoints
        guard split.burn + split.servingPeer + split.adapterOwner + split.dataContributors == 10_000 else {
            throw fail("fee split does not sum to 10,000 basis points")
        }
        guard parameters.attributionMinSpan >= 1, parameters.attributionMaxRecords >= 1 else {
            throw fail("attribution L and K must be positive")
        }
        for (parameter, value) in economyParameters where !parameter.isAllowed(value) {
            throw fail("economy \(parameter) = \(value) is out of bounds")
        }
        let total = allocations.reduce(UInt256.zero) { $0 + $1.balance }
        guard total == Self.totalSupply else {
            throw fail("allocations total \(total) wei, not exactly 1,000,000,000 OPEN")
        }
        guard Set(allocations.map(\.address)).count == allocations.count else {
            throw fail("duplicate allocation address")
        }
        if !devAccounts.isEmpty {
            guard let source = allocations.first(where: { $0.label == devFundingSource }) else {
                throw fail("devFundingSource does not name an allocation")
            }
            let devTotal = devAccounts.reduce(UInt256.zero) { $0 + $1.balance }
            guard devTotal <= source.balance else { throw fail("dev accounts exceed their funding allocation") }
        }
    }

    /// Parses "<decimal> OPEN" or "<decimal> wei" (or a bare decimal of wei).
    static func openAmount(_ text: String, key: String) throws -> UInt256 {
        let parts = text.split(separator: " ")
        guard (1...2).contains(parts.count), let number = UInt256(decimal: parts[0]) else {
            throw ChainError.malformed(what: "network config", why: "\(key) '\(text)' is not an amount")
        }
        if parts.count == 1 || parts[1] == "wei" { return number }
        guard parts[1] == "OPEN" else {
            throw ChainError.malformed(what: "network config", why: "\(key) unit '\(parts[1])' is not OPEN or wei")
        }
        let (wei, overflow) = number.multipliedReportingOverflow(by: weiPerOpen)
        guard !overflow else { throw ChainError.malformed(what: "network config", why: "\(key) overflows") }
        return wei
    }

    /// Every account's balance at genesis: allocations, with dev accounts carved out of their source.
    public var genesisBalances: [(Address, UInt256)] {
        var balances: [(Address, UInt256)] = allocations.map { allocation in
            guard allocation.label == devFundingSource else { return (allocation.address, allocation.balance) }
            return (allocation.address, allocation.balance - devAccounts.reduce(UInt256.zero) { $0 + $1.balance })
        }
        balances += devAccounts.map { ($0.address, $0.balance) }
        return balances
    }
}
