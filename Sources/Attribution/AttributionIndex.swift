import Codec

/// A Datanet record: its contributor and its bytes.
public struct Record: Hashable, Sendable {
    public var contributor: Address
    public var bytes: [UInt8]

    public init(contributor: Address, bytes: [UInt8]) {
        self.contributor = contributor
        self.bytes = bytes
    }
}

/// The suffix-array index of a snapshot's records. The text is the records' bytes, each record followed by a
/// separator symbol of its own (256 + record index), so no match can cross a record boundary.
public struct AttributionIndex: Sendable {
    public let records: [Record]
    /// The concatenated text over the alphabet 0 ..< 256 + records.count.
    let text: [Int32]
    let suffixArray: [Int32]
    /// Where each record starts in `text`.
    let recordStarts: [Int]

    public init(records: [Record]) {
        let (text, starts) = Self.concatenate(records)
        self.init(
            records: records, text: text, starts: starts,
            suffixArray: SuffixArray.build(text, alphabetSize: 256 + records.count))
    }

    /// An index whose suffix array was built before (and checked to be a permutation).
    init(records: [Record], suffixArray: [Int32]) {
        let (text, starts) = Self.concatenate(records)
        self.init(records: records, text: text, starts: starts, suffixArray: suffixArray)
    }

    private init(records: [Record], text: [Int32], starts: [Int], suffixArray: [Int32]) {
        self.records = records
        self.text = text
        self.recordStarts = starts
        self.suffixArray = suffixArray
        pairStarts = Self.pairTable(text: text, suffixArray: suffixArray)
    }

    /// For every two-byte prefix p (b0 · 256 + b1), the suffix-array interval [pairStarts[p], pairStarts[p + 1])
    /// of the suffixes that start with it: the first two narrowing steps of every match, done once.
    let pairStarts: [Int32]

    private static func pairTable(text: [Int32], suffixArray: [Int32]) -> [Int32] {
        var counts = [Int32](repeating: 0, count: 65_537)
        for position in 0..<max(0, text.count - 1) where text[position] < 256 && text[position + 1] < 256 {
            counts[Int(text[position]) << 8 | Int(text[position + 1])] += 1
        }
        // Suffixes are sorted, so each two-byte prefix occupies one contiguous run; find where each run starts.
        var starts = [Int32](repeating: -1, count: 65_537)
        for (rank, suffix) in suffixArray.enumerated() {
            let position = Int(suffix)
            guard position + 1 < text.count, text[position] < 256, text[position + 1] < 256 else { continue }
            let pair = Int(text[position]) << 8 | Int(text[position + 1])
            if starts[pair] < 0 { starts[pair] = Int32(rank) }
        }
        for pair in 0..<65_536 where starts[pair] < 0 { starts[pair] = 0 }
        // Store (start, start + count) implicitly: starts[p] and starts[p] + counts[p].
        var table = [Int32](repeating: 0, count: 65_536 * 2)
        for pair in 0..<65_536 {
            table[2 * pair] = starts[pair]
            table[2 * pair + 1] = starts[pair] + counts[pair]
        }
        return table
    }

    /// Compares the suffix at `rank` with `pattern` from offset `from`: the first offset where they differ
    /// (or pattern.count) and whether the suffix sorts below the pattern there.
    @inline(__always)
    private func compare(rank: Int, _ pattern: ArraySlice<UInt8>, from: Int) -> (common: Int, suffixIsLess: Bool) {
        let position = Int(suffixArray[rank])
        var offset = from
        while offset < pattern.count {
            let textPosition = position + offset
            let symbol: Int32 = textPosition < text.count ? text[textPosition] : -1
            let wanted = Int32(pattern[pattern.startIndex + offset])
            if symbol != wanted { return (offset, symbol < wanted) }
            offset += 1
        }
        return (offset, false)
    }

    /// The suffix-array interval of the suffixes that start with `pattern` (possibly empty), by binary search
    /// that skips the prefix already known to match both ends (Manber and Myers' acceleration).
    func interval(of pattern: ArraySlice<UInt8>) -> (lower: Int, upper: Int) {
        // Lower bound: the first rank whose suffix is not below the pattern.
        var low = 0
        var high = suffixArray.count
        var lowCommon = 0
        var highCommon = 0
        while low < high {
            let middle = (low + high) / 2
            let (common, less) = compare(rank: middle, pattern, from: min(lowCommon, highCommon))
            if less {
                low = middle + 1
                lowCommon = common
            } else {
                high = middle
                highCommon = common
            }
        }
        let lower = low
        // Upper bound: the first rank whose suffix neither starts with the pattern nor sorts below it.
        high = suffixArray.count
        lowCommon = 0
        highCommon = 0
        while low < high {
            let middle = (low + high) / 2
            let (common, less) = compare(rank: middle, pattern, from: min(lowCommon, highCommon))
            if less || common == pattern.count {
                low = middle + 1
                lowCommon = common
            } else {
                high = middle
                highCommon = common
            }
        }
        return (lower, low)
    }

    /// The suffix-array interval of the longest prefix of `pattern` that occurs, and its length. When the
    /// caller knows that the first `known` symbols occur (matching statistics drop by at most one per step),
    /// the search starts there.
    func longestMatch(_ pattern: ArraySlice<UInt8>, known: Int = 0) -> (length: Int, lower: Int, upper: Int) {
        var lower = 0
        var upper = suffixArray.count
        var length = 0
        if known > 2 && known <= pattern.count {
            let (start, end) = interval(of: pattern.prefix(known))
            if start < end {
                lower = start
                upper = end
                length = known
            }
        }
        if length == 0 && pattern.count >= 2 {
            let pair = Int(pattern[pattern.startIndex]) << 8 | Int(pattern[pattern.startIndex + 1])
            let start = Int(pairStarts[2 * pair])
            let end = Int(pairStarts[2 * pair + 1])
            if start < end {
                lower = start
                upper = end
                length = 2
            }
        }
        while length < pattern.count {
            if upper - lower == 1 {
                // One occurrence left: extend by comparing the text directly.
                let position = Int(suffixArray[lower])
                while length < pattern.count, position + length < text.count,
                    text[position + length] == Int32(pattern[pattern.startIndex + length])
                {
                    length += 1
                }
                break
            }
            let (nextLower, nextUpper) = narrow(
                lower, upper, depth: length, symbol: Int32(pattern[pattern.startIndex + length]))
            if nextLower >= nextUpper { break }
            (lower, upper) = (nextLower, nextUpper)
            length += 1
        }
        if length == 0 { return (0, 0, 0) }
        return (length, lower, upper)
    }

    private static func concatenate(_ records: [Record]) -> (text: [Int32], starts: [Int]) {
        var text: [Int32] = []
        var starts: [Int] = []
        text.reserveCapacity(records.reduce(0) { $0 + $1.bytes.count + 1 })
        for (index, record) in records.enumerated() {
            starts.append(text.count)
            for byte in record.bytes { text.append(Int32(byte)) }
            text.append(Int32(256 + index))
        }
        return (text, starts)
    }

    /// The record holding text position `position`, and the offset within it.
    func locate(_ position: Int) -> (record: Int, offset: Int) {
        var low = 0
        var high = recordStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if recordStarts[middle] <= position { low = middle } else { high = middle - 1 }
        }
        return (low, position - recordStarts[low])
    }

    /// Narrows the suffix-array interval [lower, upper) of suffixes starting with a pattern of length `depth` to
    /// those whose next symbol is `symbol`.
    func narrow(_ lower: Int, _ upper: Int, depth: Int, symbol: Int32) -> (Int, Int) {
        func symbolAt(_ rank: Int) -> Int32 {
            let position = Int(suffixArray[rank]) + depth
            return position < text.count ? text[position] : -1
        }
        var low = lower
        var high = upper
        while low < high {
            let middle = (low + high) / 2
            if symbolAt(middle) < symbol { low = middle + 1 } else { high = middle }
        }
        let start = low
        high = upper
        while low < high {
            let middle = (low + high) / 2
            if symbolAt(middle) <= symbol { low = middle + 1 } else { high = middle }
        }
        return (start, low)
    }
}
