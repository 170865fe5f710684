import Foundation
import Runtime
import TestSupport
import Testing

@testable import HTTP

@Test func parserReadsRequestsAndRefusesBadOnes() {
    let limits = HTTPLimits()
    let request = Array("POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".utf8)
    guard case .request(let parsed, let consumed, let keepAlive) = HTTPParser.parse(request, limits: limits) else {
        Issue.record("request not parsed")
        return
    }
    #expect(parsed.method == "POST" && parsed.target == "/rpc" && parsed.body == Array("hello".utf8))
    #expect(consumed == request.count && keepAlive)
    guard case .needMore = HTTPParser.parse(Array(request.dropLast()), limits: limits) else {
        Issue.record("partial body must wait")
        return
    }
    let cases: [(String, Int)] = [
        ("GET / HTTP/2.0\r\n\r\n", 505), ("BROKEN\r\n\r\n", 400), ("POST / HTTP/1.1\r\n\r\n", 411),
        ("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413), ("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    ]
    for (text, status) in cases {
        guard case .reject(let response) = HTTPParser.parse(Array(text.utf8), limits: limits) else {
            Issue.record("\(text.debugDescription) was not rejected")
            continue
        }
        #expect(response.status == status, "\(text.debugDescription)")
    }
    guard case .reject(let tooLong) = HTTPParser.parse([UInt8](repeating: 0x41, count: 20_000), limits: limits) else {
        Issue.record("header without end not rejected")
        return
    }
    #expect(tooLong.status == 431)
}

@Test func serverAnswersPipelinedKeepAliveRequestsInOrder() throws {
    let server = try HTTPServer(port: 0) { request in
        HTTPResponse(status: 200, body: request.body.reversed())
    }
    defer { server.stop() }
    let client = try #require(HTTPTestClient(port: server.port))
    var pipelined: [UInt8] = []
    for word in ["one", "two", "three"] {
        pipelined += Array("POST / HTTP/1.1\r\nContent-Length: \(word.utf8.count)\r\n\r\n\(word)".utf8)
    }
    #expect(client.send(pipelined))
    for word in ["one", "two", "three"] {
        #expect(client.readResponse()?.body == Array(word.utf8.reversed()))
    }
    // The blocking client of the module talks to it too.
    let http = HTTPClient(host: "127.0.0.1", port: server.port)
    #expect(try http.post(body: Array("abc".utf8)).body == Array("cba".utf8))
    #expect(try http.post(body: Array("xyz".utf8)).body == Array("zyx".utf8))
}

@Test func serverClosesSlowClientsAndKeepsServingOthers() throws {
    var limits = HTTPLimits()
    limits.requestTimeout = 2
    let server = try HTTPServer(port: 0, limits: limits) { _ in HTTPResponse(status: 200, body: [1]) }
    defer { server.stop() }
    let slow = try #require(HTTPTestClient(port: server.port, timeoutSeconds: 60))
    #expect(slow.send(Array("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".utf8)))
    let other = try #require(HTTPTestClient(port: server.port))
    #expect(other.post([])?.status == 200)
    // The slow one is dropped after its request timeout: the server closes it (a read timeout would be false).
    #expect(slow.waitForClose())
    #expect(other.post([])?.status == 200)
}

@Test func connectionCapRefusesTheExcess() throws {
    var limits = HTTPLimits()
    limits.maxConnections = 4
    let server = try HTTPServer(port: 0, limits: limits) { _ in HTTPResponse(status: 200) }
    defer { server.stop() }
    let held = (0..<4).compactMap { _ in HTTPTestClient(port: server.port) }
    #expect(held.count == 4)
    // Each answered once: all four are accepted and counted before the excess one connects.
    for client in held { #expect(client.post([])?.status == 200) }
    #expect(server.connectionCount == 4)
    let excess = try #require(HTTPTestClient(port: server.port))
    #expect(excess.readResponse()?.status == 503)
    #expect(held[0].post([])?.status == 200)
}

/// A client that sends far more than it reads is held back (its reads pause) without stalling others, and
/// still receives every response in order once it reads.
@Test(.timeLimit(.minutes(3))) func backpressureHoldsAFloodingClientWithoutStallingOthers() async throws {
    let server = try HTTPServer(port: 0) { request in
        HTTPResponse(status: 200, body: request.body + [UInt8](repeating: 0x2E, count: 64 * 1024))
    }
    defer { server.stop() }
    let flood = try #require(HTTPTestClient(port: server.port))
    var requests: [UInt8] = []
    for index in 0..<200 {
        let body = Array(String(format: "%03d", index).utf8)
        requests += Array("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n".utf8) + body
    }
    let payload = requests
    let sender = Thread { flood.send(payload) }
    sender.start()
    await server.waitUntilBackpressured()
    let other = try #require(HTTPTestClient(port: server.port))
    #expect(other.post(Array("abc".utf8))?.status == 200)
    for index in 0..<200 {
        let response = flood.readResponse()
        #expect(response?.body.prefix(3) == Array(String(format: "%03d", index).utf8)[...], "response \(index)")
    }
}

/// Deferred and streamed replies completed from other threads reach the loop in order: a pipelined request waits
/// for the reply before it, and the chunks arrive as written.
@Test(.timeLimit(.minutes(3))) func deferredAndStreamedRepliesFromOtherThreadsKeepPipelinedOrder() throws {
    let server = try HTTPServer(port: 0) { request in
        switch request.target {
        case "/later":
            return .deferred { writer in Thread { writer.respond(HTTPResponse(status: 201, body: [7])) }.start() }
        case "/stream":
            return .deferred { writer in
                Thread {
                    writer.start(status: 200, headers: [("Content-Type", "text/event-stream")])
                    for word in ["alpha", "b", "gamma"] { writer.write(Array(word.utf8)) }
                    writer.finish()
                }.start()
            }
        default:
            return .response(HTTPResponse(status: 200, body: request.body))
        }
    }
    defer { server.stop() }
    let client = try #require(HTTPTestClient(port: server.port))
    let requests =
        "POST /later HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + "POST /stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        + "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 4\r\n\r\nlast"
    #expect(client.send(Array(requests.utf8)))
    var received: [UInt8] = []
    while let chunk = client.receive(upTo: 65_536), !chunk.isEmpty { received += chunk }
    let expected =
        HTTPResponse(status: 201, body: [7]).serialized(keepAlive: true)
        + Array(
            ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                + "Connection: keep-alive\r\n\r\n5\r\nalpha\r\n1\r\nb\r\n5\r\ngamma\r\n0\r\n\r\n").utf8)
        + HTTPResponse(status: 200, body: Array("last".utf8)).serialized(keepAlive: false)
    #expect(String(decoding: received, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
}

/// The timeout sweep is a loop timer on the server's clock: an idle connection is closed once the injected clock
/// passes the idle timeout, with no real minute going by.
@Test(.timeLimit(.minutes(3))) func idleConnectionsCloseWhenTheInjectedClockPassesTheIdleTimeout() throws {
    let clock = ManualClock()
    var limits = HTTPLimits()
    limits.idleTimeout = 60
    let server = try HTTPServer(port: 0, limits: limits, clock: clock) { _ in .response(HTTPResponse(status: 200)) }
    defer { server.stop() }
    let idle = try #require(HTTPTestClient(port: server.port, timeoutSeconds: 20))
    #expect(idle.post([])?.status == 200)
    clock.advance(seconds: 61)
    #expect(idle.waitForClose())
}
