import Runtime

/// A set that iterates in an order fixed by its history (insertion, swap-removal), never by hash seeds: the router's
/// choices and its output order must replay from the seed alone.
struct IndexedSet<Element: Hashable & Sendable>: Sendable, Sequence {
    private(set) var elements: [Element] = []
    private var positions: [Element: Int] = [:]

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    /// Up to this many elements are searched by comparison instead of by hash (a router's topics are a few strings,
    /// and comparing one costs less than hashing it).
    private static var scanLimit: Int { 4 }

    func contains(_ element: Element) -> Bool {
        if elements.count <= Self.scanLimit { return elements.contains(element) }
        return positions[element] != nil
    }

    /// Inserts `element`; false when it was there.
    @discardableResult
    mutating func insert(_ element: Element) -> Bool {
        guard positions[element] == nil else { return false }
        positions[element] = elements.count
        elements.append(element)
        return true
    }

    /// Removes `element` (the last element takes its place); false when it was not there.
    @discardableResult
    mutating func remove(_ element: Element) -> Bool {
        guard let position = positions.removeValue(forKey: element) else { return false }
        let last = elements.removeLast()
        if position < elements.count {
            elements[position] = last
            positions[last] = position
        }
        return true
    }

    func makeIterator() -> IndexingIterator<[Element]> { elements.makeIterator() }
}

/// A first-in first-out queue with amortized O(1) push and pop (expiry lists ordered by time).
struct FIFOQueue<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Element? { head < storage.count ? storage[head] : nil }

    mutating func push(_ element: Element) { storage.append(element) }

    @discardableResult
    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }
}

extension SeededRandom {
    /// A uniform integer in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(truncatingIfNeeded: next() % UInt64(bound)) }

    /// Moves `count` uniformly chosen elements of `array` to its front (a partial Fisher–Yates shuffle).
    mutating func choose<T>(_ count: Int, from array: inout [T]) {
        let limit = Swift.min(count, array.count)
        guard limit > 0 else { return }
        for index in 0..<limit where array.count - index > 1 {
            let other = index + below(array.count - index)
            if other != index { array.swapAt(index, other) }
        }
    }

    /// Shuffles `array` in place.
    mutating func shuffle<T>(_ array: inout [T]) { choose(array.count, from: &array) }
}
