import Codec

/// multistream-select 1.0 (`/multistream/1.0.0`): messages are a varint length, then the text and a newline.
/// A pure negotiation state machine; the initiator proposes protocols in order, the listener accepts the first
/// it supports.
public struct MultistreamSelect: Sendable {
    public static let protocolID = "/multistream/1.0.0"
    public static let notAvailable = "na"
    /// The longest message accepted (protocol ids are short).
    public static let maxMessageLength = 1_024

    public enum Role: Sendable {
        case initiator(proposals: [String])
        case listener(supported: [String])
    }

    public enum Outcome: Equatable, Sendable {
        case selected(String)
        case unsupported
    }

    public enum NegotiationError: Error, Equatable, Sendable {
        case malformed(String)
        case protocolViolation(String)
    }

    private let role: Role
    private var buffer: [UInt8] = []
    private var headerReceived = false
    private var nextProposal = 0
    public private(set) var outcome: Outcome?

    public init(role: Role) { self.role = role }

    /// One message on the wire.
    public static func encode(_ text: String) -> [UInt8] {
        let body = Array(text.utf8) + [UInt8(ascii: "\n")]
        return Varint.encode(UInt64(body.count)) + body
    }

    /// Takes one complete message off the front of `buffer`; nil when more bytes are needed.
    public static func decode(_ buffer: inout [UInt8]) throws(NegotiationError) -> String? {
        // A varint ends at the first byte without the continuation bit: until that byte (or more bytes than a
        // varint may have) has arrived, the length prefix is incomplete, not malformed.
        guard buffer.prefix(Varint.maxBytes).contains(where: { $0 & 0x80 == 0 }) || buffer.count >= Varint.maxBytes
        else { return nil }
        var position = 0
        let length: UInt64
        do {
            length = try Varint.read(buffer, at: &position)
        } catch {
            throw .malformed("\(error)")
        }
        guard length >= 1, length <= UInt64(maxMessageLength) else { throw .malformed("message length \(length)") }
        guard buffer.count - position >= Int(length) else { return nil }
        let body = buffer[position..<(position + Int(length))]
        guard body.last == UInt8(ascii: "\n"), let text = String(validating: body.dropLast(), as: UTF8.self) else {
            throw .malformed("message without newline or not UTF-8")
        }
        buffer.removeFirst(position + Int(length))
        return text
    }

    /// The bytes to send first: the header, and for the initiator its first proposal.
    public mutating func start() -> [UInt8] {
        var out = Self.encode(Self.protocolID)
        if case .initiator(let proposals) = role, let first = proposals.first { out += Self.encode(first) }
        return out
    }

    /// Feeds received bytes; returns bytes to send. `outcome` is set once negotiation ends.
    public mutating func receive(_ bytes: [UInt8]) throws(NegotiationError) -> [UInt8] {
        buffer += bytes
        var out: [UInt8] = []
        while outcome == nil, let message = try Self.decode(&buffer) {
            if !headerReceived {
                guard message == Self.protocolID else {
                    throw .protocolViolation("expected \(Self.protocolID), got \(message)")
                }
                headerReceived = true
                continue
            }
            switch role {
            case .initiator(let proposals):
                guard nextProposal < proposals.count else { throw .protocolViolation("reply after the last proposal") }
                if message == proposals[nextProposal] {
                    outcome = .selected(message)
                } else if message == Self.notAvailable {
                    nextProposal += 1
                    if nextProposal < proposals.count {
                        out += Self.encode(proposals[nextProposal])
                    } else {
                        outcome = .unsupported
                    }
                } else {
                    throw .protocolViolation("unexpected reply \(message)")
                }
            case .listener(let supported):
                if supported.contains(message) {
                    out += Self.encode(message)
                    outcome = .selected(message)
                } else {
                    out += Self.encode(Self.notAvailable)
                }
            }
        }
        return out
    }

    /// Bytes received after negotiation ended: the start of the selected protocol's stream.
    public var remainder: [UInt8] { buffer }
}
