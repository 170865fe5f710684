import Foundation
import Inference
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import HTTP
@testable import Node

/// An API over the default model (`OPENLEDGER_MODEL`) with a small context and a manual clock; nil when the setup
/// has not fetched the model.
private func makeAPI(sourceLocation: SourceLocation = #_sourceLocation) throws -> OpenAIAPI? {
    guard let path = ProcessInfo.processInfo.environment["OPENLEDGER_MODEL"],
        FileManager.default.fileExists(atPath: path)
    else {
        Fixtures.reportMissing(
            "missing the default model (set OPENLEDGER_MODEL; `make test` fetches it)", sourceLocation: sourceLocation)
        return nil
    }
    let engine = InferenceEngine(model: try LlamaModel(path: path), slots: 2, contextLength: 256, threads: 2)
    return OpenAIAPI(engine: engine, modelName: "tiny-test", clock: ManualClock(), logger: .discarding)
}

private func request(_ method: String, _ path: String, _ body: String = "") -> HTTPRequest {
    HTTPRequest(method: method, target: path, headers: [], body: Array(body.utf8))
}

private func object(_ bytes: [UInt8]) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
}

/// Records what a completion writes, and signals when its reply has ended.
private final class RecordingWriter: OpenAIReplyWriter {
    struct Reply {
        var status: Int?
        var chunks: [[UInt8]] = []
        var response: HTTPResponse?
        var finished = false
    }

    let reply = Mutex(Reply())
    let ended = DispatchSemaphore(value: 0)
    var isClientGone: Bool { false }

    func respond(_ response: HTTPResponse) {
        reply.withLock { $0.response = response }
        ended.signal()
    }

    func start(status: Int, headers: [(name: String, value: String)]) { reply.withLock { $0.status = status } }

    func write(_ bytes: [UInt8]) -> Bool {
        reply.withLock { $0.chunks.append(bytes) }
        return true
    }

    func finish() {
        reply.withLock { $0.finished = true }
        ended.signal()
    }

    /// The reply once it has ended.
    func wait() -> Reply {
        ended.wait()
        return reply.withLock { $0 }
    }
}

/// Bad input gets an HTTP error in OpenAI's shape naming the problem and the parameter, before any generation.
@Test func badRequestsGetHTTPErrorsNamingTheProblem() throws {
    guard let api = try makeAPI() else { return }
    let cases: [(String, String, String, Int, String, String?)] = [
        ("POST", "/v1/chat/completions", "{not json", 400, "JSON object", nil),
        ("POST", "/v1/chat/completions", #"{"messages": "hi"}"#, 400, "messages", "messages"),
        ("POST", "/v1/chat/completions", #"{"messages": []}"#, 400, "non-empty", "messages"),
        (
            "POST", "/v1/chat/completions", #"{"messages": [{"role": "user", "content": 5}]}"#, 400, "content",
            "messages"
        ),
        (
            "POST", "/v1/chat/completions", #"{"messages": [{"role": "robot", "content": "x"}]}"#, 400, "role",
            "messages"
        ),
        ("POST", "/v1/completions", #"{"max_tokens": 5}"#, 400, "'prompt' must be a string", "prompt"),
        ("POST", "/v1/completions", #"{"prompt": 7}"#, 400, "'prompt' must be a string", "prompt"),
        ("POST", "/v1/completions", #"{"prompt": "x", "max_tokens": "10"}"#, 400, "max_tokens", "max_tokens"),
        ("POST", "/v1/completions", #"{"prompt": "x", "max_tokens": 0}"#, 400, "max_tokens", "max_tokens"),
        ("POST", "/v1/completions", #"{"prompt": "x", "stream": 1}"#, 400, "'stream' must be a bool", "stream"),
        ("POST", "/v1/completions", #"{"prompt": "x", "temperature": 9}"#, 400, "temperature", "temperature"),
        ("POST", "/v1/completions", #"{"prompt": "x", "top_p": true}"#, 400, "top_p", "top_p"),
        ("POST", "/v1/completions", #"{"prompt": "x", "seed": -1}"#, 400, "seed", "seed"),
        ("POST", "/v1/completions", #"{"prompt": "x", "max_tokens": 1000}"#, 400, "exceeds the context", "max_tokens"),
        (
            "POST", "/v1/completions", #"{"prompt": "\#(String(repeating: "word ", count: 400))"}"#, 400,
            "the context holds 256", "messages"
        ),
        ("POST", "/v1/completions", #"{"prompt": "x", "stop": [1, 2]}"#, 400, "stop", "stop"),
        ("POST", "/v1/completions", #"{"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}"#, 400, "stop", "stop"),
        ("GET", "/v1/completions", "", 405, "method GET not allowed on /v1/completions", nil),
        ("DELETE", "/v1/models", "", 405, "not allowed", nil),
        ("POST", "/v1/nothing", "{}", 404, "no route POST /v1/nothing", nil),
    ]
    for (method, path, body, status, text, param) in cases {
        guard case .response(let response) = api.handle(request(method, path, body)) else {
            Issue.record("\(method) \(path) \(body.prefix(60)): no immediate error")
            continue
        }
        #expect(response.status == status, "\(body.prefix(60))")
        #expect(response.headers.first { $0.name == "Content-Type" }?.value == "application/json")
        let error = object(response.body)["error"] as? [String: Any] ?? [:]
        let message = error["message"] as? String ?? ""
        #expect(message.contains(text), "\(body.prefix(60)): \(message)")
        #expect(error["param"] as? String == param, "\(body.prefix(60))")
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error.keys.contains("code"))
    }
}

/// GET /v1/models lists the one model.
@Test func theModelListNamesTheModel() throws {
    guard let api = try makeAPI() else { return }
    guard case .response(let response) = api.handle(request("GET", "/v1/models?x=1")) else {
        Issue.record("no response")
        return
    }
    #expect(response.status == 200)
    #expect(
        String(decoding: response.body, as: UTF8.self)
            == #"{"data":[{"created":0,"id":"tiny-test","object":"model","owned_by":"openledger"}],"object":"list"}"#)
}

/// A streamed chat completion: a role chunk, content chunks, a last chunk with the reason and the usage, then
/// `data: [DONE]`; its content is what the same request answers whole, and `created` comes from the clock.
@Test(.timeLimit(.minutes(2))) func aStreamedChatCompletionIsTheWholeOneInEvents() throws {
    guard let api = try makeAPI() else { return }
    let body = #"{"messages": [{"role": "user", "content": "Tell me a long story about the sea."}], "max_tokens": 12, "#
    let streamed = try api.prepare(Array((body + #""temperature": 0, "stream": true}"#).utf8), chat: true)
    let stream = RecordingWriter()
    api.run(streamed, writer: stream)
    let events = stream.wait()
    #expect(events.status == 200 && events.finished)
    let texts = events.chunks.map { String(decoding: $0, as: UTF8.self) }
    #expect(texts.allSatisfy { $0.hasPrefix("data: ") && $0.hasSuffix("\n\n") })
    #expect(texts.last == "data: [DONE]\n\n")
    let chunks = texts.dropLast().map { object(Array($0.dropFirst(6).utf8)) }
    #expect(chunks.count >= 3)
    let choices = chunks.map { ($0["choices"] as? [[String: Any]])?.first ?? [:] }
    #expect((choices.first?["delta"] as? [String: String]) == ["role": "assistant", "content": ""])
    let content = choices.dropFirst().compactMap { ($0["delta"] as? [String: String])?["content"] }.joined()
    let reason = try #require(choices.last?["finish_reason"] as? String)
    #expect(reason == "length" || reason == "stop")
    let usage = try #require(chunks.last?["usage"] as? [String: Int])
    let completionTokens = try #require(usage["completion_tokens"])
    #expect(completionTokens == 12 || (reason == "stop" && completionTokens < 12))
    #expect(usage["total_tokens"] == streamed.generation.prompt.count + completionTokens)
    for chunk in chunks {
        #expect(chunk["created"] as? Int == 1_700_000_000)
        #expect(chunk["model"] as? String == "tiny-test")
        #expect(chunk["object"] as? String == "chat.completion.chunk")
        #expect((chunk["id"] as? String)?.hasPrefix("chatcmpl-") == true)
    }

    let whole = try api.prepare(Array((body + #""temperature": 0}"#).utf8), chat: true)
    let writer = RecordingWriter()
    api.run(whole, writer: writer)
    let response = try #require(writer.wait().response)
    #expect(response.status == 200)
    let answer = object(response.body)
    #expect(answer["created"] as? Int == 1_700_000_000)
    #expect(answer["object"] as? String == "chat.completion")
    let choice = (answer["choices"] as? [[String: Any]])?.first ?? [:]
    #expect((choice["message"] as? [String: String])?["content"] == content)
    #expect(!content.isEmpty)
    #expect((answer["usage"] as? [String: Int]) == usage)
    #expect(choice["finish_reason"] as? String == reason)
}

/// A plain completion answers its text with `text_completion` objects, cut before a stop string.
@Test(.timeLimit(.minutes(2))) func aCompletionStopsBeforeItsStopString() throws {
    guard let api = try makeAPI() else { return }
    func body(_ fields: [String: Any]) throws -> [UInt8] {
        let all = fields.merging(["prompt": "One, two, three,", "max_tokens": 8, "temperature": 0]) { a, _ in a }
        return Array(try JSONSerialization.data(withJSONObject: all))
    }
    let free = try api.prepare(try body([:]), chat: false)
    let first = RecordingWriter()
    api.run(free, writer: first)
    let freeResponse = try #require(first.wait().response)
    let freeChoice = (object(freeResponse.body)["choices"] as? [[String: Any]])?.first ?? [:]
    let text = try #require(freeChoice["text"] as? String)
    #expect(text.count > 2)
    let stop = String(text.dropFirst(2).prefix(2))
    let stopped = try api.prepare(try body(["stop": stop]), chat: false)
    let second = RecordingWriter()
    api.run(stopped, writer: second)
    let answer = object(try #require(second.wait().response).body)
    #expect(answer["object"] as? String == "text_completion")
    let choice = (answer["choices"] as? [[String: Any]])?.first ?? [:]
    let cut = try #require(choice["text"] as? String)
    #expect(text.hasPrefix(cut) && !cut.contains(stop) && cut.count < text.count)
    #expect(choice["finish_reason"] as? String == "stop")
}
