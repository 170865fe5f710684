import ChainNode
import HTTP
import Runtime
import Synchronization

/// The devnet as services: its chain (opened in the data directory), then the Ethereum JSON-RPC server, then
/// the block producer. Stopped in reverse, the producer finishes its block before the server goes away.
public struct DevnetServices: Sendable {
    /// The sequencer and its chain store.
    public let node: DevnetNode
    /// The JSON-RPC server on 127.0.0.1.
    public let rpc: JSONRPCService
    /// The block producer.
    public let producer: BlockProductionService

    /// The services in start order.
    public var services: [any Service] { [rpc, producer] }

    /// Opens the chain of `configuration` in `dataDirectory` (creating it at genesis) and prepares the services;
    /// nothing listens or produces until the services start.
    public init(
        configuration: NodeConfiguration, dataDirectory: DataDirectory, rpcPort: Int, blockTimeMilliseconds: UInt64,
        logger: Logger
    ) throws(NodeError) {
        let sequencerKey = try configuration.sequencerKey()
        do {
            node = try DevnetNode(
                config: configuration.network, sequencerKey: sequencerKey, dataDirectory: dataDirectory.chainDirectory)
        } catch {
            throw .chainUnavailable(directory: dataDirectory.chainDirectory, reason: error)
        }
        rpc = JSONRPCService(node: node, port: rpcPort)
        producer = BlockProductionService(node: node, intervalMilliseconds: blockTimeMilliseconds, logger: logger)
    }
}

/// The devnet's Ethereum JSON-RPC over HTTP, on 127.0.0.1.
public final class JSONRPCService: Service {
    /// "json-rpc".
    public let name = "json-rpc"
    private let node: DevnetNode
    private let requestedPort: Int
    private let server = Mutex<HTTPServer?>(nil)

    /// A server for `node` on `port` (0 picks a free one) once started.
    public init(node: DevnetNode, port: Int) {
        self.node = node
        requestedPort = port
    }

    /// The port listened on (the requested one before `start`).
    public var port: Int { server.withLock { $0?.port } ?? requestedPort }

    /// Binds the port and starts serving.
    public func start() throws(NodeError) {
        let rpc = JSONRPCServer(methods: EthereumRPC(node: node).methods)
        do {
            let started = try HTTPServer(host: "127.0.0.1", port: requestedPort) { rpc.handle($0) }
            server.withLock { $0 = started }
        } catch {
            throw .serviceFailed(service: name, reason: error)
        }
    }

    /// Closes every connection and the listener.
    public func stop() {
        server.withLock { $0 }?.stop()
    }
}

/// The sequencer's block producer: one block every interval, on its own thread.
public final class BlockProductionService: Service {
    /// "block-producer".
    public let name = "block-producer"
    private let node: DevnetNode
    private let intervalMilliseconds: UInt64
    private let logger: Logger
    private let producer = Mutex<BlockProducer?>(nil)

    /// A producer for `node` every `intervalMilliseconds` once started; failures are logged to `logger`.
    public init(node: DevnetNode, intervalMilliseconds: UInt64, logger: Logger) {
        self.node = node
        self.intervalMilliseconds = intervalMilliseconds
        self.logger = logger
    }

    /// Starts producing.
    public func start() throws(NodeError) {
        let logger = logger
        let started = BlockProducer(node: node, intervalMilliseconds: intervalMilliseconds) { error in
            logger.error("block production failed", ["error": "\(error)"])
        }
        producer.withLock { $0 = started }
    }

    /// Stops producing after the block in progress.
    public func stop() {
        producer.withLock { $0 }?.stop()
    }
}
