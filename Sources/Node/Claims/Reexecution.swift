import Chain
import Codec
import Crypto
import Foundation
import HTTP
import Synchronization

/// Re-execution of claimed answers, byte for byte.
///
/// The attester fetches each request from the serving peer
/// (`GET /v1/requests/<request hash>`, served once the answer is claimed), checks it hashes to the receipt's request
/// hash, runs it through its own OpenAI API on the same model and adapters, and compares the answer's bytes with the
/// receipt's response hash. Generation is deterministic given the model, the adapter, the prompt, the sampling
/// parameters and the seed, so an honest peer's answer comes out byte for byte.
public struct Reexecution: Sendable {
    /// What re-running one answer found.
    public enum Outcome: Sendable, Equatable {
        /// The same bytes.
        case identical
        /// Other bytes: the answer's keccak256 differs from the receipt's response hash.
        case mismatch(expected: [UInt8], recomputed: [UInt8])
        /// Not re-executed (the peer did not serve the request, it did not hash to the receipt, the API refused it).
        case unavailable(String)
    }

    /// The attester's API over its engine (free, no attribution needed).
    public let api: OpenAIAPI
    /// The serving peer's base URL (`http://host:port`) by its account, if known.
    public let endpoint: @Sendable (Address) -> String?
    /// Seconds one re-execution may take.
    public let timeoutSeconds: Int

    /// Re-execution through `api`, fetching requests from `endpoint(claimant)`.
    public init(api: OpenAIAPI, endpoint: @escaping @Sendable (Address) -> String?, timeoutSeconds: Int = 300) {
        self.api = api
        self.endpoint = endpoint
        self.timeoutSeconds = timeoutSeconds
    }

    /// Re-runs the answer of `item`, claimed by `claimant`.
    public func run(_ item: ClaimItem, claimant: Address) -> Outcome {
        guard let base = endpoint(claimant), let client = try? HTTPClient(url: base) else {
            return .unavailable("no endpoint known for \(claimant)")
        }
        let hash = item.receipt.requestHash
        guard let fetched = try? client.send(method: "GET", path: "/v1/requests/\(Hex.encode(hash))"),
            fetched.status == 200,
            let object = (try? JSONSerialization.jsonObject(with: Data(fetched.body))) as? [String: Any],
            let path = object["path"] as? String, let text = object["body"] as? String
        else { return .unavailable("the peer does not serve request \(Hex.encode(hash))") }
        let body = Array(text.utf8)
        guard Keccak256.hash(body) == hash else {
            return .unavailable("the served request does not hash to the receipt's")
        }
        // The same request, answered whole: streaming changes how the bytes travel, not which bytes.
        guard var request = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return .unavailable("the request is not a JSON object")
        }
        request["stream"] = false
        let replay = Array((try? JSONSerialization.data(withJSONObject: request)) ?? Data())
        let writer = CollectingWriter()
        guard let completion = try? api.prepare(replay, chat: path == "/v1/chat/completions") else {
            return .unavailable("the attester's API refuses the request")
        }
        api.run(completion, writer: writer)
        guard writer.ended.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success,
            let response = writer.response.withLock({ $0 }), response.status == 200,
            let answer = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
            let choice = (answer["choices"] as? [[String: Any]])?.first
        else { return .unavailable("the re-execution did not answer") }
        let produced =
            ((choice["message"] as? [String: Any])?["content"] as? String) ?? (choice["text"] as? String) ?? ""
        let recomputed = Keccak256.hash(Array(produced.utf8))
        return recomputed == item.receipt.responseHash
            ? .identical : .mismatch(expected: item.receipt.responseHash, recomputed: recomputed)
    }
}

/// Collects one whole reply of the API.
private final class CollectingWriter: OpenAIReplyWriter, @unchecked Sendable {
    let response = Mutex<HTTPResponse?>(nil)
    let ended = DispatchSemaphore(value: 0)
    var isClientGone: Bool { false }

    func respond(_ response: HTTPResponse) {
        self.response.withLock { $0 = response }
        ended.signal()
    }

    func start(status: Int, headers: [(name: String, value: String)]) {}

    func write(_ bytes: [UInt8]) -> Bool { true }

    func finish() { ended.signal() }
}
