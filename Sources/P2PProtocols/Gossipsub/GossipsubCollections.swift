import Runtime

/// A set that iterates in an order fixed by its history (insertion, swap-removal), never by hash seeds: the router's
/// choices and its output order must replay from the seed alone.
///
/// A router holds many small ones (each connected peer's topics, each topic's peers and mesh), so up to
/// `indexLimit` elements are found by comparison in the list alone; a hash index of positions is built past that,
/// and dropped again at half of it. The order is the list's either way.
struct IndexedSet<Element: Hashable & Sendable>: Sendable, Sequence {
    private(set) var elements: [Element] = []
    /// Every element's position in `elements`, while there are more than `indexLimit` of them.
    private var positions: [Element: Int]?

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    /// Past this many elements the set keeps a hash index (comparing a few peer ids or topics costs less than hashing
    /// one, and an index costs a table's memory).
    static var indexLimit: Int { 32 }

    @inline(__always)
    func contains(_ element: Element) -> Bool {
        if let positions { return positions[element] != nil }
        return elements.contains(element)
    }

    @inline(__always)
    private func position(of element: Element) -> Int? {
        if let positions { return positions[element] }
        return elements.firstIndex(of: element)
    }

    /// Inserts `element`; false when it was there.
    @discardableResult
    mutating func insert(_ element: Element) -> Bool {
        guard !contains(element) else { return false }
        elements.append(element)
        if positions != nil {
            positions![element] = elements.count - 1
        } else if elements.count > Self.indexLimit {
            var index: [Element: Int] = [:]
            index.reserveCapacity(elements.count)
            for (position, member) in elements.enumerated() { index[member] = position }
            positions = index
        }
        return true
    }

    /// Removes `element` (the last element takes its place); false when it was not there.
    @discardableResult
    mutating func remove(_ element: Element) -> Bool {
        guard let position = position(of: element) else { return false }
        let last = elements.removeLast()
        if positions != nil {
            positions![element] = nil
            if position < elements.count { positions![last] = position }
            if elements.count <= Self.indexLimit / 2 { positions = nil }
        }
        if position < elements.count { elements[position] = last }
        return true
    }

    func makeIterator() -> IndexingIterator<[Element]> { elements.makeIterator() }
}

/// A first-in first-out queue with amortized O(1) push and pop (expiry lists ordered by time).
///
/// The storage is compacted once the popped prefix is 4 or more and outweighs what is left (each pop moves at most
/// one element, amortized): a queue that never empties, such as an expiry list with a steady flow through it, holds
/// about twice its live elements rather than all it held since it was last empty.
struct FIFOQueue<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Element? { head < storage.count ? storage[head] : nil }

    mutating func push(_ element: Element) { storage.append(element) }

    /// The first (oldest) element that satisfies `predicate`.
    @inline(__always)
    func first(where predicate: (Element) -> Bool) -> Element? {
        var position = head
        while position < storage.count {
            if predicate(storage[position]) { return storage[position] }
            position += 1
        }
        return nil
    }

    /// The elements, oldest first.
    var elements: ArraySlice<Element> { storage[head...] }

    @discardableResult
    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4 && head * 2 >= storage.count {
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

/// A table keyed by topic name, iterated in an order fixed by its history (insertion, swap-removal).
///
/// A router has a handful of topics and looks one up on nearly every event: up to `scanLimit` entries a name is
/// found by comparison (an equal name from the same storage compares at once; hashing one costs a SipHash round),
/// and past that by a hash index, so that a peer announcing many topics costs no more than a dictionary would.
struct TopicTable<Value: Sendable>: Sendable {
    /// The topics, in the table's order.
    private(set) var keys: [String] = []
    /// Each topic's value, at its topic's position (nil only while a value is moved out to be modified).
    private var entries: [Value?] = []
    /// Positions by topic, kept only while there are more than `scanLimit` topics.
    private var positions: [String: Int] = [:]

    private static var scanLimit: Int { 8 }

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }
    /// The values, in the table's order.
    var values: [Value] { entries.compactMap { $0 } }

    @inline(__always)
    private func position(of key: String) -> Int? {
        if keys.count > Self.scanLimit { return positions[key] }
        var index = 0
        while index < keys.count {
            if keys[index] == key { return index }
            index += 1
        }
        return nil
    }

    private mutating func append(_ key: String, _ value: Value) -> Int {
        keys.append(key)
        entries.append(value)
        let position = keys.count - 1
        if keys.count == Self.scanLimit + 1 {
            for (index, name) in keys.enumerated() { positions[name] = index }
        } else if keys.count > Self.scanLimit {
            positions[key] = position
        }
        return position
    }

    private mutating func remove(at position: Int) {
        let lastKey = keys.removeLast()
        let lastEntry = entries.removeLast()
        if position < keys.count {
            positions[keys[position]] = nil
            keys[position] = lastKey
            entries[position] = lastEntry
            if !positions.isEmpty { positions[lastKey] = position }
        } else {
            positions[lastKey] = nil
        }
        if keys.count <= Self.scanLimit { positions = [:] }
    }

    /// Whether `key` has an entry.
    func contains(_ key: String) -> Bool { position(of: key) != nil }

    /// The value of `key`; setting nil removes it.
    ///
    /// Modified in place: an entry is moved out, not copied.
    subscript(key: String) -> Value? {
        get { position(of: key).flatMap { entries[$0] } }
        _modify {
            if let index = position(of: key) {
                var value = entries[index].take()
                defer {
                    if let value { entries[index] = value } else { remove(at: index) }
                }
                yield &value
            } else {
                var value: Value? = nil
                defer { if let value { _ = append(key, value) } }
                yield &value
            }
        }
    }

    /// The value of `key`, made from `defaultValue` when missing; modified in place.
    subscript(key: String, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[key] ?? defaultValue() }
        _modify {
            let index = position(of: key) ?? append(key, defaultValue())
            var value = entries[index].take()!
            defer { entries[index] = value }
            yield &value
        }
    }

    /// Removes `key`'s entry (the last entry takes its place) and returns its value.
    @discardableResult
    mutating func removeValue(forKey key: String) -> Value? {
        guard let index = position(of: key) else { return nil }
        let value = entries[index]
        remove(at: index)
        return value
    }
}
