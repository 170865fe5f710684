import Foundation

/// How long a test waits for something a real process, socket or devnet is expected to do.
///
/// This is a timeout that fails the test with a message saying what never happened, not a bound under test: it
/// is generous so that an overloaded machine still passes.
public let patientSeconds = 120.0

/// Polls `condition` every 20 ms until it holds, for at most `timeout` seconds; true when it held.
///
/// Use it to wait for an event that has no notification to wait on (a process's output, a transaction mined by
/// a devnet in another process). The caller records what never happened when it returns false.
@discardableResult
public func poll(timeout: Double = patientSeconds, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(20_000)
    }
}
