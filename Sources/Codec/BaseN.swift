/// The two families of base encodings behind multibase: bit packing (RFC 4648) and radix conversion
/// (base58 style, leading zero bytes kept as leading zero digits).
enum BaseN {
    /// Radix decoding is quadratic; longer texts are refused rather than allowed to burn CPU.
    static let maxRadixTextLength = 4096

    static func encodeBits(_ bytes: [UInt8], width: Int, alphabet: [Unicode.Scalar], padded: Bool) -> String {
        var out = String.UnicodeScalarView()
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= width {
                bits -= width
                out.append(alphabet[(buffer >> bits) & ((1 << width) - 1)])
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[(buffer << (width - bits)) & ((1 << width) - 1)]) }
        if padded {
            let group = lcm(8, width) / width
            while out.count % group != 0 { out.append("=") }
        }
        return String(out)
    }

    static func decodeBits(
        _ text: Substring, width: Int, alphabet: [Unicode.Scalar], padded: Bool, caseInsensitive: Bool, name: String
    ) throws(CodecError) -> [UInt8] {
        var scalars = Array(text.unicodeScalars)
        if padded {
            let group = lcm(8, width) / width
            guard scalars.count % group == 0 else { throw .invalidMultibase("\(name): length is not a whole group") }
            var padding = 0
            while scalars.last == "=" {
                scalars.removeLast()
                padding += 1
            }
            guard padding < group, padding == (group - scalars.count % group) % group else {
                throw .invalidMultibase("\(name): wrong padding")
            }
        }
        let index = lookup(alphabet, caseInsensitive: caseInsensitive)
        var out: [UInt8] = []
        out.reserveCapacity(scalars.count * width / 8)
        var buffer = 0
        var bits = 0
        for scalar in scalars {
            guard let value = index[scalar] else { throw .invalidMultibase("\(name): invalid character '\(scalar)'") }
            buffer = buffer << width | value
            bits += width
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> bits))
                buffer &= (1 << bits) - 1
            }
        }
        // Canonical: leftover bits are fewer than a character and all zero.
        guard bits < width, buffer == 0 else { throw .invalidMultibase("\(name): non-zero or excess trailing bits") }
        return out
    }

    static func encodeRadix(_ bytes: [UInt8], alphabet: [Unicode.Scalar]) -> String {
        let base = alphabet.count
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [Int] = []  // little-endian digits of the number
        for byte in bytes.dropFirst(zeros) {
            var carry = Int(byte)
            for index in digits.indices {
                carry += digits[index] << 8
                digits[index] = carry % base
                carry /= base
            }
            while carry > 0 {
                digits.append(carry % base)
                carry /= base
            }
        }
        var out = String.UnicodeScalarView(repeating: alphabet[0], count: zeros)
        for digit in digits.reversed() { out.append(alphabet[digit]) }
        return String(out)
    }

    static func decodeRadix(_ text: Substring, alphabet: [Unicode.Scalar], caseInsensitive: Bool, name: String)
        throws(CodecError) -> [UInt8]
    {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count <= maxRadixTextLength else {
            throw .invalidMultibase("\(name): text longer than \(maxRadixTextLength) characters")
        }
        let index = lookup(alphabet, caseInsensitive: caseInsensitive)
        let base = alphabet.count
        let zeros = scalars.prefix { index[$0] == 0 }.count
        var bytes: [UInt8] = []  // little-endian
        for scalar in scalars.dropFirst(zeros) {
            guard let value = index[scalar] else { throw .invalidMultibase("\(name): invalid character '\(scalar)'") }
            var carry = value
            for position in bytes.indices {
                carry += Int(bytes[position]) * base
                bytes[position] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }

    private static func lookup(_ alphabet: [Unicode.Scalar], caseInsensitive: Bool) -> [Unicode.Scalar: Int] {
        var index: [Unicode.Scalar: Int] = [:]
        for (value, scalar) in alphabet.enumerated() {
            index[scalar] = value
            if caseInsensitive {
                for variant in [String(scalar).lowercased(), String(scalar).uppercased()] {
                    if let other = variant.unicodeScalars.first { index[other] = value }
                }
            }
        }
        return index
    }

    private static func lcm(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    /// The base256emoji alphabet (multiformats/multibase rfcs/Base256Emoji.md): byte i is scalar i.
    static let emojiAlphabet: [Unicode.Scalar] = Array(
        "🚀🪐☄🛰🌌🌑🌒🌓🌔🌕🌖🌗🌘🌍🌏🌎🐉☀💻🖥💾💿😂❤😍🤣😊🙏💕😭😘👍😅👏😁🔥🥰💔💖💙😢🤔😆🙄💪😉☺👌🤗💜😔😎😇🌹🤦🎉💞✌✨🤷😱😌🌸🙌😋💗💚😏💛🙂💓🤩😄😀🖤😃💯🙈👇🎶😒🤭❣😜💋👀😪😑💥🙋😞😩😡🤪👊🥳😥🤤👉💃😳✋😚😝😴🌟😬🙃🍀🌷😻😓⭐✅🥺🌈😈🤘💦✔😣🏃💐☹🎊💘😠☝😕🌺🎂🌻😐🖕💝🙊😹🗣💫💀👑🎵🤞😛🔴😤🌼😫⚽🤙☕🏆🤫👈😮🙆🍻🍃🐶💁😲🌿🧡🎁⚡🌞🎈❌✊👋😰🤨😶🤝🚶💰🍓💢🤟🙁🚨💨🤬✈🎀🍺🤓😙💟🌱😖👶🥴▶➡❓💎💸⬇😨🌚🦋😷🕺⚠🙅😟😵👎🤲🤠🤧📌🔵💅🧐🐾🍒😗🤑🌊🤯🐷☎💧😯💆👆🎤🙇🍑❄🌴💣🐸💌📍🥀🤢👅💡💩👐📸👻🤐🤮🎼🥵🚩🍎🍊👼💍📣🥂"
            .unicodeScalars)

    static let emojiIndex: [Unicode.Scalar: UInt8] = {
        var index: [Unicode.Scalar: UInt8] = [:]
        for (value, scalar) in emojiAlphabet.enumerated() { index[scalar] = UInt8(value) }
        return index
    }()
}
