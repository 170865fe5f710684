import EventLoop
import Foundation

/// The version printed by `openledger --version`.
let openledgerVersion = "0.1.0"

var output = CommandOutput(
    write: { FileHandle.standardOutput.write(Data($0.utf8)) },
    writeError: { FileHandle.standardError.write(Data($0.utf8)) }
)
let cli = CommandLineInterface(root: Commands.root, version: openledgerVersion)
let arguments = Array(CommandLine.arguments.dropFirst())
if SimCommand.runsSimulation(arguments) { Syscall.restartWithHugePages() }
SimCommand.processExitsAfterCommand = true
let status = cli.run(arguments, output: &output)
// Benchmarks measure a command's own peak memory this way (VmHWM), free of the parent's image.
if ProcessInfo.processInfo.environment["OPENLEDGER_REPORT_PEAK_RSS"] != nil,
    let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
{
    output.errorLine("peak_rss_kb=\(line.split(separator: " ").dropFirst().first ?? "0")")
}
exit(status)
