import Codec
import P2PProtocols

/// A first-in first-out queue of RPC slots waiting for a node's uplink.
struct SendQueue {
    var items: [Int32] = []
    var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ slot: Int32) { items.append(slot) }

    mutating func pop() -> Int32? {
        guard head < items.count else { return nil }
        let slot = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return slot
    }
}

/// The uplink: each node's RPCs go out one after another at its bandwidth. Control-only RPCs take an urgent lane
/// ahead of RPCs that carry messages (as gossipsub implementations send control first), and a message copy still
/// waiting when its receiver's IDONTWANT for it has reached the sender is dropped from the RPC, as the send queues
/// of nim-libp2p and go-libp2p do.
extension GossipSimulation {
    /// Queues `rpc` from `node` to `destination` on `node`'s uplink; it starts at once when the uplink is idle.
    func transmit(from node: Int32, to destination: Int32, _ rpc: consuming GossipsubRPC) {
        guard links[Int(node)].contains(destination) else { return }
        let controlOnly = rpc.messages.isEmpty
        let slot = store(rpc, to: destination)
        let idle =
            uplinkFree[Int(node)] <= now && urgentQueue[Int(node)].isEmpty && bulkQueue[Int(node)].isEmpty
        if idle {
            start(node, slot)
            return
        }
        if controlOnly {
            urgentQueue[Int(node)].push(slot)
        } else {
            bulkQueue[Int(node)].push(slot)
        }
        wake(node)
    }

    private func store(_ rpc: consuming GossipsubRPC, to destination: Int32) -> Int32 {
        let size = Int32(clamping: RPCSize.rpc(rpc))
        if let free = freeSlots.popLast() {
            slots[Int(free)] = consume rpc
            slotPeer[Int(free)] = destination
            slotSize[Int(free)] = size
            return free
        }
        slots.append(consume rpc)
        slotPeer.append(destination)
        slotStart.append(0)
        slotSize.append(size)
        return Int32(slots.count - 1)
    }

    private func release(_ slot: Int32) {
        slots[Int(slot)] = nil
        freeSlots.append(slot)
    }

    private func wake(_ node: Int32) {
        guard !uplinkWake[Int(node)] else { return }
        uplinkWake[Int(node)] = true
        queue.push(time: max(now, uplinkFree[Int(node)]), kind: .uplink, node: node)
    }

    /// The uplink is free: starts the next queued RPC that still has something to send.
    func startNext(_ node: Int32) {
        while let slot = urgentQueue[Int(node)].pop() ?? bulkQueue[Int(node)].pop() {
            let destination = slotPeer[Int(slot)]
            guard links[Int(node)].contains(destination) else {
                release(slot)
                continue
            }
            let key = Self.dontWantKey(node, destination)
            func unwanted(_ message: GossipsubMessage) -> Bool {
                guard let number = Self.number(message.data), number < config.messages else { return false }
                return dontWant[number].contains(key)
            }
            // The RPC is taken out of its slot only when it has a copy to drop (a copy of it would retain every
            // array it holds).
            if config.cancelQueuedOnIDontWant, slots[Int(slot)]!.messages.contains(where: unwanted) {
                var rpc = slots[Int(slot)].take()!
                let before = rpc.messages.count
                rpc.messages.removeAll(where: unwanted)
                queuedSuppressed += before - rpc.messages.count
                if rpc.messages.isEmpty && rpc.control == nil && rpc.subscriptions.isEmpty {
                    release(slot)
                    continue
                }
                slotSize[Int(slot)] = Int32(clamping: RPCSize.rpc(rpc))
                slots[Int(slot)] = consume rpc
            }
            start(node, slot)
            if !urgentQueue[Int(node)].isEmpty || !bulkQueue[Int(node)].isEmpty { wake(node) }
            return
        }
    }

    /// Puts the RPC in `slot` on the wire now: it takes its bytes over the bandwidth, then the link's latency.
    private func start(_ node: Int32, _ slot: Int32) {
        let destination = slotPeer[Int(slot)]
        let size = Int(slotSize[Int(slot)])
        rpcsSent += 1
        if role[Int(node)] == .honest { honestBytes += UInt64(size) }
        slotStart[Int(slot)] = max(now, uplinkFree[Int(node)])
        let finish = slotStart[Int(slot)] + UInt64(Double(size) * nanosecondsPerByte)
        uplinkFree[Int(node)] = finish
        let partitioned =
            now >= partitionStart && now < partitionEnd && cutOff[Int(node)] != cutOff[Int(destination)]
        if partitioned || (config.loss > 0 && lossRandom.unit() < config.loss) {
            rpcsLost += 1
            release(slot)
            return
        }
        queue.push(
            time: finish + latency(node, destination), kind: .deliver, node: destination, peer: node, slot: slot,
            size: Int32(size))
    }

    /// A node going offline loses what waits on its uplink.
    func dropQueued(_ node: Int32) {
        while let slot = urgentQueue[Int(node)].pop() ?? bulkQueue[Int(node)].pop() { release(slot) }
    }

    @inline(__always)
    static func dontWantKey(_ sender: Int32, _ receiver: Int32) -> Fingerprint.Key {
        // A (sender, receiver) pair, hashed by one mix as a fingerprint is: the simulator's own numbers, not input.
        Fingerprint.Key(UInt64(UInt32(bitPattern: sender)) << 32 | UInt64(UInt32(bitPattern: receiver)))
    }

    /// `node` learned that `peer` does not want these messages (v1.2 IDONTWANT).
    func noteDontWant(_ node: Int32, _ peer: Int32, _ lists: [[GossipsubMessageID]]) {
        for list in lists {
            for id in list {
                if let number = idNumber[id] { dontWant[Int(number)].insert(Self.dontWantKey(node, peer)) }
            }
        }
    }

    /// Forgets the IDONTWANTs of messages published more than 20 s ago (the router honours one for
    /// `idontwantTTL`, 3 s by default): their copies are long sent.
    func forgetDontWants() {
        while dontWantForgotten < publishedCount, dontWantForgotten < dontWant.count {
            let published = publishedAt[dontWantForgotten]
            guard published == .max || now - published > 20_000_000_000 else { return }
            dontWant[dontWantForgotten] = []
            dontWantForgotten += 1
        }
    }
}
