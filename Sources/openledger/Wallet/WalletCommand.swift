import Chain
import Codec
import Crypto
import LightClient
import Node

/// `openledger wallet …`: the account key in DIR/wallet.key (mode 0600) and its balance, proven by the light client.
enum WalletCommand {
    static let dataDirectory = NodeOptions.dataDirectory("Keep the wallet key in DIR/wallet.key.")
    static let ledger = [
        OptionSpec(
            name: "rpc", valueName: "URL", help: "JSON-RPC server of the ledger.", defaultValue: "http://127.0.0.1:8545"
        ),
        NodeOptions.config,
    ]

    static let command = CommandSpec(
        name: "wallet",
        summary: "The account key that pays for channels and signs vouchers, and its balance.",
        subcommands: [
            CommandSpec(
                name: "new", summary: "Create a new account key and print its address.",
                discussion:
                    "Refuses when the data directory already holds a key (`wallet import --force` replaces one).",
                options: [dataDirectory],
                action: { arguments, output throws(CLIError) in
                    let path = NodeOptions.dataDirectory(arguments).walletKey
                    let key = try node { () throws(NodeError) in try WalletKeyFile.create(at: path) }
                    printKey(key, path: path, output)
                }),
            CommandSpec(
                name: "import", summary: "Store a private key, or a key derived from a BIP-39 mnemonic.",
                discussion:
                    "KEY is a 0x-hex secp256k1 private key. With --mnemonic the key is the BIP-44 account m/44'/60'/0'/0/N (the devnet's dev accounts come from netconfig/devnet.json's devMnemonic). An existing key is replaced only with --force.",
                arguments: [
                    ArgumentSpec(name: "key", help: "0x-hex private key (omit with --mnemonic).", optional: true)
                ],
                options: [
                    OptionSpec(name: "mnemonic", valueName: "WORDS", help: "BIP-39 mnemonic, quoted."),
                    OptionSpec(name: "index", valueName: "N", help: "Account index under m/44'/60'/0'/0 (default 0)."),
                    OptionSpec(name: "force", help: "Replace an existing key."),
                    dataDirectory,
                ],
                action: { arguments, output throws(CLIError) in
                    let key = try importedKey(arguments)
                    let path = NodeOptions.dataDirectory(arguments).walletKey
                    try node { () throws(NodeError) in
                        try WalletKeyFile.importKey(key, at: path, overwrite: arguments.flag("force"))
                    }
                    printKey(key, path: path, output)
                }),
            CommandSpec(
                name: "address", summary: "Print the wallet's address.", options: [dataDirectory],
                action: { arguments, output throws(CLIError) in
                    output.line(WalletKeyFile.address(of: try loadKey(arguments)).checksummed)
                }),
            CommandSpec(
                name: "balance", summary: "An account's balance, proven against the verified head.",
                discussion: "Without ADDRESS, the wallet's own account.",
                arguments: [ArgumentSpec(name: "address", help: "0x-address (default: the wallet's).", optional: true)],
                options: [dataDirectory] + ledger,
                action: { arguments, output throws(CLIError) in
                    let address: Address
                    if let text = arguments.positionals.first {
                        address = try LightCommand.parseAddress(text, arguments)
                    } else {
                        address = WalletKeyFile.address(of: try loadKey(arguments))
                    }
                    let client = try LightCommand.makeClient(arguments)
                    let (account, head) = try LightCommand.run { () throws(LightClientError) in
                        try client.account(address, at: try client.syncHead())
                    }
                    output.line(
                        "\(address.checksummed): \(LightCommand.openText(account.balance)) OPEN (\(account.balance) wei)"
                    )
                    output.line(
                        "verified: account proof against state root \(Hex.encode(head.header.stateRoot)) of block \(head.number) \(Hex.encode(head.hash))"
                    )
                }),
        ])

    /// The key `wallet import` was given: KEY, or --mnemonic with --index.
    static func importedKey(_ arguments: ParsedArguments) throws(CLIError) -> Secp256k1PrivateKey {
        let mnemonic = arguments.string("mnemonic")
        switch (arguments.positionals.first, mnemonic) {
        case (nil, nil): throw .usage("give a KEY or --mnemonic", command: arguments.command)
        case (.some, .some): throw .usage("give a KEY or --mnemonic, not both", command: arguments.command)
        case (let text?, nil):
            guard arguments.string("index") == nil else {
                throw .usage("--index goes with --mnemonic", command: arguments.command)
            }
            guard text.hasPrefix("0x"), text.utf8.count == 66, var bytes = try? Hex.decode(text) else {
                throw .usage("KEY must be 0x and 64 hex digits", command: arguments.command)
            }
            defer { bytes = [UInt8](repeating: 0, count: bytes.count) }
            do {
                return try Secp256k1PrivateKey(bytes: bytes)
            } catch {
                throw .usage("KEY is not a secp256k1 private key: \(error)", command: arguments.command)
            }
        case (nil, let words?):
            let index = try arguments.int("index", in: 0...0x7FFF_FFFF) ?? 0
            let list = words.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            guard [12, 15, 18, 21, 24].contains(list.count), words.utf8.count <= 1_024 else {
                throw .usage(
                    "--mnemonic expects 12, 15, 18, 21 or 24 words, got \(list.count)", command: arguments.command)
            }
            do {
                return try HDWallet.ExtendedKey(seed: HDWallet.seed(mnemonic: list.joined(separator: " ")))
                    .derive(path: "m/44'/60'/0'/0/\(index)").key
            } catch {
                throw .failure("cannot derive m/44'/60'/0'/0/\(index): \(error)")
            }
        }
    }

    /// The key in the data directory `--data-dir` names.
    static func loadKey(_ arguments: ParsedArguments) throws(CLIError) -> Secp256k1PrivateKey {
        let path = NodeOptions.dataDirectory(arguments).walletKey
        return try node { () throws(NodeError) in try WalletKeyFile.load(at: path) }
    }

    static func printKey(_ key: Secp256k1PrivateKey, path: String, _ output: CommandOutput) {
        output.line("address: \(WalletKeyFile.address(of: key).checksummed)")
        output.line("key file: \(path) (mode 0600)")
    }

    /// Runs `body`, a failure of the node becoming the command's (exit 1).
    static func node<R>(_ body: () throws(NodeError) -> R) throws(CLIError) -> R {
        do {
            return try body()
        } catch {
            throw NodeOptions.failure(error)
        }
    }
}
