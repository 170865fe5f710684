import Foundation
import Synchronization

/// A real child process whose standard output and error are collected as they arrive; for servers started by
/// tests (the `openledger` binary or an interop script), stopped when the object goes away.
public final class ChildProcess: Sendable {
    /// The running process.
    public let process: Process
    private let stdout = TextSink()
    private let stderr = TextSink()
    private let stdin = Pipe()

    private final class TextSink: Sendable {
        let text = Mutex<(text: String, ended: Bool)>(("", false))
        /// Appends a chunk; an empty one is the end of the stream.
        func append(_ data: Data) {
            text.withLock { state in
                if data.isEmpty { state.ended = true } else { state.text += String(decoding: data, as: UTF8.self) }
            }
        }
        var value: String { text.withLock { $0.text } }
        var ended: Bool { text.withLock { $0.ended } }
    }

    /// Starts `executable` with `arguments`, collecting both output streams.
    public init(_ executable: URL, _ arguments: [String]) throws {
        // A child that exits early must not kill the test process when it is written to.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        self.process = process
        out.fileHandleForReading.readabilityHandler = { [stdout] handle in
            let data = handle.availableData
            stdout.append(data)
            if data.isEmpty { handle.readabilityHandler = nil }
        }
        err.fileHandleForReading.readabilityHandler = { [stderr] handle in
            let data = handle.availableData
            stderr.append(data)
            if data.isEmpty { handle.readabilityHandler = nil }
        }
        try process.run()
    }

    deinit { stop() }

    /// Writes `text` to the process's standard input.
    public func write(_ text: String) {
        try? stdin.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Closes the process's standard input (it reads end of file).
    public func closeInput() { try? stdin.fileHandleForWriting.close() }

    /// Everything the process has written to standard output so far.
    public var output: String { stdout.value }
    /// Everything the process has written to standard error so far.
    public var errors: String { stderr.value }

    /// The first complete line of standard output, waiting up to `timeout` seconds.
    public func firstLine(timeout: Double = patientSeconds) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = output
            if let end = text.firstIndex(of: "\n") { return String(text[..<end]) }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw NSError(
            domain: "ChildProcess", code: 1,
            userInfo: [NSLocalizedDescriptionKey: "no output line; stderr: \(errors.suffix(2_000))"])
    }

    /// Waits for the process to exit (killing it after `timeout` seconds) and for its output to be read to the
    /// end (a few seconds at most: a grandchild may hold the pipes); returns its status.
    @discardableResult
    public func wait(timeout: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { stop() }
        process.waitUntilExit()
        let drained = Date().addingTimeInterval(5)
        while !(stdout.ended && stderr.ended) && Date() < drained { usleep(5_000) }
        return process.terminationStatus
    }

    /// SIGTERM, then SIGKILL if the process is still there after two seconds.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
