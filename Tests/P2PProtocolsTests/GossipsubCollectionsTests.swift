import Runtime
import Testing

@testable import P2PProtocols

/// `TopicTable` against a dictionary, through seeded random operations that cross the size where its hash index
/// starts and stops (8 topics): the same values after every step, and an order fixed by its history.
@Test func topicTableAgreesWithADictionary() {
    var random = SeededRandom(seed: 14)
    var table = TopicTable<[Int]>()
    var model: [String: [Int]] = [:]
    var order: [String] = []
    let names = (0..<24).map { "/openledger/1/topic-\($0)/1" }
    for step in 0..<5_000 {
        let name = names[random.below(random.below(4) == 0 ? names.count : 12)]
        switch random.below(5) {
        case 0:
            table[name] = [step]
            if model[name] == nil { order.append(name) }
            model[name] = [step]
        case 1:
            table[name, default: []].append(step)
            if model[name] == nil { order.append(name) }
            model[name, default: []].append(step)
        case 2:
            table[name]?.append(step)
            model[name]?.append(step)
        case 3:
            let removed = table.removeValue(forKey: name)
            #expect(removed == model.removeValue(forKey: name))
            if let position = order.firstIndex(of: name) {
                // Swap-removal: the last topic takes the removed one's place.
                let last = order.removeLast()
                if position < order.count { order[position] = last }
            }
        default:
            table[name] = nil
            model[name] = nil
            if let position = order.firstIndex(of: name) {
                let last = order.removeLast()
                if position < order.count { order[position] = last }
            }
        }
        #expect(table.count == model.count)
        #expect(table.keys == order)
        for probe in names {
            #expect(table[probe] == model[probe])
            #expect(table.contains(probe) == (model[probe] != nil))
        }
        if step % 1_000 == 0 { #expect(table.values == order.map { model[$0]! }) }
    }
    #expect(table.isEmpty == model.isEmpty)
}

/// A topic named by another string with the same bytes is found, whichever way the table looks it up.
@Test func topicTableFindsEqualNamesFromOtherStorage() {
    var table = TopicTable<Int>()
    for count in [1, 8, 9, 30] {
        table = TopicTable()
        for index in 0..<count { table["topic-\(index)"] = index }
        for index in 0..<count {
            let name = String(decoding: Array("topic-\(index)".utf8), as: UTF8.self)
            #expect(table[name] == index)
        }
        #expect(table["topic-\(count)"] == nil)
    }
}

/// The IDONTWANT table against a model (a list of (id, until), oldest first), through seeded random adds at
/// advancing times that cross the size where its hash index starts and stops: the same entries and answers after
/// every step, expired ones dropped, and never more than the limit.
@Test func dontWantTableAgreesWithAModel() {
    var random = SeededRandom(seed: 15)
    let ids = (0..<60).map { GossipsubMessageID(Array("message-\($0)".utf8)) }
    for limit in [0, 5, 40] {
        var table = GossipsubRouter.DontWantTable()
        var model: [(id: GossipsubMessageID, until: Instant)] = []
        var now = Instant(nanoseconds: 1)
        for _ in 0..<4_000 {
            // Now and then a pause that expires most entries, so the index is dropped and built again.
            now = now.advanced(bySeconds: random.below(60) == 0 ? 2.6 : Double(random.below(4)) * 0.05)
            let id = ids[random.below(random.below(3) == 0 ? ids.count : 25)]
            let until = now.advanced(bySeconds: 3)
            table.add(id, until: until, now: now, limit: limit)
            model.removeAll { $0.until <= now }
            if limit > 0, !model.contains(where: { $0.id == id }) {
                if model.count >= limit { model.removeFirst(model.count - limit + 1) }
                model.append((id, until))
            }
            #expect(table.count == model.count)
            #expect(table.count <= limit)
            for probe in ids {
                let expected = model.first { $0.id == probe }?.until
                #expect(table.until(GossipsubRouter.DontWantTable.key(probe)) == expected)
            }
        }
    }
}

/// The indexed set against a model list with the same swap-removal, through seeded random inserts and removes that
/// grow it past the size where its hash index is built and shrink it below the size where the index is dropped: the
/// same elements in the same order, and the same answers, after every step.
@Test func indexedSetAgreesWithAModelAcrossItsIndex() {
    var random = SeededRandom(seed: 16)
    var set = IndexedSet<Int>()
    var model: [Int] = []
    var crossings = 0
    var wasIndexed = false
    for step in 0..<6_000 {
        // Phases of growth and shrinkage, so the count crosses the index limit both ways many times.
        let growing = (step / 300) % 2 == 0
        let value = random.below(80)
        if random.below(10) < (growing ? 8 : 2) {
            let inserted = set.insert(value)
            #expect(inserted == !model.contains(value))
            if inserted { model.append(value) }
        } else {
            let removed = set.remove(value)
            if let position = model.firstIndex(of: value) {
                #expect(removed)
                let last = model.removeLast()
                if position < model.count { model[position] = last }
            } else {
                #expect(!removed)
            }
        }
        #expect(set.elements == model)
        #expect(set.count == model.count)
        let probe = random.below(80)
        #expect(set.contains(probe) == model.contains(probe))
        let indexed = model.count > IndexedSet<Int>.indexLimit
        if indexed != wasIndexed { crossings += 1 }
        wasIndexed = indexed
    }
    #expect(crossings >= 4)
}

/// A connected peer's record stays at 32 bytes (one is kept for each connection, in a table of twice as many slots).
@Test func aPeerStateIsThirtyTwoBytes() {
    #expect(MemoryLayout<GossipsubRouter.PeerState>.stride == 32)
}
