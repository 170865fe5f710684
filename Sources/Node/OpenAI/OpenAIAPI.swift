import AttributionRules
import Codec
import Foundation
import HTTP
import Inference
import Runtime

/// The OpenAI-compatible HTTP API over an inference engine: POST /v1/chat/completions and /v1/completions (whole, or
/// with `stream: true` as server-sent events ending in `data: [DONE]`), GET /v1/models, and JSON errors in OpenAI's
/// shape for everything else.
///
/// It validates requests, builds prompts, and writes the engine's generations out; `OpenAIServer` puts it on a port.
public struct OpenAIAPI: Sendable {
    /// The engine that runs the generations.
    public let engine: InferenceEngine
    /// The model's name, as /v1/models lists it and responses carry it.
    public let modelName: String
    /// Gives the `created` timestamps.
    public let clock: any Clock
    /// Where requests that fail and generations that end are logged (at debug level).
    public let logger: Logger
    /// The LoRA adapters a request may name (its `model`, or the `lora` extension field); nil serves the base alone.
    public let adapters: AdapterCache?
    /// The check of paid requests and the signer of their receipts; nil serves for free.
    public let payments: PaymentGate?
    /// The snapshots answers are attributed against; nil attributes nothing.
    public let attribution: AnswerAttribution?

    /// An API serving `engine`'s model under `modelName`, and the adapters of `adapters`; paid through `payments`
    /// when given.
    public init(
        engine: InferenceEngine, modelName: String, clock: any Clock, logger: Logger, adapters: AdapterCache? = nil,
        payments: PaymentGate? = nil, attribution: AnswerAttribution? = nil
    ) {
        self.attribution = attribution
        self.engine = engine
        self.modelName = modelName
        self.clock = clock
        self.logger = logger
        self.adapters = adapters
        self.payments = payments
    }

    /// A request the API refuses: the HTTP status, the message, and the parameter at fault.
    struct Failure: Error {
        let status: Int
        let message: String
        var param: String? = nil
        var code: String? = nil
    }

    /// Answers one HTTP request (on the server's loop thread; generations answer later from the engine thread).
    public func handle(_ request: HTTPRequest) -> HTTPReply {
        let path = request.target.split(separator: "?").first.map(String.init) ?? request.target
        switch (request.method, path) {
        case ("GET", "/v1/models"):
            return .response(
                HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/json")],
                    body: Self.json([
                        "object": "list",
                        "data": [model(modelName, parent: nil)]
                            + (adapters?.known ?? []).map { model($0, parent: modelName) },
                    ])))
        case ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"):
            do {
                let completion = try prepare(request.body, chat: path == "/v1/chat/completions")
                guard let payments else { return .deferred { writer in run(completion, writer: writer) } }
                return pay(completion, request: request, payments: payments)
            } catch {
                logger.debug("request refused", ["path": path, "status": "\(error.status)", "reason": error.message])
                return .response(Self.error(error))
            }
        case ("GET", _) where path.hasPrefix("/v1/requests/"):
            return .response(claimedRequest(String(path.dropFirst("/v1/requests/".count))))
        case ("GET", _) where path.hasPrefix("/v1/attribution/"):
            return .response(storedAttribution(String(path.dropFirst("/v1/attribution/".count))))
        case (_, "/v1/models"), (_, "/v1/chat/completions"), (_, "/v1/completions"):
            return .response(
                Self.error(Failure(status: 405, message: "method \(request.method) not allowed on \(path)")))
        default:
            return .response(Self.error(Failure(status: 404, message: "no route \(request.method) \(path)")))
        }
    }

    /// GET /v1/attribution/<request hash>: the whole proof of a paid answer, with the response it attributes.
    private func storedAttribution(_ text: String) -> HTTPResponse {
        guard let hash = try? Hex.decode(text), hash.count == 32 else {
            return Self.error(Failure(status: 400, message: "the request hash must be 32 bytes of 0x-hex"))
        }
        guard let payments, let encoded = payments.storedProof(hash),
            let stored = payments.storedReceipt(hash)
        else {
            return Self.error(Failure(status: 404, message: "no attribution stored for request \(Hex.encode(hash))"))
        }
        guard let proof = try? AttributionProof(encoded: encoded) else {
            return Self.error(Failure(status: 500, message: "the stored proof does not decode"))
        }
        return .init(
            status: 200, headers: [("Content-Type", "application/json")],
            body: Self.json([
                "requestHash": Hex.encode(hash), "response": String(decoding: stored.response, as: UTF8.self),
                "encoded": Hex.encode(encoded), "proof": proof.json,
            ]))
    }

    /// GET /v1/requests/<request hash>: the path and exact body of a request whose answer a claim carries, so that
    /// attesters can re-execute it.
    private func claimedRequest(_ text: String) -> HTTPResponse {
        guard let hash = try? Hex.decode(text), hash.count == 32 else {
            return Self.error(Failure(status: 400, message: "the request hash must be 32 bytes of 0x-hex"))
        }
        guard let payments, let request = payments.claimedRequest(hash) else {
            return Self.error(Failure(status: 404, message: "no claimed request \(Hex.encode(hash))"))
        }
        return .init(
            status: 200, headers: [("Content-Type", "application/json")],
            body: Self.json([
                "requestHash": Hex.encode(hash), "path": request.path,
                "body": String(decoding: request.body, as: UTF8.self),
            ]))
    }

    /// A /v1/models entry, with its price and payee when serving is paid.
    private func model(_ id: String, parent: String?) -> [String: Any] {
        var entry: [String: Any] = ["id": id, "object": "model", "created": 0, "owned_by": "openledger"]
        if let parent { entry["parent"] = parent }
        if let payments {
            let price = payments.terms.price(of: id)
            entry["openledger"] = [
                "promptWeiPerToken": price.promptWei.description,
                "completionWeiPerToken": price.completionWei.description, "payee": payments.terms.payee.checksummed,
                "chainId": String(payments.terms.chainId),
            ]
        }
        return entry
    }

    /// JSON with sorted keys and unescaped slashes, the bytes every response carries.
    static func json(_ object: Any) -> [UInt8] {
        Array(
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data())
    }

    /// An error response in OpenAI's shape: `{"error": {message, type, param, code}}`.
    static func error(_ failure: Failure) -> HTTPResponse {
        let type =
            failure.status == 429
            ? "rate_limit_error" : failure.status >= 500 ? "server_error" : "invalid_request_error"
        var object: [String: Any] = ["message": failure.message, "type": type, "code": failure.code ?? NSNull()]
        object["param"] = failure.param ?? NSNull()
        return HTTPResponse(
            status: failure.status, headers: [("Content-Type", "application/json")], body: json(["error": object]))
    }
}
