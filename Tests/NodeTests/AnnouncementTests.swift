import Foundation
import TestSupport
import Testing

@testable import Node

/// Each kind of announcement round-trips through its JSON; malformed, unknown, out-of-form and oversized ones are
/// refused with the reason, and 2,000 seeded mutations never crash the decoder.
@Test func announcementsRoundTripAndHostileOnesAreRefused() throws {
    let hash = "0x" + String(repeating: "ab", count: 32)
    let address = "0x" + String(repeating: "cd", count: 20)
    let cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    let all: [Announcement] = [
        .datanetSnapshot(.init(datanetId: "7", snapshot: "3", root: hash, records: "1200", cid: cid, block: hash)),
        .adapter(
            .init(
                adapterId: "12", baseModelId: "1", owner: address, cid: cid, format: "gguf-lora", rank: 8,
                bytes: "10485760", block: hash)),
        .rewardClaim(
            .init(
                claimId: hash, claimant: address, answers: 100, fees: "123456789", challengeDeadline: "0x1f4",
                block: hash)),
        .adapter(
            .init(
                adapterId: "12", baseModelId: "1", owner: address, cid: cid, format: "peft", rank: 16,
                bytes: "2048", block: hash, promptWeiPerToken: "1000000000000", completionWeiPerToken: "4000000000000",
                payee: address)),
    ]
    for announcement in all {
        #expect(try Announcement.decode(announcement.encoded) == announcement)
    }
    #expect(String(decoding: all[1].encoded, as: UTF8.self).contains("\"kind\":\"adapter\""))
    // An announcement without prices carries none of the serving fields.
    #expect(!String(decoding: all[1].encoded, as: UTF8.self).contains("WeiPerToken"))

    let refused: [String] = [
        "not json", "[]", "{}", #"{"kind":"poem"}"#, #"{"kind":"adapter"}"#,
        String(decoding: all[0].encoded, as: UTF8.self).replacingOccurrences(of: hash, with: "0x12"),
        String(decoding: all[1].encoded, as: UTF8.self).replacingOccurrences(of: "gguf-lora", with: "onnx"),
        String(decoding: all[2].encoded, as: UTF8.self).replacingOccurrences(of: "123456789", with: "-5"),
        String(decoding: all[3].encoded, as: UTF8.self).replacingOccurrences(of: "4000000000000", with: "4e12"),
        String(decoding: all[3].encoded, as: UTF8.self).replacingOccurrences(
            of: ",\"payee\":\"\(address)\"", with: ""),
    ]
    for text in refused {
        #expect(throws: Announcement.Refusal.self) { try Announcement.decode(Array(text.utf8)) }
    }
    #expect(throws: Announcement.Refusal.oversized(Announcement.maxBytes + 1)) {
        try Announcement.decode([UInt8](repeating: 0x20, count: Announcement.maxBytes + 1))
    }
    var random = SeededRandom(seed: 20)
    for index in 0..<2_000 {
        let mutated = random.mutate(all[index % 3].encoded)
        if let decoded = try? Announcement.decode(mutated) {
            #expect(decoded.encoded.count <= Announcement.maxBytes)
        }
    }
}
