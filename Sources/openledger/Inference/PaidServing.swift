import Chain
import Codec
import Foundation
import Node
import Runtime

/// The options of a paid `serve`, turned into `Node`'s paid serving.
enum PaidServing {
    /// The default price per prompt token: 1,000 gwei.
    static let defaultPromptPrice = "1000000000000"
    /// The default price per completion token: 4,000 gwei.
    static let defaultCompletionPrice = "4000000000000"
    /// The largest prices file read.
    static let maximumPricesFileBytes = 1 << 20

    /// The claiming policy of `--claim-batch` and `--claim-age`; nil with `--no-claims`.
    static func claimPolicy(_ arguments: ParsedArguments) throws(CLIError) -> ClaimService.Policy? {
        guard !arguments.flag("no-claims") else { return nil }
        var policy = ClaimService.Policy()
        policy.batchCount = try arguments.int("claim-batch", in: 1...AttributionClaims.maxItems) ?? policy.batchCount
        policy.batchAgeSeconds = try arguments.double("claim-age", in: 1...(30 * 86_400)) ?? policy.batchAgeSeconds
        return policy
    }

    /// The `attribution` directories of the `--prices` file's entries, by model name.
    static func attributionDirectories(_ entries: [String: [String: Any]], path: String) throws(CLIError)
        -> [String: String]
    {
        var result: [String: String] = [:]
        for (name, entry) in entries {
            guard let raw = entry["attribution"] else { continue }
            guard let directory = raw as? String else {
                throw .failure("--prices \(path): '\(name).attribution' must be a directory path")
            }
            result[name] = directory
        }
        return result
    }

    /// The entries of the `--prices` file (an object of objects), none without the option; read once per start.
    static func priceEntries(_ arguments: ParsedArguments) throws(CLIError) -> [String: [String: Any]] {
        guard let path = arguments.string("prices") else { return [:] }
        guard let data = FileManager.default.contents(atPath: path), data.count <= maximumPricesFileBytes,
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw .failure("--prices \(path): not a readable JSON object of at most 1 MiB") }
        var entries: [String: [String: Any]] = [:]
        for (name, value) in object {
            guard let entry = value as? [String: Any] else {
                throw .failure("--prices \(path): '\(name)' must be an object")
            }
            entries[name] = entry
        }
        return entries
    }

    /// Builds the gate and its head follower from `--rpc`, `--config`, `--data-dir` and the price options.
    static func make(
        _ arguments: ParsedArguments, _ output: CommandOutput, entries: [String: [String: Any]], logger: Logger
    ) throws(CLIError) -> PaidServingSetup.Parts {
        let pricing = try pricing(arguments, entries: entries)
        let configuration = try NodeOptions.configuration(arguments)
        do throws(NodeError) {
            return try PaidServingSetup.make(
                configuration: configuration, rpcURL: arguments.string("rpc") ?? "http://127.0.0.1:8545",
                directory: NodeOptions.dataDirectory(arguments), defaultPrice: pricing.defaultPrice,
                prices: pricing.prices, adapterIDs: pricing.adapterIDs, claimPolicy: pricing.claimPolicy,
                logger: logger)
        } catch {
            throw .failure("paid serving cannot start: \(error.description) (or serve with --free)")
        }
    }

    /// The prices and the claiming policy of `--prompt-price`, `--completion-price`, `--prices` and the claim options.
    static func pricing(_ arguments: ParsedArguments, entries: [String: [String: Any]]) throws(CLIError)
        -> ServingPricing
    {
        func amount(_ text: String, _ what: String) throws(CLIError) -> UInt256 {
            guard let value = OpenAmount.parse(text) else {
                throw .usage("\(what) expects wei or an OPEN amount, got '\(text)'", command: arguments.command)
            }
            return value
        }
        let defaultPrice = ServingPrice(
            promptWei: try amount(arguments.string("prompt-price") ?? defaultPromptPrice, "--prompt-price"),
            completionWei: try amount(
                arguments.string("completion-price") ?? defaultCompletionPrice, "--completion-price"))
        var prices: [String: ServingPrice] = [:]
        var adapterIDs: [String: UInt256] = [:]
        if let path = arguments.string("prices") {
            for (name, entry) in entries {
                func field(_ key: String, _ fallback: UInt256) throws(CLIError) -> UInt256 {
                    guard let raw = entry[key] else { return fallback }
                    let text = (raw as? String) ?? (raw as? NSNumber).map { $0.stringValue } ?? ""
                    guard let value = OpenAmount.parse(text) else {
                        throw .failure("--prices \(path): '\(name).\(key)' must be wei or an OPEN amount")
                    }
                    return value
                }
                prices[name] = ServingPrice(
                    promptWei: try field("prompt", defaultPrice.promptWei),
                    completionWei: try field("completion", defaultPrice.completionWei))
                if let raw = entry["adapterId"] {
                    let text = (raw as? String) ?? (raw as? NSNumber).map { $0.stringValue } ?? ""
                    guard let id = UInt256(decimal: text) else {
                        throw .failure("--prices \(path): '\(name).adapterId' must be a decimal number")
                    }
                    adapterIDs[name] = id
                }
            }
        }
        return ServingPricing(
            defaultPrice: defaultPrice, prices: prices, adapterIDs: adapterIDs, claimPolicy: try claimPolicy(arguments))
    }
}
