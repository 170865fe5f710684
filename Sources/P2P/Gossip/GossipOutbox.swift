import Synchronization

/// The RPC frames waiting to be written to one peer's gossipsub stream, bounded in bytes.
///
/// The router's thread appends (never blocking); one writer task takes everything queued as one write. When the
/// bound is reached, further frames are refused: gossip to a peer that does not read is dropped, not buffered
/// without end.
final class GossipOutbox: Sendable {
    private struct State {
        var frames: [[UInt8]] = []
        var bytes = 0
        var waiter: CheckedContinuation<[UInt8]?, Never>?
        var closed = false
    }

    /// The most bytes queued at once.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// Queues `frame`; false when the outbox is closed or full (the frame is dropped).
    func enqueue(_ frame: [UInt8]) -> Bool {
        let waiter: CheckedContinuation<[UInt8]?, Never>?
        do {
            let accepted = state.withLock { state -> (Bool, CheckedContinuation<[UInt8]?, Never>?) in
                guard !state.closed, state.bytes + frame.count <= limit else { return (false, nil) }
                if let waiter = state.waiter {
                    state.waiter = nil
                    return (true, waiter)
                }
                state.frames.append(frame)
                state.bytes += frame.count
                return (true, nil)
            }
            guard accepted.0 else { return false }
            waiter = accepted.1
        }
        waiter?.resume(returning: frame)
        return true
    }

    /// Everything queued, as one buffer, waiting for some; nil once closed.
    func next() async -> [UInt8]? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [UInt8]?? in
                if !state.frames.isEmpty {
                    let batch = state.frames.count == 1 ? state.frames[0] : Array(state.frames.joined())
                    state.frames = []
                    state.bytes = 0
                    return .some(batch)
                }
                if state.closed { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Refuses further frames and ends the writer's wait.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, Never>? in
            state.closed = true
            state.frames = []
            state.bytes = 0
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
