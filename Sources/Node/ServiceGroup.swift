import Runtime
import Synchronization

/// A long-running part of the node (a JSON-RPC server, the block producer, a libp2p host) that a
/// `ServiceGroup` starts and stops.
public protocol Service: AnyObject, Sendable {
    /// The service's name in log lines and errors.
    var name: String { get }
    /// Starts the service; returns once it is running (listening, producing). Throws if it cannot start.
    func start() throws(NodeError)
    /// Stops the service and returns when it has stopped. Called once, only after `start` succeeded.
    func stop()
}

/// Services started in order and stopped in reverse: a service may use the ones started before it, and
/// none loses one it depends on while stopping.
public final class ServiceGroup: Sendable {
    /// The services, in start order.
    public let services: [any Service]
    private let logger: Logger
    private let started = Mutex<[any Service]>([])

    /// A group of `services` (in start order) logging to `logger`.
    public init(_ services: [any Service], logger: Logger = .discarding) {
        self.services = services
        self.logger = logger
    }

    /// Starts every service in order. If one fails, those already started are stopped in reverse and its error
    /// is thrown.
    public func start() throws(NodeError) {
        for service in services {
            do {
                try service.start()
            } catch {
                logger.error("service failed to start", ["service": service.name, "error": "\(error)"])
                stop()
                throw error
            }
            started.withLock { $0.append(service) }
            logger.debug("service started", ["service": service.name])
        }
    }

    /// Stops the started services in reverse order; a second call does nothing.
    public func stop() {
        let running = started.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for service in running.reversed() {
            service.stop()
            logger.debug("service stopped", ["service": service.name])
        }
    }

    /// Starts the services, calls `started`, blocks in `wait` (until a termination signal, say), then logs
    /// "shutting down" and stops the services in reverse.
    public func run(started: () -> Void = {}, until wait: () -> Void) throws(NodeError) {
        try start()
        started()
        wait()
        logger.info("shutting down")
        stop()
    }

    /// `run` until SIGINT or SIGTERM arrives through `signals`.
    public func run(started: () -> Void = {}, until signals: TerminationSignals) throws(NodeError) {
        try run(started: started, until: { _ = signals.wait() })
    }
}
