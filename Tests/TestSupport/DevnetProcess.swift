import Foundation
import Runtime
import Synchronization

/// A real `openledger devnet` process (the binary built beside the test bundle) on a free port and a private data directory.
public final class DevnetProcess: @unchecked Sendable {
    /// The node's process.
    public let process = Process()
    /// The node's data directory.
    public let dataDirectory: String
    /// The RPC port the node printed once it started.
    public private(set) var port = 0
    private let output = OutputBuffer()

    private final class OutputBuffer: Sendable {
        let text = Mutex<String>("")
        func withLock<R>(_ body: (inout String) -> R) -> R { text.withLock { body(&$0) } }
    }

    /// The `openledger` executable beside the test bundle.
    public static var binary: URL {
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("openledger")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("openledger")
    }

    /// A new empty temporary directory named after `name`, the pid and a random number.
    public static func temporaryDirectory(_ name: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "openledger-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts the node and waits until it prints its RPC URL.
    public init(dataDirectory: String, blockTime: String = "100ms") throws {
        self.dataDirectory = dataDirectory
        process.executableURL = Self.binary
        process.arguments = [
            "devnet", "--data-dir", dataDirectory, "--rpc-port", "0", "--block-time", blockTime,
            "--config", Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        let clock = SystemClock()
        let deadline = clock.now().advanced(bySeconds: patientSeconds)
        while clock.now() < deadline {
            let text = output.withLock { $0 }
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RPC URL:") }),
                let port = Int(line.split(separator: ":").last ?? "")
            {
                self.port = port
                return
            }
            if !process.isRunning { break }
            clock.sleep(seconds: 0.02)
        }
        process.terminate()
        throw NSError(
            domain: "devnet", code: 1,
            userInfo: [NSLocalizedDescriptionKey: "devnet did not start: \(output.withLock { $0 })"])
    }

    /// Everything the node has printed to standard output so far.
    public var printed: String { output.withLock { $0 } }

    /// Kills the process without warning.
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Asks the process to stop as Ctrl-C would; returns its exit status.
    public func interrupt() -> Int32 {
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension DevnetProcess {
    /// Runs the `openledger` binary to completion: exit status, standard output and standard error.
    public static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }
}
