import Codec

extension GossipsubRouter {
    /// What one event makes the router send, coalesced into one RPC per peer (more when messages would pass the
    /// RPC bound), in the order peers were first addressed; IDONTWANT goes first, in RPCs of its own, so that it is
    /// not queued behind the messages it is about.
    struct Outbox: Sendable {
        struct Pending: Sendable {
            let peer: PeerID
            var rpc: GossipsubRPC
            /// Bytes of the messages and control entries added so far (an estimate of the RPC's size).
            var size: Int
        }

        /// The budget of one outgoing RPC (set by the router from `maxRPCSize`, with slack for the framing).
        var budget = (1 << 20) - 1_024
        var actions: [Action] = []
        var closing: [Action] = []
        private var urgent: [Pending] = []
        private var urgentIndex: [PeerID: Int] = [:]
        private var sends: [Pending] = []
        private var index: [PeerID: Int] = [:]

        /// Up to this many pending RPCs are found by a scan (comparing fingerprints first); the index tables are
        /// filled only past it, as when a subscription goes to every peer.
        private static let scanLimit = 16

        /// Pending RPCs whose room is kept between events.
        private static let keptCapacity = 12

        /// The last pending RPC to `peer` in `list`.
        private static func find(_ peer: PeerID, in list: [Pending], index: [PeerID: Int]) -> Int? {
            guard list.count <= scanLimit else { return index[peer] }
            var position = list.count - 1
            while position >= 0 {
                if list[position].peer == peer { return position }
                position -= 1
            }
            return nil
        }

        /// Records that the last pending RPC in `list` is `peer`'s, once the list is past the scan limit.
        private static func noteLast(_ peer: PeerID, in list: [Pending], index: inout [PeerID: Int]) {
            guard list.count > scanLimit else { return }
            if list.count == scanLimit + 1 {
                // Crossing the limit: index what the scans found so far (later entries win, as in `find`).
                for position in list.indices { index[list[position].peer] = position }
            } else {
                index[peer] = list.count - 1
            }
        }

        /// Everything collected, in order: actions, IDONTWANT, other sends (to peers still connected), disconnects.
        mutating func drain(connected: [PeerID: PeerState]) -> [Action] {
            if urgent.isEmpty && sends.isEmpty && closing.isEmpty {
                let result = actions
                actions = []
                return result
            }
            var result = actions
            result.reserveCapacity(actions.count + urgent.count + sends.count + closing.count)
            // Only a disconnect in this call can have removed a peer addressed in it.
            let checks = !closing.isEmpty
            Self.move(&urgent, into: &result, checks ? connected : nil)
            Self.move(&sends, into: &result, checks ? connected : nil)
            result += closing
            actions = []
            closing = []
            if !urgentIndex.isEmpty { urgentIndex = [:] }
            if !index.isEmpty { index = [:] }
            return result
        }

        /// Appends a send action per pending RPC in `list`, in order, to peers still in `connected` (all of them
        /// when nil), and empties the list.
        ///
        /// The RPCs are moved out (the list reversed, then popped from its end), not copied: a copy would retain every
        /// array an RPC holds, and emptying the list would release them again. A mesh's worth of capacity is kept for
        /// the next event; a burst (a subscription to every peer) is not.
        private static func move(
            _ list: inout [Pending], into result: inout [Action], _ connected: [PeerID: PeerState]?
        ) {
            guard !list.isEmpty else { return }
            let keep = list.count <= keptCapacity
            list.reverse()
            while let pending = list.popLast() {
                if let connected, connected.index(forKey: pending.peer) == nil { continue }
                result.append(.send(to: pending.peer, rpc: pending.rpc))
            }
            if !keep { list = [] }
        }

        private mutating func slot(_ peer: PeerID, adding size: Int) -> Int {
            if let position = Self.find(peer, in: sends, index: index) {
                if sends[position].size + size <= budget || sends[position].size == 0 { return position }
            }
            sends.append(Pending(peer: peer, rpc: GossipsubRPC(), size: 0))
            Self.noteLast(peer, in: sends, index: &index)
            return sends.count - 1
        }

        mutating func message(_ message: GossipsubMessage, size: Int, to peer: PeerID) {
            let position = slot(peer, adding: size)
            sends[position].rpc.messages.append(message)
            sends[position].size += size
        }

        mutating func subscription(_ change: GossipsubRPC.Subscription, to peer: PeerID) {
            let position = slot(peer, adding: change.topic.utf8.count + 4)
            sends[position].rpc.subscriptions.append(change)
            sends[position].size += change.topic.utf8.count + 4
        }

        private mutating func control(
            to peer: PeerID, size: Int, _ edit: (inout GossipsubRPC.Control) -> Void
        ) {
            let position = slot(peer, adding: size)
            var control = sends[position].rpc.control ?? GossipsubRPC.Control()
            sends[position].rpc.control = nil
            edit(&control)
            sends[position].rpc.control = control
            sends[position].size += size
        }

        mutating func graft(_ topic: String, to peer: PeerID) {
            control(to: peer, size: topic.utf8.count + 4) { $0.graft.append(topic) }
        }

        mutating func prune(_ prune: GossipsubRPC.Prune, to peer: PeerID) {
            control(to: peer, size: prune.topic.utf8.count + 16 + prune.peers.count * 48) { $0.prune.append(prune) }
        }

        mutating func ihave(_ ihave: GossipsubRPC.IHave, to peer: PeerID) {
            let size = ihave.topic.utf8.count + 4 + ProtobufSize.idList(ihave.messageIDs)
            control(to: peer, size: size) { $0.ihave.append(ihave) }
        }

        mutating func iwant(_ ids: [GossipsubMessageID], to peer: PeerID) {
            control(to: peer, size: ProtobufSize.idList(ids) + 4) { $0.iwant.append(ids) }
        }

        mutating func idontwant(_ id: GossipsubMessageID, to peer: PeerID) {
            let position: Int
            if let existing = Self.find(peer, in: urgent, index: urgentIndex) {
                position = existing
            } else {
                var control = GossipsubRPC.Control()
                control.idontwant = [[]]
                urgent.append(Pending(peer: peer, rpc: GossipsubRPC(control: control), size: 0))
                position = urgent.count - 1
                Self.noteLast(peer, in: urgent, index: &urgentIndex)
            }
            var control = urgent[position].rpc.control!
            urgent[position].rpc.control = nil
            control.idontwant[0].append(id)
            urgent[position].rpc.control = control
        }
    }
}
