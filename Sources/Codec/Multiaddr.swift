/// A multiaddr (multiformats/multiaddr): a sequence of protocol components, in binary and text forms.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible {
    /// The protocols this node speaks in addresses.
    public enum Code: UInt64, Sendable, CaseIterable {
        case ip4 = 4
        case tcp = 6
        case dns = 53
        case dns4 = 54
        case dns6 = 55
        case ip6 = 41
        case udp = 273
        case p2p = 421
        case quicV1 = 0x01CC
        case ws = 477
        case wss = 478

        /// The protocol's name in the text form.
        public var name: String {
            switch self {
            case .ip4: "ip4"
            case .tcp: "tcp"
            case .dns: "dns"
            case .dns4: "dns4"
            case .dns6: "dns6"
            case .ip6: "ip6"
            case .udp: "udp"
            case .p2p: "p2p"
            case .quicV1: "quic-v1"
            case .ws: "ws"
            case .wss: "wss"
            }
        }

        /// The value size in bytes: fixed, none (0), or nil for length-prefixed.
        var fixedSize: Int? {
            switch self {
            case .ip4: 4
            case .ip6: 16
            case .tcp, .udp: 2
            case .quicV1, .ws, .wss: 0
            case .dns, .dns4, .dns6, .p2p: nil
            }
        }

        static func named(_ name: Substring) -> Code? {
            if name == "ipfs" { return .p2p }  // the legacy name of p2p
            return allCases.first { $0.name == name }
        }
    }

    /// One protocol and its value bytes (binary form).
    public struct Component: Hashable, Sendable {
        /// The protocol.
        public let code: Code
        /// The value in binary form: empty for protocols without one.
        public let value: [UInt8]
    }

    /// The largest binary or text form accepted.
    public static let maxLength = 1024

    /// The components in the order they are written.
    public let components: [Component]

    private init(components: [Component]) { self.components = components }

    // MARK: Binary

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for component in components {
            Varint.append(component.code.rawValue, to: &out)
            if component.code.fixedSize == nil { Varint.append(UInt64(component.value.count), to: &out) }
            out += component.value
        }
        return out
    }

    /// Decodes the binary form; every value is validated as its protocol requires.
    public init(bytes: [UInt8]) throws(CodecError) {
        guard !bytes.isEmpty, bytes.count <= Self.maxLength else {
            throw .invalidMultiaddr("binary form of \(bytes.count) bytes")
        }
        var components: [Component] = []
        var position = 0
        while position < bytes.count {
            let code: UInt64
            do {
                code = try Varint.read(bytes, at: &position)
            } catch {
                throw .invalidMultiaddr("\(error)")
            }
            guard let proto = Code(rawValue: code) else { throw .invalidMultiaddr("unknown protocol code \(code)") }
            var size = proto.fixedSize ?? 0
            if proto.fixedSize == nil {
                do {
                    size = Int(try Varint.read(bytes, at: &position))
                } catch {
                    throw .invalidMultiaddr("\(proto.name): \(error)")
                }
            }
            guard size <= bytes.count - position else { throw .invalidMultiaddr("\(proto.name) value is truncated") }
            let value = Array(bytes[position..<position + size])
            position += size
            try Self.validate(proto, value)
            components.append(Component(code: proto, value: value))
        }
        self.init(components: components)
    }

    // MARK: Text

    /// The text form, such as `/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…`.
    public var description: String {
        components.map { component in
            let name = "/" + component.code.name
            return component.code.fixedSize == 0 ? name : name + "/" + Self.text(component)
        }.joined()
    }

    /// Parses the text form.
    public init(_ text: some StringProtocol) throws(CodecError) {
        guard text.utf8.count <= Self.maxLength else { throw .invalidMultiaddr("text longer than \(Self.maxLength)") }
        guard text.hasPrefix("/") else { throw .invalidMultiaddr("must start with '/'") }
        var parts = Substring(text).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if parts.last == "" { parts = parts.dropLast() }
        guard !parts.isEmpty else { throw .invalidMultiaddr("no protocols") }
        var components: [Component] = []
        while let name = parts.popFirst() {
            guard let proto = Code.named(name) else { throw .invalidMultiaddr("unknown protocol '\(name)'") }
            if proto.fixedSize == 0 {
                components.append(Component(code: proto, value: []))
                continue
            }
            guard let valueText = parts.popFirst() else { throw .invalidMultiaddr("\(proto.name) needs a value") }
            let value = try Self.value(proto, valueText)
            try Self.validate(proto, value)
            components.append(Component(code: proto, value: value))
        }
        self.init(components: components)
    }

    /// The peer id of a trailing /p2p component, if any.
    public var peerID: PeerID? {
        guard let last = components.last, last.code == .p2p else { return nil }
        return try? PeerID(multihashBytes: last.value)
    }

    /// This address followed by /p2p/`peer`.
    public func appending(peer: PeerID) -> Multiaddr {
        Multiaddr(components: components + [Component(code: .p2p, value: peer.multihash.bytes)])
    }

    /// The address without a trailing /p2p component.
    public var withoutPeer: Multiaddr {
        components.last?.code == .p2p ? Multiaddr(components: Array(components.dropLast())) : self
    }

    /// The value of the first component of `protocol` as text.
    public func value(of proto: Code) -> String? {
        components.first { $0.code == proto }.map(Self.text)
    }

    private static func value(_ proto: Code, _ text: Substring) throws(CodecError) -> [UInt8] {
        switch proto {
        case .ip4:
            guard let bytes = IPAddress.parseIPv4(text) else { throw .invalidMultiaddr("invalid IPv4 '\(text)'") }
            return bytes
        case .ip6:
            guard let bytes = IPAddress.parseIPv6(text) else { throw .invalidMultiaddr("invalid IPv6 '\(text)'") }
            return bytes
        case .tcp, .udp:
            guard text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let port = UInt16(text),
                text == "0" || !text.hasPrefix("0")
            else { throw .invalidMultiaddr("invalid \(proto.name) port '\(text)'") }
            return [UInt8(port >> 8), UInt8(port & 0xFF)]
        case .dns, .dns4, .dns6:
            return Array(text.utf8)
        case .p2p:
            do {
                return try PeerID(string: text).multihash.bytes
            } catch {
                throw .invalidMultiaddr("invalid peer id '\(text)': \(error)")
            }
        case .quicV1, .ws, .wss:
            return []
        }
    }

    private static func validate(_ proto: Code, _ value: [UInt8]) throws(CodecError) {
        switch proto {
        case .dns, .dns4, .dns6:
            guard !value.isEmpty, value.count <= 253, !value.contains(UInt8(ascii: "/")),
                let name = String(validating: value, as: UTF8.self), name.unicodeScalars.allSatisfy({ $0.value > 32 })
            else { throw .invalidMultiaddr("invalid DNS name") }
        case .p2p:
            do {
                _ = try PeerID(multihashBytes: value)
            } catch {
                throw .invalidMultiaddr("invalid peer id: \(error)")
            }
        default:
            break
        }
    }

    private static func text(_ component: Component) -> String {
        let value = component.value
        switch component.code {
        case .ip4: return value.map(String.init).joined(separator: ".")
        case .ip6: return IPAddress.formatIPv6(value)
        case .tcp, .udp: return String(UInt16(value[0]) << 8 | UInt16(value[1]))
        case .dns, .dns4, .dns6: return String(decoding: value, as: UTF8.self)
        case .p2p: return Base58.encode(value)
        case .quicV1, .ws, .wss: return ""
        }
    }
}

/// Strict text forms of IP addresses.
enum IPAddress {
    /// Dotted decimal, four octets, no leading zeros.
    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part == "0" || !part.hasPrefix("0"), let value = UInt8(part)
            else { return nil }
            out.append(value)
        }
        return out
    }

    /// RFC 4291 text: eight groups, one `::`, optionally an IPv4 tail.
    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        sawGap = halves.count == 2
        func groups(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1 && allowIPv4 && piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    result += [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
                    continue
                }
                guard (1...4).contains(piece.count), piece.allSatisfy(\.isHexDigit),
                    let value = UInt16(piece, radix: 16)
                else { return nil }
                result.append(value)
            }
            return result
        }
        guard let first = groups(halves[0], allowIPv4: !sawGap) else { return nil }
        head = first
        if sawGap {
            guard let second = groups(halves[1], allowIPv4: true) else { return nil }
            tail = second
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// RFC 5952 canonical text: lower case, no leading zeros, the longest run of two or more zero groups as `::`.
    static func formatIPv6(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength && end - index >= 2 {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let left = hex[..<bestStart].joined(separator: ":")
        let right = hex[(bestStart + bestLength)...].joined(separator: ":")
        return left + "::" + right
    }
}
