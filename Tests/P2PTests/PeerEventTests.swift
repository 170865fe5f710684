import Codec
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// Collects peer events and lets a test wait for a count of them.
private final class Events: Sendable {
    let list = Mutex<[P2PHost.PeerEvent]>([])
    func add(_ event: P2PHost.PeerEvent) { list.withLock { $0.append(event) } }
    var all: [P2PHost.PeerEvent] { list.withLock { $0 } }
}

/// Each side hears of the other once when the first connection opens (the dialer as outbound) and once when the
/// last one closes; an observer added later is told of the peers already connected; `disconnect` logs its reason.
@Test(.timeLimit(.minutes(3))) func peerEventsReportTheFirstConnectionAndTheLastClose() async throws {
    let logs = LogLines()
    let server = try P2PHost(identity: .ed25519(.generate()), logger: logs.logger)
    let client = try P2PHost(identity: .ed25519(.generate()))
    defer {
        client.close()
        server.close()
    }
    let serverEvents = Events()
    let clientEvents = Events()
    server.observePeers { serverEvents.add($0) }
    client.observePeers { clientEvents.add($0) }
    let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let peer = try await client.connect(address)
    #expect(try await onOwnThread { poll { serverEvents.all.count == 1 && clientEvents.all.count == 1 } })
    guard case .connected(let seenByServer, let serverOutbound, _) = serverEvents.all.first,
        case .connected(let seenByClient, let clientOutbound, let dialed) = clientEvents.all.first
    else {
        Issue.record("no connected events: \(serverEvents.all) \(clientEvents.all)")
        return
    }
    #expect(seenByServer == client.peerID && !serverOutbound)
    #expect(seenByClient == peer && clientOutbound && dialed == address.withoutPeer)
    #expect(await client.connectedPeers() == [peer])

    let late = Events()
    server.observePeers { late.add($0) }
    #expect(try await onOwnThread { poll { late.all.count == 1 } })
    #expect(late.all == [serverEvents.all[0]])

    await server.disconnect(client.peerID, reason: "test says goodbye")
    #expect(try await onOwnThread { poll { serverEvents.all.count == 2 && clientEvents.all.count == 2 } })
    #expect(serverEvents.all.last == .disconnected(client.peerID))
    #expect(clientEvents.all.last == .disconnected(peer))
    #expect(logs.contains("test says goodbye"))
    #expect(await client.connectedPeers().isEmpty)
}
