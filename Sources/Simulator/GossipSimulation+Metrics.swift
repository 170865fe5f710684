import P2PProtocols

/// The report: which (message, node) pairs count, their latencies and shortest-path bounds, the totals.
extension GossipSimulation {
    /// Whether (message, node) is expected: an honest node, not the publisher, online at the end and throughout
    /// the `window` seconds after the publication (0: at the publication).
    func expected(message: Int, node: Int, window: Double) -> Bool {
        guard role[node] == .honest, node != Int(publisherOf[message]), online[node],
            publishedAt[message] != .max
        else { return false }
        // A churned node is away from leftAt to joinedAt (once).
        let from = publishedAt[message]
        let to = from + UInt64(window * 1e9)
        return !(leftAt[node] <= to && joinedAt[node] > from)
    }

    /// Every delivered expected (message, node) pair's latency and its shortest-path bound, nanoseconds, message by
    /// message; `expected` counts the pairs expected, `visit` sees the delivered ones.
    func forEachExpectedPair(
        _ visit: (_ message: Int, _ node: Int, _ measured: UInt64, _ bound: UInt64) -> Void
    ) -> Int {
        var expectedPairs = 0
        var boundCache: [Int32: [UInt64]] = [:]
        for message in 0..<config.messages {
            let publisher = publisherOf[message]
            if boundCache[publisher] == nil { boundCache[publisher] = shortestPaths(from: publisher) }
            let bound = boundCache[publisher]!
            for node in 0..<count where expected(message: message, node: node, window: config.presenceWindow) {
                expectedPairs += 1
                let index = message * count + node
                guard arrivals[index].deliveredAt != .max else { continue }
                visit(message, node, arrivals[index].deliveredAt - publishedAt[message], bound[node])
            }
        }
        return expectedPairs
    }

    /// After `run()`: each delivered expected pair's latency and its shortest-path bound, nanoseconds.
    public func deliveryLatencies() -> [(measured: UInt64, bound: UInt64)] {
        var pairs: [(measured: UInt64, bound: UInt64)] = []
        _ = forEachExpectedPair { _, _, measured, bound in pairs.append((measured, bound)) }
        return pairs
    }

    func report() -> SimulationReport {
        var measured: [Double] = []
        var bounds: [Double] = []
        measured.reserveCapacity(config.messages * count)
        bounds.reserveCapacity(config.messages * count)
        var duplicates = 0
        var floor = 0
        var targetDelivered = 0
        var byMessage = Array(repeating: [Double](), count: config.messages)
        let expectedPairs = forEachExpectedPair { message, node, latency, bound in
            byMessage[message].append(Double(latency) / 1e6)
            if node == Int(eclipseTarget) { targetDelivered += 1 }
            measured.append(Double(latency) / 1e6)
            bounds.append(Double(bound) / 1e6)
            duplicates += max(0, Int(arrivals[message * count + node].copies) - 1)
            floor += Int(arrivals[message * count + node].unsuppressible)
        }
        var strictExpected = 0
        var strictDelivered = 0
        for message in 0..<config.messages {
            for node in 0..<count where expected(message: message, node: node, window: 0) {
                strictExpected += 1
                if arrivals[message * count + node].deliveredAt != .max { strictDelivered += 1 }
            }
        }
        var counterNames: [String] = []
        var counterSums: [Int] = []
        for node in 0..<count where role[node] == .honest && online[node] {
            for (index, (name, value)) in routers[node].simulationCounters.enumerated() {
                if index == counterNames.count {
                    counterNames.append(name)
                    counterSums.append(0)
                }
                counterSums[index] += value
            }
        }
        let honest = max(1, role.lazy.filter { $0 == .honest }.count)
        let stats = memo.statistics
        return SimulationReport(
            nodes: count, messages: config.messages,
            deliveryRatio: expectedPairs == 0 ? 0 : Double(measured.count) / Double(expectedPairs),
            strictDeliveryRatio: strictExpected == 0 ? 0 : Double(strictDelivered) / Double(strictExpected),
            expectedDeliveries: expectedPairs, deliveries: measured.count, latency: LatencyPercentiles(measured),
            lowerBound: LatencyPercentiles(bounds), latencyByMessage: byMessage.map { LatencyPercentiles($0) },
            duplicatesPerDelivery: measured.isEmpty ? 0 : Double(duplicates) / Double(measured.count),
            unsuppressibleDuplicatesPerDelivery: measured.isEmpty ? 0 : Double(floor) / Double(measured.count),
            bytesPerNodePerMessage: Double(honestBytes) / Double(honest) / Double(config.messages),
            rpcsSent: rpcsSent, rpcsLost: rpcsLost, simulatedSeconds: Double(now) / 1e9, events: trace.events,
            traceHash: trace, invalidDelivered: invalidDelivered, invalidRejected: invalidRejected,
            targetDeliveryRatio: eclipseTarget < 0 ? nil : Double(targetDelivered) / Double(config.messages),
            routerCounters: Array(zip(counterNames, counterSums)), queuedCopiesDropped: queuedSuppressed,
            disconnects: disconnects,
            signatureChecks: (stats.checks, stats.verified))
    }

    /// Dijkstra from `source` over the topology at the start: each hop costs the link's latency plus the
    /// serialization of an RPC carrying one signed message of the run's size.
    func shortestPaths(from source: Int32) -> [UInt64] {
        let message = GossipsubMessage(
            from: peerIDs[Int(source)].multihash.bytes, data: [UInt8](repeating: 0, count: config.messageBytes),
            seqno: [UInt8](repeating: 0, count: 8), topic: config.topic,
            signature: [UInt8](repeating: 0, count: 64))
        let hopCost = UInt64(Double(RPCSize.rpc(GossipsubRPC(messages: [message]))) * nanosecondsPerByte)
        var distance = [UInt64](repeating: .max, count: count)
        distance[Int(source)] = 0
        var heap: [(UInt64, Int32)] = [(0, source)]
        func less(_ i: Int, _ j: Int) -> Bool { heap[i].0 < heap[j].0 }
        while !heap.isEmpty {
            heap.swapAt(0, heap.count - 1)
            let (dist, node) = heap.removeLast()
            var parent = 0
            while true {
                var child = 2 * parent + 1
                guard child < heap.count else { break }
                if child + 1 < heap.count, less(child + 1, child) { child += 1 }
                guard less(child, parent) else { break }
                heap.swapAt(child, parent)
                parent = child
            }
            guard dist == distance[Int(node)] else { continue }
            for peer in initialLinks[Int(node)] {
                let candidate = dist + hopCost + latency(node, peer)
                guard candidate < distance[Int(peer)] else { continue }
                distance[Int(peer)] = candidate
                heap.append((candidate, peer))
                var child = heap.count - 1
                while child > 0 {
                    let up = (child - 1) / 2
                    guard less(child, up) else { break }
                    heap.swapAt(child, up)
                    child = up
                }
            }
        }
        return distance
    }
}
