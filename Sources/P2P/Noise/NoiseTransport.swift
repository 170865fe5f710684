/// libp2p Noise framing: every handshake and transport message is a 2-byte big-endian length and that many
/// bytes; transport messages are sealed with the split ciphers, at most 65,535 bytes each including the tag.
public struct NoiseTransport: Sendable {
    public static let maxFrame = 65_535
    public static let maxPlaintext = maxFrame - 16

    private var send: NoiseCipherState
    private var receive: NoiseCipherState
    private var buffer: [UInt8] = []

    public init(send: NoiseCipherState, receive: NoiseCipherState) {
        self.send = send
        self.receive = receive
    }

    /// A length-prefixed frame around `body` (handshake messages use this directly).
    public static func frame(_ body: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard body.count <= maxFrame else { throw .malformedMessage("frame of \(body.count) bytes") }
        return [UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    /// Takes one frame off the front of `buffer`; nil when more bytes are needed.
    public static func unframe(_ buffer: inout [UInt8]) -> [UInt8]? {
        guard buffer.count >= 2 else { return nil }
        let length = Int(buffer[0]) << 8 | Int(buffer[1])
        guard buffer.count >= 2 + length else { return nil }
        defer { buffer.removeFirst(2 + length) }
        return Array(buffer[2..<(2 + length)])
    }

    /// Encrypts `plaintext` into as many frames as it needs.
    public mutating func seal(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        repeat {
            let chunk = Array(plaintext[offset..<min(plaintext.count, offset + Self.maxPlaintext)])
            out += try Self.frame(try send.encrypt(chunk, ad: []))
            offset += chunk.count
        } while offset < plaintext.count
        return out
    }

    /// Feeds received bytes; returns the plaintext of every complete frame. A frame that fails to decrypt ends
    /// the session (the error is final: the cipher state is no longer in step with the peer's).
    public mutating func open(_ bytes: [UInt8]) throws(NoiseError) -> [UInt8] {
        buffer += bytes
        var out: [UInt8] = []
        while let frame = Self.unframe(&buffer) { out += try receive.decrypt(frame, ad: []) }
        return out
    }
}
