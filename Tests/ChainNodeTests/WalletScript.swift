import Foundation
import TestSupport

/// Runs the interop wallet script `name` (in tools/interop) against the devnet at `port`; its exit status and its
/// standard output and error together.
func runWalletScript(_ name: String, python: URL, port: Int) throws -> (status: Int32, output: String) {
    let script = Process()
    script.executableURL = python
    script.arguments = [
        Fixtures.packageRoot.appendingPathComponent("tools/interop/\(name)").path, "--rpc", "http://127.0.0.1:\(port)",
    ]
    let pipe = Pipe()
    script.standardOutput = pipe
    script.standardError = pipe
    try script.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    script.waitUntilExit()
    return (script.terminationStatus, output)
}
