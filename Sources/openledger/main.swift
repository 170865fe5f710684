import Foundation

/// The version printed by `openledger --version`.
let openledgerVersion = "0.1.0"

var output = CommandOutput(
    write: { FileHandle.standardOutput.write(Data($0.utf8)) },
    writeError: { FileHandle.standardError.write(Data($0.utf8)) }
)
let cli = CommandLineInterface(root: Commands.root, version: openledgerVersion)
exit(cli.run(Array(CommandLine.arguments.dropFirst()), output: &output))
