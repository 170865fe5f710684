import Foundation

/// One measured figure of a benchmark, printed as a JSON line.
struct BenchFigure: Sendable {
    /// What the figure is a rate of.
    enum Unit: String, Sendable {
        case megabytesPerSecond = "mb_s"
        case operationsPerSecond = "ops_s"
        case milliseconds = "ms"
        case megabytes = "mb"
        case bytesPerByte = "bytes_per_byte"
        case fraction = "fraction"
        // The gossip simulator's figures (BenchGossip).
        case percent = "percent"
        case perMessage = "per_message"
        case timesBound = "x_bound"
        case simulatedSecondsPerSecond = "sim_s_per_s"
        case bytes = "bytes"
    }

    let bench: String
    let unit: Unit
    let value: Double
    var implementation = "openledger"
    var details: [String: String] = [:]

    /// The JSON line, with `reference`, `reference_<unit>` and `ratio` fields for the first reference figure of
    /// the same bench, and `ratios` for every reference.
    func jsonLine(references: [BenchFigure]) -> String {
        let matching = references.filter { $0.unit == unit && $0.value > 0 }
        var fields: [(String, String)] = [
            ("bench", Self.quoted(bench)), ("impl", Self.quoted(implementation)),
            (unit.rawValue, Self.number(value)),
        ]
        for key in details.keys.sorted() {
            let raw = details[key]!
            fields.append((key, Double(raw) != nil ? raw : Self.quoted(raw)))
        }
        if let reference = matching.first {
            fields.append(("reference", Self.quoted(reference.implementation)))
            fields.append(("reference_\(unit.rawValue)", Self.number(reference.value)))
            fields.append(("ratio", String(format: "%.3f", value / reference.value)))
        }
        if matching.count > 1 {
            let ratios = matching.map {
                "\(Self.quoted($0.implementation)):\(String(format: "%.3f", value / $0.value))"
            }
            fields.append(("ratios", "{" + ratios.joined(separator: ",") + "}"))
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Reads reference figures: one JSON object per line with `bench`, `impl` and `mb_s` or `ops_s`; a bench may
    /// have several references, kept in file order.
    static func load(_ path: String) throws(CLIError) -> [String: [BenchFigure]] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw .failure("cannot read reference figures from \(path)")
        }
        var figures: [String: [BenchFigure]] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let bench = object["bench"] as? String
            else {
                throw .failure("\(path):\(number + 1): not a JSON object with a \"bench\" field")
            }
            let implementation = object["impl"] as? String ?? "reference"
            for unit in [Unit.megabytesPerSecond, .operationsPerSecond, .milliseconds, .megabytes, .bytesPerByte] {
                if let value = (object[unit.rawValue] as? NSNumber)?.doubleValue {
                    figures[bench, default: []].append(
                        BenchFigure(bench: bench, unit: unit, value: value, implementation: implementation))
                }
            }
        }
        return figures
    }

    /// Runs a reference or worker process and parses the last line of its standard output as a JSON object; a
    /// failure names `what`.
    static func runForJSON(_ executable: String, _ arguments: [String], what: String) throws(CLIError)
        -> [String: Any]
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { throw .failure("cannot run \(executable): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        else { throw .failure("\(what) failed (status \(process.terminationStatus))") }
        return object
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func number(_ value: Double) -> String { String(format: value < 100 ? "%.2f" : "%.1f", value) }
}

/// Wall-clock repetition for benchmarks (the IO edge; protocol code never reads clocks).
enum BenchTimer {
    /// Runs `body` until at least `seconds` have passed (and at least once); returns the count and seconds.
    static func repeatFor(seconds: Double, _ body: () -> Void) -> (count: Int, elapsed: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var count = 0
        var elapsed = 0.0
        repeat {
            body()
            count += 1
            let duration = clock.now - start
            elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        } while elapsed < seconds
        return (count, elapsed)
    }
}

/// Keeps a benchmark result alive so the optimizer cannot delete the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
