import Dispatch
import Foundation
import LightClient
import Runtime
import Synchronization

/// Follows the L2's signed head: verifies the server's head every interval on its own thread and reports each head it
/// has not reported before.
///
/// A head that fails verification is logged and the next poll tries again.
public final class HeadFollowService: Service {
    /// "light-follow".
    public let name = "light-follow"
    private let client: LightClient
    private let intervalMilliseconds: UInt64
    private let logger: Logger
    private let onHead: @Sendable (VerifiedHeader) -> Void
    private let stopping = Atomic<Bool>(false)
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let lastReported = Mutex<[UInt8]?>(nil)
    private let requiresHeadAtStart: Bool

    /// A follower polling `client` every `intervalMilliseconds`, handing new verified heads to `onHead` and
    /// logging failed polls to `logger`; unless `requiresHeadAtStart`, a first poll that fails is logged and the
    /// follower starts anyway (a peer that also takes heads from gossip keeps running without its server).
    public init(
        client: LightClient, intervalMilliseconds: UInt64, logger: Logger, requiresHeadAtStart: Bool = true,
        onHead: @escaping @Sendable (VerifiedHeader) -> Void
    ) {
        self.requiresHeadAtStart = requiresHeadAtStart
        self.client = client
        self.intervalMilliseconds = intervalMilliseconds
        self.logger = logger
        self.onHead = onHead
    }

    /// Verifies the head once (a server that cannot be reached or believed now is a start failure), reports it,
    /// then keeps polling on a thread of its own.
    public func start() throws(NodeError) {
        do {
            report(try client.syncHead())
        } catch {
            guard !requiresHeadAtStart else { throw .serviceFailed(service: name, reason: error) }
            logger.warning("head not fetched at start", ["error": "\(error)"])
        }
        let thread = Thread { [self] in
            while !stopping.load(ordering: .acquiring) {
                _ = wakeup.wait(timeout: .now() + .milliseconds(Int(intervalMilliseconds)))
                guard !stopping.load(ordering: .acquiring) else { break }
                poll()
            }
            finished.signal()
        }
        thread.name = "light-follow"
        thread.start()
    }

    /// Ends the polling thread after the poll in progress.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
        finished.wait()
    }

    private func poll() {
        do {
            report(try client.syncHead())
        } catch {
            switch error {
            case .verificationFailed: logger.error("head not verified", ["error": "\(error)"])
            default: logger.warning("head not fetched", ["error": "\(error)"])
            }
        }
    }

    private func report(_ head: VerifiedHeader) {
        let isNew = lastReported.withLock { last in
            defer { last = head.hash }
            return last != head.hash
        }
        if isNew { onHead(head) }
    }
}
