import Foundation
import Inference

extension OpenAIAPI {
    /// A validated completion request, ready to run: what to generate and how to answer.
    struct Completion: Sendable {
        /// /v1/chat/completions (messages in, a message out) rather than /v1/completions.
        let chat: Bool
        /// Answer with server-sent events as tokens come.
        let stream: Bool
        /// The prompt's tokens, limits, sampler and stop strings.
        var generation: GenerationRequest
        /// The response's id (`chatcmpl-…` or `cmpl-…`).
        let id: String
        /// The response's `created` field, seconds since the epoch.
        let created: Int
        /// The response's `model` field: the base model's name or the adapter the request named.
        var model: String = ""
        /// The adapters to stack, by name, with their scales (loaded through the cache when the request runs).
        var adapters: [(name: String, scale: Float)] = []
        /// The accepted voucher of a paid request: its answer gets a signed receipt.
        var ticket: PaymentGate.Ticket?
    }

    /// Parses and checks a request body against the model and the context; refuses at once when the queue is full,
    /// before any reply has started.
    func prepare(_ body: [UInt8], chat: Bool) throws(Failure) -> Completion {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)),
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
        let generation = GenerationRequest(
            prompt: prompt, maxTokens: maxTokens,
            sampler: Sampler(temperature: temperature, topK: 0, topP: topP, minP: 0, seed: seed), stop: stop)
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = Int(clock.wallNow().secondsSinceEpoch)
        let load = engine.load
        guard load.waiting < engine.queueLimit else {
            throw Failure(status: 429, message: "too many requests waiting (\(load.waiting)); retry later")
        }
        var completion = Completion(chat: chat, stream: stream, generation: generation, id: id, created: created)
        (completion.model, completion.adapters) = try adapterChoice(body)
        return completion
    }

    /// The adapters a request asks for, and the model name its response carries.
    ///
    /// Its `model` names an adapter (or the base model); then come the entries of the `lora` extension field
    /// (`[{"name": …, "scale": …}]`, as llama-server's per-request `lora`). An unknown adapter is a 404 naming it.
    func adapterChoice(_ body: [String: Any]) throws(Failure) -> (
        model: String, adapters: [(name: String, scale: Float)]
    ) {
        var chosen: [(name: String, scale: Float)] = []
        func check(_ name: String, param: String) throws(Failure) {
            guard adapters?.accepts(name) == true else {
                throw Failure(
                    status: 404, message: "The model or adapter '\(name)' does not exist", param: param,
                    code: "model_not_found")
            }
        }
        var model = modelName
        if let name = try field(body, "model", String.self), !name.isEmpty, name != modelName {
            try check(name, param: "model")
            chosen.append((name, 1))
            model = name
        }
        if let value = body["lora"], !(value is NSNull) {
            guard let list = value as? [Any], list.count <= 16 else {
                throw Failure(status: 400, message: "'lora' must be an array of {name, scale}", param: "lora")
            }
            for item in list {
                guard let entry = item as? [String: Any], let name = entry["name"] as? String else {
                    throw Failure(status: 400, message: "each 'lora' entry needs a string name", param: "lora")
                }
                let scale = try number(entry, "scale", in: -100...100) ?? 1
                try check(name, param: "lora")
                chosen.append((name, Float(scale)))
            }
        }
        return (model, chosen)
    }

    /// JSON booleans come back from JSONSerialization as NSNumbers of type "c"; numbers are "i", "q" or "d".
    static func isBoolean(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    /// The field `name` as a `T`, nil when absent or null; a 400 naming it when it has another type.
    private func field<T>(_ body: [String: Any], _ name: String, _ type: T.Type) throws(Failure) -> T? {
        guard let value = body[name], !(value is NSNull) else { return nil }
        guard let typed = value as? T, (T.self == Bool.self) == Self.isBoolean(value) else {
            throw Failure(
                status: 400,
                message: "'\(name)' must be a \(T.self == String.self ? "string" : "\(T.self)".lowercased())",
                param: name)
        }
        return typed
    }

    /// The number `name`, nil when absent or null; a 400 naming it when it is not a number in `range`.
    private func number(_ body: [String: Any], _ name: String, in range: ClosedRange<Double>) throws(Failure) -> Double?
    {
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
}
