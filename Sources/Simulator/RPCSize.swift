import Codec
import P2PProtocols

/// The bytes an RPC takes on the wire: the router's `encodedSize` plus the frame's varint length prefix; what the
/// simulator charges to the sender's uplink.
public enum RPCSize {
    /// Bytes of a varint.
    @inline(__always)
    static func varint(_ value: Int) -> Int { Varint.size(UInt64(value)) }

    /// The RPC protobuf's size plus its varint length prefix.
    @inline(__always)
    public static func rpc(_ rpc: GossipsubRPC) -> Int {
        let body = rpc.encodedSize
        return varint(body) + body
    }
}
