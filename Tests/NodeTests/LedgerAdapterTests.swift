import Attribution
import AttributionRules
import Chain
import Codec
import Foundation
import P2P
import TestSupport
import Testing

@testable import Node

/// `adapter-<id>` names exactly the positive decimal ids, and nothing else parses as one.
@Test func ledgerAdapterNamesParseOnlyPositiveDecimalIDs() {
    #expect(LedgerAdapterName.id("adapter-1") == UInt256(1))
    #expect(LedgerAdapterName.id("adapter-1234567") == UInt256(1_234_567))
    #expect(LedgerAdapterName.name(UInt256(42)) == "adapter-42")
    #expect(LedgerAdapterName.id(LedgerAdapterName.name(UInt256(987))) == UInt256(987))
    for bad in [
        "adapter-", "adapter-0", "adapter-01", "adapter--1", "adapter-1a", "adapter-١", "Adapter-1", "adapter-1 ",
        "adapter-" + String(repeating: "9", count: 79), "1", "", "adapter-0x10",
    ] {
        #expect(LedgerAdapterName.id(bad) == nil, "\(bad)")
    }
}

/// A ledger adapter's name takes the base model's terms when the peer does not list it yet; other unlisted names
/// have no offer; a listed one keeps its own.
@Test func anUnlistedLedgerAdapterTakesTheBaseTerms() throws {
    let payee = try Address(hex: "0x" + String(repeating: "ab", count: 20))
    let base = PayingClient.Offer(
        model: "base", payee: payee, chainId: 7, price: ServingPrice(promptWei: UInt256(1), completionWei: UInt256(2)))
    var listed = base
    listed.model = "adapter-3"
    listed.price = ServingPrice(promptWei: UInt256(5), completionWei: UInt256(6))
    let offers = [base, listed]
    #expect(PayingClient.Offer.choose(nil, in: offers) == base)
    #expect(PayingClient.Offer.choose("adapter-3", in: offers) == listed)
    var expected = base
    expected.model = "adapter-9"
    #expect(PayingClient.Offer.choose("adapter-9", in: offers) == expected)
    #expect(PayingClient.Offer.choose("my-adapter", in: offers) == nil)
    #expect(PayingClient.Offer.choose("adapter-9", in: []) == nil)
}

/// A snapshot's index written as files reads back as the same snapshot; an empty or damaged directory is an error
/// naming it, and a rewrite with fewer shards leaves no stale shard behind.
@Test func snapshotIndexFilesRoundTripAndRefuseDamage() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ol-index-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let contributor = try Address(hex: "0x" + String(repeating: "11", count: 20))
    let records = (0..<40).map {
        Record(contributor: contributor, bytes: Array("record number \($0) of the sample, long enough to index".utf8))
    }
    let shards = try AttributionIndex.build(records: records, maxShardBytes: 512, threads: 1)
    #expect(shards.count > 1)
    let names = try SnapshotIndexFiles.write(shards, to: directory)
    #expect(names.count == shards.count)
    let read = try SnapshotIndexFiles.load(directory)
    #expect(read.map(\.snapshotRoot) == shards.map(\.snapshotRoot) && read.count == shards.count)
    let single = try AttributionIndex.build(records: records, maxShardBytes: 1 << 20, threads: 1)
    try SnapshotIndexFiles.write(single, to: directory)
    #expect(try SnapshotIndexFiles.load(directory).count == 1)
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/shard-0000.olai"))
    #expect(throws: NodeError.self) { try SnapshotIndexFiles.load(directory) }
    #expect(throws: NodeError.self) { try SnapshotIndexFiles.load(directory + "/missing") }
}

/// The announce topic accepts well-formed announcements only.
@Test func theAnnounceTopicRejectsMalformedAnnouncements() async throws {
    let hash = "0x" + String(repeating: "ab", count: 32)
    let good = Announcement.datanetSnapshot(
        .init(
            datanetId: "1", snapshot: "2", root: hash, records: "75",
            cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", block: hash))
    let peer = LibP2PIdentity.ed25519(.generate()).peerID
    func message(_ data: [UInt8]) -> GossipsubMessage {
        GossipsubMessage(from: nil, data: data, seqno: nil, topic: "/openledger/1/announce/1")
    }
    #expect(await AnnouncementPinner.validator(message(good.encoded), peer) == .accept)
    for bad in [Array("{}".utf8), Array("not json".utf8), [UInt8](repeating: 0x20, count: Announcement.maxBytes + 1)] {
        #expect(await AnnouncementPinner.validator(message(bad), peer) == .reject)
    }
}
