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
