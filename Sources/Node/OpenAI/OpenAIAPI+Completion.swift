import AttributionRules
import Foundation
import HTTP
import Inference
import Synchronization

/// Where a completion's reply goes: the HTTP server's stream writer, or a test's recorder.
protocol OpenAIReplyWriter: Sendable {
    /// True once the client has disconnected.
    var isClientGone: Bool { get }
    /// Sends a whole response and ends the reply.
    func respond(_ response: HTTPResponse)
    /// Starts a chunked response.
    func start(status: Int, headers: [(name: String, value: String)])
    /// Sends one chunk; false once the client has gone.
    @discardableResult func write(_ bytes: [UInt8]) -> Bool
    /// Ends a chunked response.
    func finish()
}

extension HTTPStreamWriter: OpenAIReplyWriter {}

extension OpenAIAPI {
    /// Runs a prepared completion on the engine and writes its reply: one JSON response, or server-sent events
    /// (a chunk per text delta, a last chunk with the finish reason and usage, then `data: [DONE]`).
    func run(_ completion: Completion, writer: any OpenAIReplyWriter) {
        guard !completion.adapters.isEmpty, let cache = adapters else {
            run(completion, leases: [], writer: writer)
            return
        }
        // A cold adapter is read from disk: off the server's loop thread.
        DispatchQueue.global().async {
            var leases: [AdapterLease] = []
            do throws(LoRAError) {
                for entry in completion.adapters { leases.append(try cache.acquire(entry.name)) }
            } catch {
                let failure: Failure =
                    switch error {
                    case .unknownAdapter(let name):
                        Failure(
                            status: 404, message: "The model or adapter '\(name)' does not exist", param: "model",
                            code: "model_not_found")
                    case .unavailable: Failure(status: 503, message: "\(error)", code: "adapter_unavailable")
                    case .baseMismatch:
                        Failure(status: 400, message: "\(error)", param: "model", code: "adapter_mismatch")
                    default: Failure(status: 500, message: "\(error)")
                    }
                logger.debug("adapter refused", ["id": completion.id, "reason": failure.message])
                writer.respond(Self.error(failure))
                return
            }
            run(completion, leases: leases, writer: writer)
        }
    }

    /// The same with the adapters loaded; the leases live as long as the generation, so the cache keeps them.
    private func run(_ prepared: Completion, leases: [AdapterLease], writer: any OpenAIReplyWriter) {
        var completion = prepared
        completion.generation.adapters = zip(leases, completion.adapters).map { LoRAUse($0.adapter, scale: $1.scale) }
        let chat = completion.chat
        let stream = completion.stream
        let id = completion.id
        let created = completion.created
        let model = completion.model.isEmpty ? modelName : completion.model
        let logger = self.logger
        @Sendable func chunk(_ delta: String?, finish: String?) -> [String: Any] {
            var choice: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull()]
            if chat {
                choice["delta"] = delta.map { ["content": $0] } ?? [:]
            } else {
                choice["text"] = delta ?? ""
                choice["logprobs"] = NSNull()
            }
            return [
                "id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                "model": model, "choices": [choice],
            ]
        }
        @Sendable func event(_ object: Any) -> [UInt8] { Array("data: ".utf8) + Self.json(object) + Array("\n\n".utf8) }
        let ticket = completion.ticket
        let payments = self.payments
        let sampler = completion.generation.sampler
        let promptCount = completion.generation.prompt.count
        let produced = Mutex<(text: String, tokens: Int)>(("", 0))
        /// Signs the receipt of a paid answer; nil for a free one (or when the ledger failed, logged).
        let attribution = self.attribution
        @Sendable func settle(text: String, completionTokens: Int, proof: AttributionProof? = nil)
            -> PaymentGate.Settlement?
        {
            guard let ticket, let payments else { return nil }
            do {
                return try payments.finish(
                    ticket, response: text, promptTokens: promptCount, completionTokens: completionTokens,
                    temperature: sampler.temperature, topP: sampler.topP, topK: sampler.topK, seed: sampler.seed,
                    proof: proof)
            } catch {
                logger.error("receipt not stored", ["id": id, "error": "\(error)"])
                return nil
            }
        }
        if stream {
            writer.start(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
            if chat {
                var first = chunk(nil, finish: nil)
                first["choices"] = [
                    ["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]
                ]
                writer.write(event(first))
            }
        }
        /// Answers a finished generation: its receipt (paid) and attribution (when the model has a snapshot).
        @Sendable func complete(_ result: Generation) {
            let usage: [String: Any] = [
                "prompt_tokens": result.promptTokens.count, "completion_tokens": result.tokens.count,
                "total_tokens": result.promptTokens.count + result.tokens.count,
            ]
            let reason = result.finishReason == .length ? "length" : "stop"
            counters.finished(tokens: result.tokens.count)
            let proof = attribution?.proof(for: Array(result.text.utf8), model: model)
            let settlement = settle(text: result.text, completionTokens: result.tokens.count, proof: proof)
            var fields: [String: Any] = settlement.map { Self.paymentFields($0) } ?? [:]
            if let proof { fields["attribution"] = AnswerAttribution.summary(proof) }
            logger.debug(
                "completion finished",
                [
                    "id": id, "finish": result.finishReason.rawValue,
                    "prompt_tokens": "\(result.promptTokens.count)",
                    "completion_tokens": "\(result.tokens.count)",
                ])
            if stream {
                var last = chunk(nil, finish: reason)
                last["usage"] = usage
                if !fields.isEmpty { last["openledger"] = fields }
                writer.write(event(last))
                writer.write(Array("data: [DONE]\n\n".utf8))
                writer.finish()
            } else {
                var choice: [String: Any] = ["index": 0, "finish_reason": reason]
                if chat {
                    choice["message"] = ["role": "assistant", "content": result.text]
                } else {
                    choice["text"] = result.text
                    choice["logprobs"] = NSNull()
                }
                var body: [String: Any] = [
                    "id": id, "object": chat ? "chat.completion" : "text_completion",
                    "created": created, "model": model, "choices": [choice], "usage": usage,
                ]
                var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
                if !fields.isEmpty { body["openledger"] = fields }
                if let settlement { headers.append((SignedReceipt.headerName, settlement.receipt.headerValue)) }
                writer.respond(HTTPResponse(status: 200, headers: headers, body: Self.json(body)))
            }
        }
        do {
            try engine.submit(completion.generation) { update in
                withExtendedLifetime(leases) {}
                switch update {
                case .text(let delta):
                    if ticket != nil { produced.withLock { $0.text += delta } }
                    guard stream else { return !writer.isClientGone }
                    return writer.write(event(chunk(delta, finish: nil)))
                case .finished(let result):
                    // Attribution searches the snapshot: off the engine's thread, which other generations share.
                    if attribution != nil {
                        DispatchQueue.global().async { complete(result) }
                    } else {
                        complete(result)
                    }
                    return true
                case .failed(let error):
                    logger.debug("completion failed", ["id": id, "error": "\(error)"])
                    let partial = produced.withLock { $0 }
                    _ = settle(text: partial.text, completionTokens: partial.tokens)
                    if stream {
                        writer.write(event(["error": ["message": "\(error)", "type": "server_error"]]))
                        writer.finish()
                    } else {
                        writer.respond(Self.error(Failure(status: 500, message: "\(error)")))
                    }
                    return false
                }
            }
        } catch {
            let failure: Failure =
                switch error {
                case .busy(let waiting):
                    Failure(status: 429, message: "too many requests waiting (\(waiting)); retry later")
                case .tooLong(let why): Failure(status: 400, message: why, param: "max_tokens")
                }
            logger.debug("completion refused", ["id": id, "status": "\(failure.status)", "reason": failure.message])
            _ = settle(text: "", completionTokens: 0)
            if stream {
                writer.write(event(["error": ["message": failure.message]]))
                writer.finish()
            } else {
                writer.respond(Self.error(failure))
            }
        }
    }
}

extension OpenAIAPI {
    /// The `openledger` field of a paid answer: the signed receipt and the channel's account after it.
    static func paymentFields(_ settlement: PaymentGate.Settlement) -> [String: Any] {
        [
            "receipt": settlement.receipt.object,
            "payment": [
                "cost": settlement.cost.description, "price": settlement.receipt.receipt.price.description,
                "spent": settlement.credit.spent.description, "authorized": settlement.credit.authorized.description,
            ],
        ]
    }
}
