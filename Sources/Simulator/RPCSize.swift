import P2PProtocols

/// The encoded size of a gossipsub RPC, computed without encoding it: the bytes the simulator charges to the
/// sender's uplink (the frame's varint length prefix included).
public enum RPCSize {
    /// Bytes of a varint.
    @inline(__always)
    static func varint(_ value: Int) -> Int {
        var length = 1
        var rest = UInt64(value) >> 7
        while rest != 0 {
            length += 1
            rest >>= 7
        }
        return length
    }

    /// A length-delimited field of `length` bytes (one-byte tag: field numbers below 16).
    @inline(__always)
    static func field(_ length: Int) -> Int { 1 + varint(length) + length }

    /// The `Message` protobuf's size.
    static func message(_ message: GossipsubMessage) -> Int {
        var size = field(message.data.count) + field(message.topic.utf8.count)
        if let from = message.from { size += field(from.count) }
        if let seqno = message.seqno { size += field(seqno.count) }
        if let signature = message.signature { size += field(signature.count) }
        if let key = message.key { size += field(key.count) }
        return size
    }

    private static func ids(_ ids: [GossipsubMessageID]) -> Int {
        ids.reduce(0) { $0 + field($1.bytes.count) }
    }

    /// The `ControlMessage` protobuf's size.
    static func control(_ control: GossipsubRPC.Control) -> Int {
        var size = 0
        for ihave in control.ihave { size += field(field(ihave.topic.utf8.count) + ids(ihave.messageIDs)) }
        for iwant in control.iwant { size += field(ids(iwant)) }
        for topic in control.graft { size += field(field(topic.utf8.count)) }
        for prune in control.prune {
            var body = field(prune.topic.utf8.count)
            for peer in prune.peers {
                var info = 0
                if let id = peer.peerID { info += field(id.count) }
                if let record = peer.signedRecord { info += field(record.count) }
                body += field(info)
            }
            if let backoff = prune.backoff { body += 1 + varint(Int(clamping: backoff)) }
            size += field(body)
        }
        for idontwant in control.idontwant { size += field(ids(idontwant)) }
        return size
    }

    /// The RPC protobuf's size plus its varint length prefix.
    public static func rpc(_ rpc: GossipsubRPC) -> Int {
        var size = 0
        for subscription in rpc.subscriptions { size += field(2 + field(subscription.topic.utf8.count)) }
        for message in rpc.messages { size += field(self.message(message)) }
        if let control = rpc.control { size += field(self.control(control)) }
        return varint(size) + size
    }
}
