import Chain
import Codec
import LightClient

/// The light client a command runs: the one place that decides what it trusts and whether and where it keeps
/// verified headers.
///
/// Trust: the network config's genesis, or a checkpoint block hash whose number the server states (the client then
/// checks the hash itself). Headers: kept in the data directory's header store only when a data directory is given,
/// since a default store would outlive the devnets it verified and refuse a restarted devnet's head as a replay.
public enum LightClientFactory {
    /// A client of the JSON-RPC server at `rpcURL` trusting `configuration`'s genesis, or `checkpoint` when given,
    /// keeping verified headers in `dataDirectory` (created if needed) when one is given, in memory otherwise.
    public static func client(
        configuration: NodeConfiguration, rpcURL: String, checkpoint: [UInt8]? = nil,
        dataDirectory: DataDirectory? = nil
    ) throws(NodeError) -> LightClient {
        let config = configuration.network
        let rpc: RPCClient
        var trust: TrustRoot
        do {
            trust = try TrustRoot(config: config)
        } catch {
            throw .lightClientUnavailable(reason: error)
        }
        do {
            rpc = try RPCClient(url: rpcURL)
        } catch {
            throw .lightClientUnavailable(reason: error)
        }
        if let checkpoint { trust = try checkpointTrust(checkpoint, config: config, rpc: rpc) }
        var store: String? = nil
        if let dataDirectory {
            try dataDirectory.create()
            store = dataDirectory.lightHeaderStore
        }
        do {
            return try LightClient(trust: trust, rpc: rpc, storePath: store)
        } catch {
            throw .lightClientUnavailable(reason: error)
        }
    }

    /// The trust root anchored at the block with hash `checkpoint`, at the number the server gives it.
    static func checkpointTrust(_ checkpoint: [UInt8], config: NetworkConfig, rpc: RPCClient) throws(NodeError)
        -> TrustRoot
    {
        let block: Any
        do {
            block = try rpc.call("eth_getBlockByHash", [Hex.encode(checkpoint), false])
        } catch {
            throw .lightClientUnavailable(reason: error)
        }
        guard let block = block as? [String: Any], let numberText = block["number"] as? String,
            let number = UInt256(hex: numberText)?.uint64
        else { throw .unknownCheckpoint(checkpoint) }
        return TrustRoot(
            chainId: config.chainId, sequencer: config.sequencer, anchorHash: checkpoint, anchorNumber: number)
    }
}
