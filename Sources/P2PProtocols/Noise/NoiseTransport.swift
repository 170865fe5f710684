import Crypto

/// libp2p Noise framing: every handshake and transport message is a 2-byte big-endian length and that many
/// bytes; transport messages are sealed with the split ciphers, at most 65,535 bytes each including the tag.
public struct NoiseTransport: Sendable {
    public static let maxFrame = 65_535
    public static let maxPlaintext = maxFrame - 16

    private var send: NoiseCipherState
    private var receive: NoiseCipherState
    /// The start of a frame whose rest has not arrived yet (at most one frame).
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
        try sealAppending(plaintext, to: &out)
        return out
    }

    /// Encrypts `plaintext` into frames appended to `out`.
    public mutating func sealAppending(_ plaintext: [UInt8], to out: inout [UInt8]) throws(NoiseError) {
        try sealAppending(header: [], body: plaintext[...], to: &out)
    }

    /// Encrypts `header` followed by `body` into frames appended to `out`: the plaintext is copied once, into
    /// place, and sealed there.
    public mutating func sealAppending(header: [UInt8], body: ArraySlice<UInt8>, to out: inout [UInt8])
        throws(NoiseError)
    {
        guard let key = send.key else { throw .outOfOrder("transport without keys") }
        let total = header.count + body.count
        var offset = 0
        repeat {
            let count = min(total - offset, Self.maxPlaintext)
            guard send.nonce < UInt64.max else { throw .nonceExhausted }
            let nonce = NoiseCipherState.nonceBytes(send.nonce)
            send.nonce += 1
            let sealed = count + ChaCha20Poly1305.tagLength
            let start = out.count + 2
            out.append(UInt8(sealed >> 8))
            out.append(UInt8(sealed & 0xFF))
            let end = offset + count
            if offset < header.count {
                out += header[offset..<min(header.count, end)]
            }
            if end > header.count {
                let from = body.startIndex + max(0, offset - header.count)
                out += body[from..<(body.startIndex + end - header.count)]
            }
            out.append(contentsOf: repeatElement(0, count: ChaCha20Poly1305.tagLength))
            out.withUnsafeMutableBytes { buffer in
                let region = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + sealed)])
                ChaCha20Poly1305.seal(
                    UnsafeRawBufferPointer(rebasing: region[0..<count]), key: key, nonce: nonce, into: region)
            }
            offset += count
        } while offset < total
    }

    /// Feeds received bytes; returns the plaintext of every complete frame. A frame that fails to decrypt ends
    /// the session (the error is final: the cipher state is no longer in step with the peer's).
    public mutating func open(_ bytes: [UInt8]) throws(NoiseError) -> [UInt8] { try open(bytes[...]) }

    /// Decrypts every whole frame of `bytes` (after any frame begun in an earlier call). Frames that arrive whole
    /// are opened straight from `bytes`; only a frame split across calls is gathered in the buffer first.
    public mutating func open(_ bytes: ArraySlice<UInt8>) throws(NoiseError) -> [UInt8] {
        guard receive.key != nil else { throw .outOfOrder("transport without keys") }
        var out: [UInt8] = []
        out.reserveCapacity(buffer.count + bytes.count)
        var input = bytes
        if !buffer.isEmpty {
            // Complete the pending frame from the front of the new bytes.
            while buffer.count < 2, let byte = input.first {
                buffer.append(byte)
                input = input.dropFirst()
            }
            guard buffer.count >= 2 else { return out }
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            let missing = 2 + length - buffer.count
            buffer += input.prefix(missing)
            input = input.dropFirst(missing)
            guard buffer.count == 2 + length else { return out }
            let pending = buffer
            buffer = []
            try pending.withUnsafeBytes { source in
                openFrame(UnsafeRawBufferPointer(rebasing: source[2...]), into: &out)
            }.get()
        }
        // Whole frames, straight from the new bytes.
        var offset = 0
        try input.withUnsafeBytes { source -> Result<Void, NoiseError> in
            while source.count - offset >= 2 {
                let length = Int(source[offset]) << 8 | Int(source[offset + 1])
                guard source.count - offset >= 2 + length else { break }
                let frame = UnsafeRawBufferPointer(rebasing: source[(offset + 2)..<(offset + 2 + length)])
                if case .failure(let error) = openFrame(frame, into: &out) { return .failure(error) }
                offset += 2 + length
            }
            return .success(())
        }.get()
        buffer += input.dropFirst(offset)
        return out
    }

    /// Opens one frame's ciphertext (tag included) and appends the plaintext to `out`.
    private mutating func openFrame(_ frame: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Result<
        Void, NoiseError
    > {
        guard let key = receive.key else { return .failure(.outOfOrder("transport without keys")) }
        guard frame.count >= ChaCha20Poly1305.tagLength else { return .failure(.decryptionFailed) }
        guard receive.nonce < UInt64.max else { return .failure(.nonceExhausted) }
        let nonce = NoiseCipherState.nonceBytes(receive.nonce)
        let start = out.count
        let plain = frame.count - ChaCha20Poly1305.tagLength
        out.append(contentsOf: repeatElement(0, count: plain))
        let valid = out.withUnsafeMutableBytes { destination in
            ChaCha20Poly1305.open(
                frame, key: key, nonce: nonce,
                into: UnsafeMutableRawBufferPointer(rebasing: destination[start..<(start + plain)]))
        }
        guard valid else { return .failure(.decryptionFailed) }
        receive.nonce += 1
        return .success(())
    }
}
