import Foundation
import HTTP
import Inference

/// `openledger serve`: an OpenAI-compatible HTTP API over the inference engine — POST /v1/chat/completions and
/// /v1/completions (with `stream: true`, server-sent events ending in `data: [DONE]`), GET /v1/models.
enum ServeCommand {
    static let command = CommandSpec(
        name: "serve", summary: "Serve the model over an OpenAI-compatible HTTP API.",
        options: [
            InferCommand.modelOption,
            OptionSpec(name: "host", valueName: "ADDRESS", help: "Address to listen on.", defaultValue: "127.0.0.1"),
            OptionSpec(name: "port", valueName: "PORT", help: "Port (0 picks one).", defaultValue: "8080"),
            OptionSpec(name: "slots", valueName: "N", help: "Generations running at once.", defaultValue: "4"),
            OptionSpec(name: "context", valueName: "N", help: "Context length per generation.", defaultValue: "2048"),
            OptionSpec(name: "threads", valueName: "N", help: "Threads for the matrix products.", defaultValue: "2"),
            OptionSpec(name: "queue", valueName: "N", help: "Requests waiting at most (then 429).", defaultValue: "64"),
        ],
        action: { arguments, output throws(CLIError) in
            let model = try InferCommand.loadModel(arguments)
            let port = try arguments.int("port", in: 0...65_535) ?? 8_080
            let engine = InferenceEngine(
                model: model, slots: try arguments.int("slots", in: 1...256) ?? 4,
                contextLength: try arguments.int("context", in: 16...1_048_576) ?? 2_048,
                threads: try arguments.int("threads", in: 1...256) ?? 2,
                queueLimit: try arguments.int("queue", in: 1...100_000) ?? 64)
            let api = OpenAIAPI(engine: engine, modelName: modelName(arguments))
            var limits = HTTPLimits()
            limits.maxBodyBytes = 1 << 20
            limits.requestTimeout = 30
            let server: HTTPServer
            do {
                server = try HTTPServer(
                    host: arguments.string("host") ?? "127.0.0.1", port: port, limits: limits, replying: api.handle)
            } catch {
                throw .failure("\(error)")
            }
            output.line("OpenAI-compatible API on http://\(arguments.string("host") ?? "127.0.0.1"):\(server.port)/v1")
            output.line("Model: \(api.modelName) (\(model.config.layers) layers, context \(engine.contextLength))")
            DevnetCommand.waitForTermination()
            server.stop()
        })

    static func modelName(_ arguments: ParsedArguments) -> String {
        let path = arguments.string("model") ?? InferCommand.defaultModelPath()
        return URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }
}

/// The OpenAI-compatible request handling: validation, prompt building, and responses (whole or streamed).
struct OpenAIAPI: Sendable {
    let engine: InferenceEngine
    let modelName: String

    struct Failure: Error {
        let status: Int
        let message: String
        var param: String? = nil
    }

    static func json(_ object: Any) -> [UInt8] {
        Array(
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data())
    }

    static func error(_ failure: Failure) -> HTTPResponse {
        let type =
            failure.status == 429
            ? "rate_limit_error" : failure.status >= 500 ? "server_error" : "invalid_request_error"
        var object: [String: Any] = ["message": failure.message, "type": type, "code": NSNull()]
        object["param"] = failure.param ?? NSNull()
        return HTTPResponse(
            status: failure.status, headers: [("Content-Type", "application/json")], body: json(["error": object]))
    }

    func handle(_ request: HTTPRequest) -> HTTPReply {
        let path = request.target.split(separator: "?").first.map(String.init) ?? request.target
        switch (request.method, path) {
        case ("GET", "/v1/models"):
            return .response(
                HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/json")],
                    body: Self.json([
                        "object": "list",
                        "data": [["id": modelName, "object": "model", "created": 0, "owned_by": "openledger"]],
                    ])))
        case ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"):
            do {
                return try complete(request, chat: path == "/v1/chat/completions")
            } catch let failure as Failure {
                return .response(Self.error(failure))
            } catch {
                return .response(Self.error(Failure(status: 500, message: "\(error)")))
            }
        case (_, "/v1/models"), (_, "/v1/chat/completions"), (_, "/v1/completions"):
            return .response(
                Self.error(Failure(status: 405, message: "method \(request.method) not allowed on \(path)")))
        default:
            return .response(Self.error(Failure(status: 404, message: "no route \(request.method) \(path)")))
        }
    }

    /// JSON booleans come back from JSONSerialization as NSNumbers of type "c"; numbers are "i", "q" or "d".
    static func isBoolean(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    private func field<T>(_ body: [String: Any], _ name: String, _ type: T.Type) throws -> T? {
        guard let value = body[name], !(value is NSNull) else { return nil }
        guard let typed = value as? T, (T.self == Bool.self) == Self.isBoolean(value) else {
            throw Failure(
                status: 400,
                message: "'\(name)' must be a \(T.self == String.self ? "string" : "\(T.self)".lowercased())",
                param: name)
        }
        return typed
    }

    private func number(_ body: [String: Any], _ name: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = body[name], !(value is NSNull) else { return nil }
        guard !Self.isBoolean(value), let number = value as? NSNumber,
            range.contains(number.doubleValue)
        else {
            throw Failure(
                status: 400, message: "'\(name)' must be a number in \(range.lowerBound)...\(range.upperBound)",
                param: name)
        }
        return number.doubleValue
    }

    private func complete(_ request: HTTPRequest, chat: Bool) throws -> HTTPReply {
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)),
            let body = object as? [String: Any]
        else { throw Failure(status: 400, message: "the body must be a JSON object") }
        let tokenizer = engine.model.tokenizer
        var prompt: [Int32]
        if chat {
            guard let messages = body["messages"] as? [[String: Any]], !messages.isEmpty else {
                throw Failure(
                    status: 400, message: "'messages' must be a non-empty array of {role, content}", param: "messages")
            }
            var parsed: [ChatTemplate.Message] = []
            for message in messages {
                guard let role = message["role"] as? String, ["system", "user", "assistant"].contains(role),
                    let content = message["content"] as? String
                else {
                    throw Failure(
                        status: 400, message: "each message needs a role (system, user, assistant) and string content",
                        param: "messages")
                }
                parsed.append(.init(role: role, content: content))
            }
            let template: ChatTemplate
            do {
                template = try ChatTemplate(template: engine.model.chatTemplate)
            } catch {
                throw Failure(status: 500, message: "\(error)")
            }
            prompt = tokenizer.encode(template.render(parsed), addSpecial: true, parseSpecial: true)
        } else {
            guard let text = try field(body, "prompt", String.self) else {
                throw Failure(status: 400, message: "'prompt' must be a string", param: "prompt")
            }
            prompt = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            if prompt.isEmpty, let bos = tokenizer.bos { prompt = [bos] }
        }
        guard !prompt.isEmpty else { throw Failure(status: 400, message: "the prompt is empty", param: "prompt") }
        let maxTokens = Int(try number(body, "max_tokens", in: 1...1e9) ?? 256)
        let temperature = Float(try number(body, "temperature", in: 0...2) ?? 1)
        let topP = Float(try number(body, "top_p", in: 0...1) ?? 1)
        let seed = UInt64(try number(body, "seed", in: 0...9.007e15) ?? 0)
        let stream = try field(body, "stream", Bool.self) ?? false
        var stop: [String] = []
        if let value = body["stop"], !(value is NSNull) {
            if let single = value as? String {
                stop = [single]
            } else if let list = value as? [String], list.count <= 4 {
                stop = list
            } else {
                throw Failure(status: 400, message: "'stop' must be a string or up to 4 strings", param: "stop")
            }
        }
        guard prompt.count < engine.contextLength else {
            throw Failure(
                status: 400,
                message: "the prompt has \(prompt.count) tokens; the context holds \(engine.contextLength)",
                param: "messages")
        }
        guard prompt.count + maxTokens <= engine.contextLength else {
            throw Failure(
                status: 400,
                message:
                    "max_tokens \(maxTokens) + \(prompt.count) prompt tokens exceeds the context of \(engine.contextLength)",
                param: "max_tokens")
        }
        let generationRequest = InferenceEngine.Request(
            prompt: prompt, maxTokens: maxTokens,
            sampler: Sampler(temperature: temperature, topK: 0, topP: topP, minP: 0, seed: seed), stop: stop)
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = Int(Date().timeIntervalSince1970)
        let engine = self.engine
        let model = modelName
        // Refuse at once when the queue is full, before any reply has started.
        let load = engine.load
        guard load.waiting < engine.queueLimit else {
            throw Failure(status: 429, message: "too many requests waiting (\(load.waiting)); retry later")
        }
        return .deferred { writer in
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
            if stream {
                writer.start(
                    status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
                if chat {
                    var first = chunk(nil, finish: nil)
                    first["choices"] = [
                        ["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]
                    ]
                    writer.write(Array("data: ".utf8) + Self.json(first) + Array("\n\n".utf8))
                }
            }
            do {
                try engine.submit(generationRequest) { event in
                    switch event {
                    case .text(let delta):
                        guard stream else { return !writer.isClientGone }
                        return writer.write(
                            Array("data: ".utf8) + Self.json(chunk(delta, finish: nil)) + Array("\n\n".utf8))
                    case .finished(let result):
                        let usage: [String: Any] = [
                            "prompt_tokens": result.promptTokens.count, "completion_tokens": result.tokens.count,
                            "total_tokens": result.promptTokens.count + result.tokens.count,
                        ]
                        let reason = result.finishReason == "length" ? "length" : "stop"
                        if stream {
                            var last = chunk(nil, finish: reason)
                            last["usage"] = usage
                            writer.write(Array("data: ".utf8) + Self.json(last) + Array("\n\n".utf8))
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
                        if stream {
                            writer.write(
                                Array("data: ".utf8)
                                    + Self.json(["error": ["message": "\(error)", "type": "server_error"]])
                                    + Array("\n\n".utf8))
                            writer.finish()
                        } else {
                            writer.respond(Self.error(Failure(status: 500, message: "\(error)")))
                        }
                        return false
                    }
                }
            } catch let error as InferenceEngine.SubmitError {
                let failure: Failure =
                    switch error {
                    case .busy(let waiting):
                        Failure(status: 429, message: "too many requests waiting (\(waiting)); retry later")
                    case .tooLong(let why): Failure(status: 400, message: why, param: "max_tokens")
                    }
                if stream {
                    writer.write(
                        Array("data: ".utf8) + Self.json(["error": ["message": failure.message]]) + Array("\n\n".utf8))
                    writer.finish()
                } else {
                    writer.respond(Self.error(failure))
                }
            } catch {
                writer.respond(Self.error(Failure(status: 500, message: "\(error)")))
            }
        }
    }
}
