import Codec
import P2P
import Runtime
import Synchronization

/// A libp2p host (TCP, Noise, Yamux) answering ping, identify and `/openledger/echo/1.0.0` as a service.
public final class P2PHostService: Service {
    /// "p2p-host".
    public let name = "p2p-host"
    private let identity: LibP2PIdentity
    private let config: HostConfig
    private let address: Multiaddr
    private let logger: Logger
    private let state = Mutex<(host: P2PHost, listening: Multiaddr)?>(nil)

    /// A host with `identity` and `config` that will listen on `address`; the host's own log lines go to
    /// `logger`.
    public init(identity: LibP2PIdentity, config: HostConfig, listen address: Multiaddr, logger: Logger) {
        self.identity = identity
        self.config = config
        self.address = address
        self.logger = logger
    }

    /// The host, once started (services started after this one use it).
    public var host: P2PHost? { state.withLock { $0?.host } }

    /// The full listen address (ending in /p2p/<peer id>), once started.
    public var listenAddress: Multiaddr? { state.withLock { $0?.listening } }

    /// The protocols the host answers, once started.
    public var protocols: [String] {
        state.withLock { $0?.host.identifyMessage(observed: nil).protocols } ?? []
    }

    /// Creates the host, registers the echo protocol and listens.
    public func start() throws(NodeError) {
        let logger = logger
        do {
            let host = try P2PHost(identity: identity, config: config, logger: logger)
            host.handle(EchoProtocol.protocolID) { await EchoProtocol.serve($0) }
            let listening: Multiaddr
            do {
                listening = try host.listen(address)
            } catch {
                host.close()
                throw error
            }
            state.withLock { $0 = (host, listening) }
        } catch {
            throw .serviceFailed(service: name, reason: error)
        }
    }

    /// Closes the listener and every connection.
    public func stop() {
        state.withLock { $0 }?.host.close()
    }
}
