import Codec
import Content
import Foundation
import Node

/// `openledger content …`: the local content store — add, cat, ls, pin, unpin, gc, stat, verify.
enum ContentCommand {
    static let command = CommandSpec(
        name: "content", summary: "The content store: files as verified blocks, addressed as kubo addresses them.",
        subcommands: [add, cat, ls, pin, unpin, gc, stat, verify, ContentNetwork.get, ContentNetwork.serve])

    static let dataDirectory = NodeOptions.dataDirectory(
        "Node data directory; the store is its content/ folder (default: ~/.local/share/openledger/node).")
    static let quota = OptionSpec(
        name: "quota", valueName: "SIZE",
        help: "Set the store's disk quota (bytes, or with K, M, G, KiB, MiB, GiB; 0 removes it) and keep it.")
    static let reason = OptionSpec(
        name: "reason", valueName: "REASON",
        help: "Why: \(PinReason.allCases.map(\.rawValue).joined(separator: ", ")).",
        defaultValue: PinReason.user.rawValue)
    static let cidArgument = ArgumentSpec(name: "cid", help: "The root CID (CIDv0 Qm… or CIDv1).")

    static let add = CommandSpec(
        name: "add", summary: "Add a file (or - for standard input), pin it, and print its CID.",
        discussion: """
            The file is built as kubo v0.22 builds it: with --cid-version 1 (the default) as `ipfs add \
            --cid-version=1` (raw leaves of 262,144 bytes, at most 174 links per node, CIDv1 base32), with 0 as \
            kubo's default `ipfs add` (dag-pb leaves, CIDv0). The printed CID is the one kubo prints for the same bytes.
            """,
        arguments: [ArgumentSpec(name: "file", help: "The file to add, or - for standard input.")],
        options: [
            OptionSpec(name: "cid-version", valueName: "0|1", help: "CID version and layout.", defaultValue: "1"),
            OptionSpec(name: "no-pin", help: "Do not pin the file (it can then be collected)."),
            quota, dataDirectory,
        ],
        action: { arguments, output throws(CLIError) in
            let parameters: UnixFSFileBuilder.Parameters
            switch arguments.string("cid-version") {
            case "0": parameters = .kuboCIDv0
            case "1": parameters = .kuboCIDv1
            default:
                throw .usage(
                    "option --cid-version expects 0 or 1, got '\(arguments.string("cid-version") ?? "")'",
                    command: arguments.command)
            }
            let store = try open(arguments)
            let path = arguments.positionals[0]
            let pin: PinReason? = arguments.flag("no-pin") ? nil : .user
            let root = try run { () throws(ContentError) in
                path == "-"
                    ? try store.add(readingFrom: 0, name: "standard input", parameters: parameters, pin: pin)
                    : try store.add(path: path, parameters: parameters, pin: pin)
            }
            output.line(root.description)
        })

    static let cat = CommandSpec(
        name: "cat", summary: "Write a file of the store to standard output (or -o FILE), verifying every block.",
        arguments: [cidArgument],
        options: [
            OptionSpec(name: "output", valueName: "FILE", help: "Write to FILE instead (also -o FILE).", short: "o"),
            dataDirectory,
        ],
        action: { arguments, output throws(CLIError) in
            let root = try cid(arguments.positionals[0], arguments)
            let store = try open(arguments)
            guard try run({ () throws(ContentError) in try store.has(root) }) else {
                throw .failure("\(root) is not in the store")
            }
            let target = arguments.string("output")
            let descriptor = target.map { Glibc.open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } ?? 1
            guard descriptor >= 0 else {
                throw .failure("cannot create \(target ?? ""): \(String(cString: strerror(errno)))")
            }
            defer { if target != nil { close(descriptor) } }
            var stream = store.openFile(root)
            while let piece = try run({ () throws(ContentError) in try stream.next() }) {
                guard writeAll(descriptor, piece) else {
                    throw .failure("cannot write \(target ?? "standard output"): \(String(cString: strerror(errno)))")
                }
            }
        })

    static let ls = CommandSpec(
        name: "ls", summary: "List the pins: CID, reason, and whether the whole DAG is held.",
        options: [dataDirectory],
        action: { arguments, output throws(CLIError) in
            let store = try open(arguments)
            for pin in try run({ () throws(ContentError) in try store.pins() }) {
                let complete = try run { () throws(ContentError) in try store.missing(pin.root, limit: 1).isEmpty }
                output.line("\(pin.root) \(pin.reason.rawValue) \(complete ? "complete" : "incomplete")")
            }
        })

    static let pin = CommandSpec(
        name: "pin", summary: "Pin a DAG so collection keeps it (it may still be arriving).",
        arguments: [cidArgument], options: [reason, dataDirectory],
        action: { arguments, output throws(CLIError) in
            let root = try cid(arguments.positionals[0], arguments)
            let why = try pinReason(arguments)
            let store = try open(arguments)
            let added = try run { () throws(ContentError) in try store.pin(root, reason: why) }
            output.line(added ? "pinned \(root) (\(why.rawValue))" : "\(root) was already pinned (\(why.rawValue))")
        })

    static let unpin = CommandSpec(
        name: "unpin", summary: "Remove a pin; the blocks go at the next collection unless another pin keeps them.",
        arguments: [cidArgument], options: [reason, dataDirectory],
        action: { arguments, output throws(CLIError) in
            let root = try cid(arguments.positionals[0], arguments)
            let why = try pinReason(arguments)
            let store = try open(arguments)
            guard try run({ () throws(ContentError) in try store.unpin(root, reason: why) }) > 0 else {
                throw .failure("\(root) is not pinned (\(why.rawValue))")
            }
            output.line("unpinned \(root) (\(why.rawValue))")
        })

    static let gc = CommandSpec(
        name: "gc", summary: "Remove every block no pin reaches.",
        options: [quota, dataDirectory],
        action: { arguments, output throws(CLIError) in
            let store = try open(arguments)
            let collected = try run { () throws(ContentError) in try store.collectGarbage() }
            output.line("removed \(collected.blocks) blocks, \(collected.storedBytes) bytes")
        })

    static let stat = CommandSpec(
        name: "stat", summary: "Blocks, bytes, compression, pins and quota of the store.",
        options: [quota, dataDirectory],
        action: { arguments, output throws(CLIError) in
            let store = try open(arguments)
            let stats = try run { () throws(ContentError) in try store.stats() }
            output.line("path:        \(store.directory)")
            output.line("blocks:      \(stats.blocks)")
            output.line("bytes:       \(stats.bytes)")
            output.line("stored:      \(stats.storedBytes)")
            output.line("compressed:  \(stats.compressedBlocks) blocks")
            output.line("pins:        \(stats.pins)")
            output.line("quota:       \(stats.quota.map(String.init) ?? "none")")
        })

    static let verify = CommandSpec(
        name: "verify", summary: "Re-read and re-hash every block; report (exit 1) or --repair what fails.",
        options: [
            OptionSpec(name: "repair", help: "Remove the blocks that fail and files the index does not know."),
            dataDirectory,
        ],
        action: { arguments, output throws(CLIError) in
            let store = try open(arguments)
            let repair = arguments.flag("repair")
            let report = try run { () throws(ContentError) in try store.verify(repair: repair) }
            for cid in report.corrupt { output.line("corrupt \(cid)") }
            for path in report.strayFiles { output.line("stray \(path)") }
            let problems = report.corrupt.count + report.strayFiles.count
            output.line(
                "checked \(report.checked) blocks: \(report.corrupt.count) corrupt, \(report.strayFiles.count) stray"
                    + (repair && problems > 0 ? " (removed; fetch or add them again)" : ""))
            if problems > 0 && !repair { throw .failure("the store has \(problems) problem(s); run with --repair") }
        })

    /// Opens the store of `--data-dir`, applying `--quota` when given.
    static func open(_ arguments: ParsedArguments) throws(CLIError) -> ContentStore {
        let directory = NodeOptions.dataDirectory(arguments)
        do {
            try directory.create()
        } catch {
            throw NodeOptions.failure(error)
        }
        var quotaBytes: UInt64?
        if let text = arguments.string("quota") {
            guard let bytes = parseSize(text) else {
                throw .usage("option --quota expects a size such as 10GiB, got '\(text)'", command: arguments.command)
            }
            quotaBytes = bytes
        }
        let store = try run { () throws(ContentError) in
            try ContentStore(
                directory: directory.contentStore,
                options: ContentStore.Options(quota: quotaBytes == 0 ? nil : quotaBytes))
        }
        if quotaBytes == 0 { try run { () throws(ContentError) in try store.setQuota(nil) } }
        return store
    }

    /// Bytes from `1234`, `10K`, `5MiB`, `2G` (K, M, G are powers of 1,000; KiB, MiB, GiB of 1,024).
    static func parseSize(_ text: String) -> UInt64? { ByteSize.parse(text) }

    static func cid(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> CID {
        do {
            return try CID(string: text)
        } catch {
            throw .usage("'\(text)' is not a CID: \(error)", command: arguments.command)
        }
    }

    private static func pinReason(_ arguments: ParsedArguments) throws(CLIError) -> PinReason {
        let text = arguments.string("reason") ?? PinReason.user.rawValue
        guard let reason = PinReason(rawValue: text) else {
            throw .usage(
                "option --reason expects one of \(PinReason.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'",
                command: arguments.command)
        }
        return reason
    }

    /// Runs store calls, turning the store's error into a failure with its message.
    static func run<R>(_ body: () throws(ContentError) -> R) throws(CLIError) -> R {
        do {
            return try body()
        } catch {
            throw .failure(error.description)
        }
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
    }
}
