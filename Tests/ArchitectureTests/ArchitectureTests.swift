import Foundation
import TestSupport
import Testing

/// The module graph as `Package.swift` declares it: each non-test target and the targets it depends on.
struct PackageGraph {
    var dependencies: [String: Set<String>] = [:]
    var systemLibraries: Set<String> = []

    /// Reads `Package.swift` as text: every `.target(`, `.executableTarget(` and `.systemLibrary(` with its name and
    /// dependency list (test targets are left out).
    init(manifest: String) {
        let pattern =
            #/
            \.(target|executableTarget|systemLibrary)\(\s*name:\s*"([A-Za-z0-9]+)"
            (?:,\s*dependencies:\s*\[([^\]]*)\])?
            /#
        for match in manifest.matches(of: pattern) {
            let name = String(match.2)
            if match.1 == "systemLibrary" { systemLibraries.insert(name) }
            let listed = match.3.map { String($0) } ?? ""
            dependencies[name] = Set(listed.matches(of: #/"([A-Za-z0-9]+)"/#).map { String($0.1) })
        }
    }

    /// Every target reachable from `name` through dependencies, `name` excluded.
    func closure(of name: String) -> Set<String> {
        var seen: Set<String> = []
        var stack = Array(dependencies[name] ?? [])
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += dependencies[next] ?? []
        }
        return seen
    }
}

/// The module table of `docs/architecture.md`: rows `| `Target` | `Dep`, `Dep` | … |`.
func documentedGraph(_ text: String) -> [String: Set<String>] {
    var graph: [String: Set<String>] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("| `") {
        let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard cells.count >= 4, let name = cells[1].matches(of: #/`([A-Za-z0-9]+)`/#).first?.1 else { continue }
        graph[String(name)] = Set(cells[2].matches(of: #/`([A-Za-z0-9]+)`/#).map { String($0.1) })
    }
    return graph
}

private func read(_ relative: String) throws -> String {
    try String(contentsOf: Fixtures.packageRoot.appendingPathComponent(relative), encoding: .utf8)
}

@Test func architectureDocumentMatchesPackageManifest() throws {
    let graph = PackageGraph(manifest: try read("Package.swift"))
    #expect(graph.dependencies.count > 20)
    let documented = documentedGraph(try read("docs/architecture.md"))
    for name in graph.dependencies.keys.sorted() where !graph.systemLibraries.contains(name) {
        #expect(documented[name] == graph.dependencies[name], "docs/architecture.md row for \(name)")
    }
    for name in documented.keys.sorted() {
        #expect(graph.dependencies[name] != nil, "docs/architecture.md names \(name), which Package.swift lacks")
    }
}

@Test func everyImportIsADeclaredDependency() throws {
    let graph = PackageGraph(manifest: try read("Package.swift"))
    let toolchain: Set<String> = [
        "Foundation", "FoundationEssentials", "Glibc", "Synchronization", "Dispatch", "_Concurrency", "Darwin",
    ]
    let sources = Fixtures.packageRoot.appendingPathComponent("Sources")
    var checked = 0
    for target in graph.dependencies.keys.sorted() where !graph.systemLibraries.contains(target) {
        let directory = sources.appendingPathComponent(target)
        guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
        let allowed = graph.closure(of: target)
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let imports =
                #/
                (?m)^\s*(?:@_exported\s+|@testable\s+)?import\s+
                (?:struct\s+|enum\s+|class\s+)?([A-Za-z0-9_]+)
                /#
            for match in text.matches(of: imports) {
                let module = String(match.1)
                guard !toolchain.contains(module) else { continue }
                checked += 1
                #expect(allowed.contains(module), "\(target)/\(file) imports \(module), not below it in Package.swift")
            }
        }
    }
    #expect(checked > 50)
}

/// The lines of a source file that are not comments.
private func codeWithoutComments(_ url: URL) throws -> String {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
}

@Test func pureTargetsDoNoIO() throws {
    // Rules, codecs, protocol state machines and the PoA rules take time, randomness, keys and bytes as inputs:
    // they read no clock, draw no randomness, generate no keys, start no threads and touch no files or sockets.
    let pure = ["Codec", "Chain", "AttributionRules", "P2PProtocols", "Simulator"]
    let forbidden: [(String, Regex<Substring>)] = [
        ("Date()", #/Date\(\)/#), ("usleep", #/usleep/#), ("Thread.sleep", #/Thread\.sleep/#),
        (".random", #/\.random\b/#), ("SecureRandom", #/SecureRandom/#), ("key generation", #/\.generate\(\)/#),
        ("SystemClock", #/SystemClock/#), ("clock_gettime", #/clock_gettime/#), ("FileManager", #/FileManager/#),
        ("threads", #/\bThread\b/#), ("Dispatch", #/Dispatch/#), ("ProcessInfo", #/ProcessInfo/#),
        ("Glibc", #/import\s+Glibc/#), ("sockets", #/\bsocket\(/#),
    ]
    let sources = Fixtures.packageRoot.appendingPathComponent("Sources")
    var files = 0
    for target in pure {
        let directory = sources.appendingPathComponent(target)
        let entries = try #require(FileManager.default.enumerator(atPath: directory.path), "Sources/\(target)")
        for case let file as String in entries where file.hasSuffix(".swift") {
            files += 1
            let code = try codeWithoutComments(directory.appendingPathComponent(file))
            for (name, pattern) in forbidden {
                let found = code.firstMatch(of: pattern) != nil
                #expect(!found, "\(target)/\(file) uses \(name)")
            }
        }
    }
    #expect(files > 40)
    // Runtime is where the system clock lives; it reads no wall time through Foundation and draws no randomness.
    let runtime = sources.appendingPathComponent("Runtime")
    let entries = try #require(FileManager.default.enumerator(atPath: runtime.path))
    for case let file as String in entries where file.hasSuffix(".swift") {
        let code = try codeWithoutComments(runtime.appendingPathComponent(file))
        let found = code.firstMatch(of: #/Date\(\)|\.random\b|SecureRandom/#) != nil
        #expect(!found, "Runtime/\(file) reads the wall clock through Foundation or draws randomness")
    }
}
