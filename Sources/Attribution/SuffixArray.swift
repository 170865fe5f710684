/// Suffix array construction by induced sorting (SA-IS; Nong, Zhang and Chan 2009): linear time over an integer
/// alphabet, which is what keeps records apart — each record ends in a separator symbol of its own, so no
/// common prefix of two suffixes runs across a record boundary.
public enum SuffixArray {
    /// The suffix array of `text`, whose symbols lie in 0..<alphabetSize. The text need not end in a sentinel.
    public static func build(_ text: [Int32], alphabetSize: Int) -> [Int32] {
        let n = text.count
        if n == 0 { return [] }
        if n == 1 { return [0] }
        // Shift symbols up by one and append a unique smallest sentinel 0, then drop it from the result.
        var extended = [Int32](repeating: 0, count: n + 1)
        for index in 0..<n { extended[index] = text[index] + 1 }
        var suffixArray = [Int32](repeating: 0, count: n + 1)
        sais(extended, &suffixArray, alphabetSize: alphabetSize + 1)
        return Array(suffixArray.dropFirst())
    }

    /// SA-IS on `text`, which ends in a unique smallest symbol 0.
    private static func sais(_ text: [Int32], _ suffixArray: inout [Int32], alphabetSize: Int) {
        let n = text.count
        // Classify suffixes: S-type (true) or L-type (false).
        var isS = [Bool](repeating: false, count: n)
        isS[n - 1] = true
        if n >= 2 {
            for index in stride(from: n - 2, through: 0, by: -1) {
                isS[index] = text[index] < text[index + 1] || (text[index] == text[index + 1] && isS[index + 1])
            }
        }
        func isLMS(_ index: Int) -> Bool { index > 0 && isS[index] && !isS[index - 1] }

        var bucketSizes = [Int](repeating: 0, count: alphabetSize)
        for symbol in text { bucketSizes[Int(symbol)] += 1 }
        func bucketHeads() -> [Int] {
            var heads = [Int](repeating: 0, count: alphabetSize)
            var sum = 0
            for symbol in 0..<alphabetSize {
                heads[symbol] = sum
                sum += bucketSizes[symbol]
            }
            return heads
        }
        func bucketTails() -> [Int] {
            var tails = [Int](repeating: 0, count: alphabetSize)
            var sum = 0
            for symbol in 0..<alphabetSize {
                sum += bucketSizes[symbol]
                tails[symbol] = sum
            }
            return tails
        }
        func induce(_ suffixArray: inout [Int32]) {
            var heads = bucketHeads()
            for position in 0..<n {
                let suffix = Int(suffixArray[position]) - 1
                if suffix >= 0 && !isS[suffix] {
                    let symbol = Int(text[suffix])
                    suffixArray[heads[symbol]] = Int32(suffix)
                    heads[symbol] += 1
                }
            }
            var tails = bucketTails()
            for position in stride(from: n - 1, through: 0, by: -1) {
                let suffix = Int(suffixArray[position]) - 1
                if suffix >= 0 && isS[suffix] {
                    let symbol = Int(text[suffix])
                    tails[symbol] -= 1
                    suffixArray[tails[symbol]] = Int32(suffix)
                }
            }
        }

        // Step 1: place LMS suffixes at their bucket tails and induce.
        suffixArray = [Int32](repeating: -1, count: n)
        var tails = bucketTails()
        for index in stride(from: n - 1, through: 1, by: -1) where isLMS(index) {
            let symbol = Int(text[index])
            tails[symbol] -= 1
            suffixArray[tails[symbol]] = Int32(index)
        }
        induce(&suffixArray)

        // Step 2: name the sorted LMS substrings.
        var lmsOrder: [Int] = []
        for position in 0..<n where isLMS(Int(suffixArray[position])) { lmsOrder.append(Int(suffixArray[position])) }
        var names = [Int32](repeating: -1, count: n)
        var name: Int32 = 0
        var previous = -1
        for current in lmsOrder {
            if previous >= 0 && !equalLMSSubstrings(text, isS, previous, current) { name += 1 }
            if previous < 0 { name = 0 }
            names[current] = name
            previous = current
        }
        var reducedPositions: [Int] = []
        var reduced: [Int32] = []
        for index in 0..<n where names[index] >= 0 {
            reducedPositions.append(index)
            reduced.append(names[index])
        }

        // Step 3: sort the LMS suffixes, recursively if names repeat.
        var reducedSA = [Int32](repeating: 0, count: reduced.count)
        if Int(name) + 1 < reduced.count {
            sais(reduced, &reducedSA, alphabetSize: Int(name) + 1)
        } else {
            for (index, symbol) in reduced.enumerated() { reducedSA[Int(symbol)] = Int32(index) }
        }

        // Step 4: place the sorted LMS suffixes and induce the rest.
        suffixArray = [Int32](repeating: -1, count: n)
        tails = bucketTails()
        for position in stride(from: reducedSA.count - 1, through: 0, by: -1) {
            let index = reducedPositions[Int(reducedSA[position])]
            let symbol = Int(text[index])
            tails[symbol] -= 1
            suffixArray[tails[symbol]] = Int32(index)
        }
        induce(&suffixArray)
    }

    /// Whether the LMS substrings starting at `a` and `b` are equal (same symbols and types up to the next LMS).
    private static func equalLMSSubstrings(_ text: [Int32], _ isS: [Bool], _ a: Int, _ b: Int) -> Bool {
        let n = text.count
        if a == n - 1 || b == n - 1 { return false }
        var offset = 0
        while true {
            let aLMS = offset > 0 && a + offset < n && isS[a + offset] && !isS[a + offset - 1]
            let bLMS = offset > 0 && b + offset < n && isS[b + offset] && !isS[b + offset - 1]
            if offset > 0 && aLMS && bLMS { return true }
            if aLMS != bLMS { return false }
            if a + offset >= n || b + offset >= n { return false }
            if text[a + offset] != text[b + offset] || isS[a + offset] != isS[b + offset] { return false }
            offset += 1
        }
    }
}
