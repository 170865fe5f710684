import Foundation
import HTTP
import Inference

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
        do {
            try engine.submit(completion.generation) { update in
                withExtendedLifetime(leases) {}
                switch update {
                case .text(let delta):
                    guard stream else { return !writer.isClientGone }
                    return writer.write(event(chunk(delta, finish: nil)))
                case .finished(let result):
                    let usage: [String: Any] = [
                        "prompt_tokens": result.promptTokens.count, "completion_tokens": result.tokens.count,
                        "total_tokens": result.promptTokens.count + result.tokens.count,
                    ]
                    let reason = result.finishReason == .length ? "length" : "stop"
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
                        writer.respond(
                            HTTPResponse(
                                status: 200, headers: [("Content-Type", "application/json")],
                                body: Self.json([
                                    "id": id, "object": chat ? "chat.completion" : "text_completion",
                                    "created": created, "model": model, "choices": [choice], "usage": usage,
                                ])))
                    }
                    return true
                case .failed(let error):
                    logger.debug("completion failed", ["id": id, "error": "\(error)"])
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
            if stream {
                writer.write(event(["error": ["message": failure.message]]))
                writer.finish()
            } else {
                writer.respond(Self.error(failure))
            }
        }
    }
}
