import Chain
import Codec
import FileIO
import LightClient

/// Why the node could not be set up or run: each case names the file, value or service at fault.
public enum NodeError: Error, CustomStringConvertible {
    /// The network config file could not be read (missing, a directory, no permission).
    case configUnreadable(path: String)
    /// The network config file was read but is not a valid config.
    case configInvalid(path: String, reason: ChainError)
    /// `--log-format` named no format.
    case invalidLogFormat(String)
    /// `--log-level` named no level.
    case invalidLogLevel(String)
    /// A directory of the data directory could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// The identity key file exists but holds no valid key.
    case identityInvalid(path: String, reason: any Error)
    /// The identity key file exists but could not be read (no permission, a directory, an I/O error).
    case identityUnreadable(FileIOError)
    /// The identity key file could not be written.
    case identityUnwritable(FileIOError)
    /// The devnet chain store could not be opened.
    case chainUnavailable(directory: String, reason: any Error)
    /// The light client could not be set up (the trust root, the RPC URL or server, the header store); `reason` is
    /// the `ChainError` or `LightClientError` at fault.
    case lightClientUnavailable(reason: any Error)
    /// The server knows no block with the checkpoint hash the light client was to trust.
    case unknownCheckpoint([UInt8])
    /// A service failed to start; `reason` is its own error.
    case serviceFailed(service: String, reason: any Error)
    /// The node configuration file at `path` could not be read, or is larger than the bound.
    case nodeConfigUnreadable(path: String)
    /// A node setting (from the node configuration file or its flag) is unknown or has a bad value: `key` names it,
    /// `reason` says what is wrong.
    case nodeConfigInvalid(key: String, reason: String)

    // The wallet: its key file, the payer's store, and channel operations on the ledger.
    /// There is no wallet key file at `path`.
    case walletKeyMissing(path: String)
    /// A wallet key file is already at `path`, and replacing it was not asked for.
    case walletKeyExists(path: String)
    /// The wallet key file at `path` has permission bits for group or others (`mode`); it must be 0600.
    case walletKeyExposed(path: String, mode: UInt32)
    /// The wallet key file at `path` holds no valid key.
    case walletKeyInvalid(path: String, reason: String)
    /// The wallet key file could not be read (no permission, a directory, an I/O error).
    case walletKeyUnreadable(FileIOError)
    /// The wallet key file could not be written.
    case walletKeyUnwritable(FileIOError)
    /// The payer's store at `path` failed; `reason` is the `SQLiteError`, or what a stored row got wrong.
    case payerStoreFailed(path: String, reason: any Error)
    /// Neither the payer's store nor the ledger knows channel `id`.
    case unknownChannel(id: [UInt8])
    /// Channel `id` is `status`, and the operation needs it `expected`.
    case channelInWrongState(id: [UInt8], status: PaymentChannels.Status, expected: PaymentChannels.Status)
    /// Channel `id` belongs to `payer`, not to the wallet's `account`.
    case notChannelPayer(id: [UInt8], payer: Address, account: Address)
    /// A voucher for `cumulative` wei would exceed channel `id`'s deposit of `deposit` wei.
    case voucherOverDeposit(id: [UInt8], cumulative: UInt256, deposit: UInt256)
    /// A voucher was asked for with a malformed request hash or for another chain than its channel's.
    case voucherRequestInvalid(String)
    /// `account` holds `balance` wei and the transaction may cost up to `needed` (value and the most gas it may pay).
    case insufficientFunds(account: Address, balance: UInt256, needed: UInt256)
    /// Channel `id` closes at block time `closesAt`; the verified head is at `headTimestamp`.
    case settleDelayRunning(id: [UInt8], closesAt: UInt64, headTimestamp: UInt64)
    /// `operation` reverted: refused by a dry run before sending (`transaction` nil), or included in `block` with a
    /// failed verified receipt; `reason` is the contract's, when known.
    case transactionReverted(operation: String, transaction: [UInt8]?, block: UInt64?, reason: String?)
    /// The light client failed or refused an answer while reading or writing the ledger.
    case ledger(LightClientError)
    /// A Datanet batch file is not one: `line` (1-based, nil for the whole file) says where.
    case datanetBatchInvalid(line: Int?, reason: String)
    /// An attribution index cannot be read, built or written.
    case attributionIndex(path: String, reason: String)
    /// Content could not be fetched from peers.
    case contentFetch(cid: String, reason: String)
    /// A file to publish (an adapter, a base model, a provenance document) cannot be used.
    case publishing(path: String, reason: String)
    /// A Datanet's content read from the store does not match what the ledger records, or is not held.
    case datanetContent(datanet: UInt256, reason: String)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .configUnreadable(let path): "cannot read network config \(path)"
        case .configInvalid(let path, let reason): "\(path): \(reason)"
        case .invalidLogFormat(let text): "option --log-format expects logfmt or json, got '\(text)'"
        case .invalidLogLevel(let text):
            "option --log-level expects trace, debug, info, warning or error, got '\(text)'"
        case .cannotCreateDirectory(let path, let reason): "cannot create \(path): \(reason)"
        case .identityInvalid(let path, let reason): "\(path): \(reason)"
        case .identityUnreadable(let error): "\(error)"
        case .identityUnwritable(let error): "\(error)"
        case .chainUnavailable(let directory, let reason): "cannot open the chain in \(directory): \(reason)"
        case .lightClientUnavailable(let reason): "\(reason)"
        case .unknownCheckpoint(let hash): "the server does not know checkpoint \(Hex.encode(hash))"
        case .serviceFailed(_, let reason): "\(reason)"
        case .nodeConfigUnreadable(let path): "cannot read node config \(path) (a JSON object of at most 1 MiB)"
        case .nodeConfigInvalid(let key, let reason): "node setting '\(key)': \(reason)"
        case .walletKeyMissing(let path):
            "no wallet key at \(path): create one with `openledger wallet new` or `openledger wallet import`"
        case .walletKeyExists(let path): "a wallet key already exists at \(path) (--force replaces it)"
        case .walletKeyExposed(let path, let mode):
            "wallet key \(path) is accessible by group or others (mode 0\(String(mode, radix: 8))); it must be 0600: chmod 600 \(path)"
        case .walletKeyInvalid(let path, let reason): "wallet key \(path): \(reason)"
        case .walletKeyUnreadable(let error): "wallet key: \(error)"
        case .walletKeyUnwritable(let error): "wallet key: \(error)"
        case .payerStoreFailed(let path, let reason): "payer store \(path): \(reason)"
        case .unknownChannel(let id): "unknown channel \(Hex.encode(id))"
        case .channelInWrongState(let id, let status, let expected):
            "channel \(Hex.encode(id)) is \(status), not \(expected)"
        case .notChannelPayer(let id, let payer, let account):
            "channel \(Hex.encode(id)) belongs to payer \(payer), not to this wallet's \(account)"
        case .voucherOverDeposit(let id, let cumulative, let deposit):
            "a voucher for \(cumulative) wei exceeds the deposit of \(deposit) wei of channel \(Hex.encode(id))"
        case .voucherRequestInvalid(let why): "cannot sign the voucher: \(why)"
        case .insufficientFunds(let account, let balance, let needed):
            "not enough OPEN: \(account) holds \(balance) wei, the transaction may cost up to \(needed) wei"
        case .settleDelayRunning(let id, let closesAt, let headTimestamp):
            "channel \(Hex.encode(id)) is still in its settle delay: withdraw from block time \(closesAt), \(closesAt - min(closesAt, headTimestamp)) s after the verified head's \(headTimestamp)"
        case .transactionReverted(let operation, let transaction, let block, let reason):
            if let transaction, let block {
                "\(operation) failed: transaction \(Hex.encode(transaction)) reverted in block \(block) (verified receipt)"
                    + (reason.map { ": \($0)" } ?? "")
            } else {
                "\(operation) refused by a dry run, nothing sent" + (reason.map { ": \($0)" } ?? "")
            }
        case .ledger(let error): "\(error)"
        case .datanetBatchInvalid(let line, let reason):
            line.map { "line \($0): \(reason)" } ?? reason
        case .datanetContent(let datanet, let reason): "Datanet \(datanet): \(reason)"
        case .publishing(let path, let reason): "\(path): \(reason)"
        case .contentFetch(let cid, let reason): "cannot fetch \(cid): \(reason)"
        case .attributionIndex(let path, let reason): "attribution index \(path): \(reason)"
        }
    }
}
