import Codec

/// Nibble paths and the hex-prefix encoding that Merkle-Patricia trie nodes store them in (Yellow Paper, Appendix C).
enum Nibbles {
    /// The nibbles of `key`, high nibble first.
    static func of(_ key: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count * 2)
        for byte in key {
            out.append(byte >> 4)
            out.append(byte & 0x0F)
        }
        return out
    }

    /// The hex-prefix encoding of `path` with the leaf flag.
    static func hexPrefix(_ path: ArraySlice<UInt8>, leaf: Bool) -> [UInt8] {
        let odd = path.count % 2 == 1
        var out = [UInt8]()
        out.reserveCapacity(path.count / 2 + 1)
        var index = path.startIndex
        let flag: UInt8 = (leaf ? 2 : 0) + (odd ? 1 : 0)
        if odd {
            out.append(flag << 4 | path[index])
            index += 1
        } else {
            out.append(flag << 4)
        }
        while index < path.endIndex {
            out.append(path[index] << 4 | path[index + 1])
            index += 2
        }
        return out
    }

    /// Decodes a hex-prefix encoded path; rejects unknown flags and a nonzero pad nibble.
    static func decodeHexPrefix(_ bytes: [UInt8]) throws(TrieError) -> (path: [UInt8], leaf: Bool) {
        guard let first = bytes.first else { throw .malformedNode("empty hex-prefix path") }
        let flag = first >> 4
        guard flag <= 3 else { throw .malformedNode("hex-prefix flag \(flag) is not 0...3") }
        var path = [UInt8]()
        path.reserveCapacity(bytes.count * 2)
        if flag & 1 == 1 {
            path.append(first & 0x0F)
        } else if first & 0x0F != 0 {
            throw .malformedNode("hex-prefix pad nibble is not zero")
        }
        for byte in bytes.dropFirst() {
            path.append(byte >> 4)
            path.append(byte & 0x0F)
        }
        return (path, flag & 2 == 2)
    }

    /// The length of the common prefix of `a` and `b`.
    static func commonPrefixLength(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
        var i = 0
        let n = min(a.count, b.count)
        while i < n && a[a.startIndex + i] == b[b.startIndex + i] { i += 1 }
        return i
    }
}
