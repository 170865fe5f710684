import P2PProtocols

/// The byzantine peers' rounds: what attackers inject besides what their filtered routers send.
extension GossipSimulation {
    func learn(_ node: Int32, _ id: GossipsubMessageID) {
        guard role[Int(node)] == .iwantFlooder, knownIDs.count < 4_096, knownIDSet.insert(id).inserted else { return }
        knownIDs.append(id)
    }

    /// A sybil GRAFTs into every peer's mesh, every heartbeat, whatever PRUNEs and backoffs it was given.
    func graftStorm(_ node: Int32) {
        var control = GossipsubRPC.Control()
        control.graft = [config.topic]
        let rpc = GossipsubRPC(control: control)
        for peer in links[Int(node)] where role[Int(peer)] == .honest { transmit(from: node, to: peer, rpc) }
    }

    /// A spammer publishes one message its peers' applications reject and sends one with a forged signature.
    func spam(_ node: Int32) {
        perform(
            node,
            routers[Int(node)].onLastFirst(
                .publish(topic: config.topic, data: payload(message: .max, validity: .invalid)), now: instant))
        spamSequence += 1
        var seqno = [UInt8](repeating: 0, count: 8)
        for byte in 0..<8 { seqno[byte] = UInt8(truncatingIfNeeded: spamSequence >> (56 - 8 * byte)) }
        let forged = GossipsubMessage(
            from: peerIDs[Int(node)].multihash.bytes, data: payload(message: .max, validity: .forgedSignature),
            seqno: seqno, topic: config.topic, signature: attackRandom.bytes(64))
        let rpc = GossipsubRPC(messages: [forged])
        for peer in links[Int(node)] { transmit(from: node, to: peer, rpc) }
    }

    /// An IWANT flooder asks every peer for every message id it knows.
    func iwantFlood(_ node: Int32) {
        guard !knownIDs.isEmpty else { return }
        var control = GossipsubRPC.Control()
        control.iwant = [Array(knownIDs.suffix(500))]
        let rpc = GossipsubRPC(control: control)
        for peer in links[Int(node)] { transmit(from: node, to: peer, rpc) }
    }
}
