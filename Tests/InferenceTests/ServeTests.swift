import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real `openledger serve` process on the default model.
func startServer(_ extra: [String] = []) throws -> (ChildProcess, Int)? {
    guard let path = defaultModelPath() else { return nil }
    let server = try ChildProcess(
        DevnetProcess.binary, ["serve", "--free", "--model", path, "--port", "0", "--slots", "4"] + extra)
    let line = try server.firstLine()
    guard let port = Int(line.split(separator: ":").last?.split(separator: "/").first ?? "") else {
        Issue.record("no port in \(line)")
        return nil
    }
    return (server, port)
}

func errorMessage(_ body: [UInt8]) -> String {
    let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    return (object?["error"] as? [String: Any])?["message"] as? String ?? ""
}

/// The PyPI `openai` client chats with the server, streaming and not (tools/interop/openai_client.py).
@Test(.integration, .timeLimit(.minutes(5))) func theOpenAIClientChatsWithTheServer() throws {
    guard let python = Fixtures.python(), let (server, port) = try startServer() else { return }
    let client = try ChildProcess(
        python,
        [
            Fixtures.packageRoot.appendingPathComponent("tools/interop/openai_client.py").path,
            "http://127.0.0.1:\(port)/v1",
        ])
    #expect(client.wait(timeout: 240) == 0, "\(client.output.suffix(2_000)) \(client.errors.suffix(2_000))")
    #expect(client.output.contains("\"ok\": true"))
    #expect(server.process.isRunning)
}

/// Bad requests get 4xx JSON errors naming the problem; a client that leaves mid-stream stops its generation;
/// concurrent requests are all answered; the server keeps serving throughout.
@Test(.integration, .timeLimit(.minutes(5))) func badRequestsGetClearErrorsAndTheServerKeepsServing() throws {
    guard let (server, port) = try startServer(["--context", "256"]) else { return }
    func post(_ path: String, _ text: String) -> (status: Int, body: [UInt8])? {
        HTTPTestClient(port: port, timeoutSeconds: 60)?.post(Array(text.utf8), path: path)
    }
    let cases: [(String, String, Int, String)] = [
        ("/v1/chat/completions", "{not json", 400, "JSON object"),
        ("/v1/chat/completions", #"{"messages": "hi"}"#, 400, "messages"),
        ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": 5}]}"#, 400, "content"),
        ("/v1/completions", #"{"prompt": "x", "max_tokens": "10"}"#, 400, "max_tokens"),
        ("/v1/completions", #"{"prompt": "x", "stream": 1}"#, 400, "stream"),
        ("/v1/completions", #"{"prompt": "x", "temperature": 9}"#, 400, "temperature"),
        ("/v1/completions", #"{"prompt": "x", "max_tokens": 1000000000}"#, 400, "exceeds the context"),
        ("/v1/completions", #"{"prompt": "\#(String(repeating: "word ", count: 400))"}"#, 400, "context"),
        ("/v1/completions", #"{"prompt": "x", "stop": [1, 2]}"#, 400, "stop"),
        ("/v1/nothing", "{}", 404, "no route"),
    ]
    for (path, body, status, text) in cases {
        let response = try #require(post(path, body))
        #expect(response.status == status, "\(body.prefix(60))")
        #expect(errorMessage(response.body).contains(text), "\(body.prefix(60)): \(errorMessage(response.body))")
    }
    let oversized = try #require(post("/v1/completions", String(repeating: "x", count: 2 << 20)))
    #expect(oversized.status == 413)

    // A client that disconnects mid-stream: the server notices and goes on serving.
    let leaving = try #require(HTTPTestClient(port: port, timeoutSeconds: 30))
    let request = Array(#"{"prompt": "Tell me a long story", "max_tokens": 200, "stream": true}"#.utf8)
    leaving.send(
        Array("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(request.count)\r\n\r\n".utf8) + request)
    #expect(leaving.receive(upTo: 4_096)?.isEmpty == false)
    // Shut the socket down rather than close it: the client closes its descriptor itself, and closing it twice
    // could close whatever another test opened under the same number meanwhile.
    shutdown(leaving.fd, Int32(SHUT_RDWR))

    // Concurrent requests are all answered.
    let answered = Mutex<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 8) { index in
        let body = #"{"prompt": "Item \#(index):", "max_tokens": 16, "temperature": 0}"#
        if let response = HTTPTestClient(port: port, timeoutSeconds: 120)?.post(
            Array(body.utf8), path: "/v1/completions"),
            response.status == 200
        {
            answered.withLock { $0 += 1 }
        }
    }
    #expect(answered.withLock { $0 } == 8)
    let getter = try #require(HTTPTestClient(port: port))
    getter.send(Array("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
    let models = try #require(getter.readResponse())
    #expect(models.status == 200)
    #expect(server.process.isRunning)
}
