/// A first-in first-out queue over an array: O(1) amortized push and pop, the storage compacted once the popped
/// prefix is 8 or more and outweighs what is left (so a queue that never empties holds about twice its live elements).
///
/// The score keeper's expiry lists (delivery records, retained peers) are pushed in time order, so the head is
/// always the next to expire.
struct GossipsubScoreQueue<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var head = 0

    /// Elements queued.
    var count: Int { storage.count - head }

    /// Whether nothing is queued.
    var isEmpty: Bool { head == storage.count }

    /// The oldest element.
    var first: Element? { head < storage.count ? storage[head] : nil }

    /// Queues `element` last.
    mutating func append(_ element: Element) { storage.append(element) }

    /// Takes the oldest element out.
    @discardableResult
    mutating func removeFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.count <= 4_096)
            head = 0
        } else if head >= 8 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Keeps only the elements `keep` accepts, in order.
    mutating func retain(where keep: (Element) -> Bool) {
        storage = storage[head...].filter(keep)
        head = 0
    }
}
