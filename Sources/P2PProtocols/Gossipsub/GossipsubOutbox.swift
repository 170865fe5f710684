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
            var result = drainLastFirst(connected: connected)
            // In place: the actions are swapped, not copied.
            result.reverse()
            return result
        }

        /// What `drain(connected:)` gives, last first: each list is moved out from its end, so nothing is reversed
        /// or copied, and a caller that pops the result from its end gets the actions in order.
        mutating func drainLastFirst(connected: [PeerID: PeerState]) -> [Action] {
            if urgent.isEmpty && sends.isEmpty && closing.isEmpty && actions.count <= 1 {
                var result: [Action] = []
                swap(&result, &actions)
                return result
            }
            var result: [Action] = []
            result.reserveCapacity(actions.count + urgent.count + sends.count + closing.count)
            // Only a disconnect in this call can have removed a peer addressed in it.
            let checks = !closing.isEmpty
            while let action = closing.popLast() { result.append(action) }
            Self.moveLastFirst(&sends, into: &result, checks ? connected : nil)
            Self.moveLastFirst(&urgent, into: &result, checks ? connected : nil)
            while let action = actions.popLast() { result.append(action) }
            if !urgentIndex.isEmpty { urgentIndex = [:] }
            if !index.isEmpty { index = [:] }
            return result
        }

        /// Appends a send action per pending RPC in `list`, last first, to peers still in `connected` (all of them
        /// when nil), and empties the list.
        ///
        /// A mesh's worth of capacity is kept for the next event; a burst (a subscription to every peer) is not.
        private static func moveLastFirst(
            _ list: inout [Pending], into result: inout [Action], _ connected: [PeerID: PeerState]?
        ) {
            guard !list.isEmpty else { return }
            let keep = list.count <= keptCapacity
            while !list.isEmpty {
                // The RPC is swapped out of the list before the entry goes: taking it from a popped entry would copy
                // it (a retain per list it holds) and then destroy the entry's (a release each).
                var rpc = GossipsubRPC()
                swap(&rpc, &list[list.count - 1].rpc)
                let peer = list.removeLast().peer
                if let connected, connected.index(forKey: peer) == nil { continue }
                result.append(.send(to: peer, rpc: rpc))
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

        /// Queues the one message of `one` for `peer`.
        ///
        /// An RPC that carries no message yet takes `one` itself: a message forwarded or published to many peers is
        /// one list their RPCs share, where each made its own (a later append copies it).
        mutating func message(_ one: [GossipsubMessage], size: Int, to peer: PeerID) {
            let position = slot(peer, adding: size)
            if sends[position].rpc.messages.isEmpty {
                sends[position].rpc.messages = one
            } else {
                sends[position].rpc.messages.append(one[0])
            }
            sends[position].size += size
        }

        mutating func subscription(_ change: GossipsubRPC.Subscription, to peer: PeerID) {
            let position = slot(peer, adding: change.topic.utf8.count + 4)
            sends[position].rpc.subscriptions.append(change)
            sends[position].size += change.topic.utf8.count + 4
        }

        /// Adds control entries to `peer`'s pending RPC in place (a copy of the control part, to edit and put back,
        /// would retain and release each of its lists).
        private mutating func control(
            to peer: PeerID, size: Int, _ edit: (inout GossipsubRPC.Control) -> Void
        ) {
            let position = slot(peer, adding: size)
            if sends[position].rpc.control == nil { sends[position].rpc.control = GossipsubRPC.Control() }
            edit(&sends[position].rpc.control!)
            sends[position].size += size
        }

        mutating func graft(_ topic: String, to peer: PeerID) {
            control(to: peer, size: topic.utf8.count + 4) { $0.graft.append(topic) }
        }

        mutating func prune(_ prune: GossipsubRPC.Prune, to peer: PeerID) {
            control(to: peer, size: prune.topic.utf8.count + 16 + prune.peers.count * 48) { $0.prune.append(prune) }
        }

        /// Queues the one IHAVE of `one` for `peer`.
        ///
        /// A control part with no IHAVE yet takes `one` itself: an IHAVE sent unchanged to every gossip peer is one
        /// list their RPCs share (a later append copies it).
        mutating func ihave(_ one: [GossipsubRPC.IHave], to peer: PeerID) {
            let size = one[0].topic.utf8.count + 4 + ProtobufSize.idList(one[0].messageIDs)
            control(to: peer, size: size) { control in
                if control.ihave.isEmpty { control.ihave = one } else { control.ihave.append(one[0]) }
            }
        }

        mutating func iwant(_ ids: [GossipsubMessageID], to peer: PeerID) {
            control(to: peer, size: ProtobufSize.idList(ids) + 4) { $0.iwant.append(ids) }
        }

        /// Queues IDONTWANT `id` for `peer`: into its pending control RPC when there is one, else as a new RPC whose
        /// control is `fresh` (one `[[id]]` that every mesh peer's new RPC shares, where each made its own two
        /// arrays; a later edit of one copies it).
        mutating func idontwant(_ id: GossipsubMessageID, to peer: PeerID, fresh: GossipsubRPC.Control) {
            if let position = Self.find(peer, in: urgent, index: urgentIndex) {
                urgent[position].rpc.control!.idontwant[0].append(id)
                return
            }
            urgent.append(Pending(peer: peer, rpc: GossipsubRPC(), size: 0))
            urgent[urgent.count - 1].rpc.control = fresh
            Self.noteLast(peer, in: urgent, index: &urgentIndex)
        }
    }
}
