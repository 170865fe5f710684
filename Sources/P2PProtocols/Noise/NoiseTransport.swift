import Crypto

/// libp2p Noise framing: every handshake and transport message is a 2-byte big-endian length and that many
/// bytes; transport messages are sealed with the split ciphers, at most 65,535 bytes each including the tag.
public struct NoiseTransport: Sendable {
    /// The largest frame body: 65,535 bytes.
    public static let maxFrame = 65_535
    /// The most plaintext one frame carries: the frame less the 16-byte tag.
    public static let maxPlaintext = maxFrame - 16

    private var send: NoiseCipherState
    private var receive: NoiseCipherState
    /// The start of a frame whose rest has not arrived yet (at most one frame).
    private var buffer: [UInt8] = []

    /// Transport framing over the two cipher states the handshake split into.
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

    /// Feeds received bytes; returns the plaintext of every complete frame.
    ///
    /// A frame that fails to decrypt ends the session (the error is final: the cipher state is no longer in step with
    /// the peer's).
    public mutating func open(_ bytes: [UInt8]) throws(NoiseError) -> [UInt8] { try open(bytes[...]) }

    /// Decrypts every whole frame of `bytes` (after any frame begun in an earlier call).
    ///
    /// Frames that arrive whole are opened straight from `bytes`; only a frame split across calls is gathered in the
    /// buffer first. The plaintext of all of them is written once, into an array sized for it up front.
    public mutating func open(_ bytes: ArraySlice<UInt8>) throws(NoiseError) -> [UInt8] {
        guard let key = receive.key else { throw .outOfOrder("transport without keys") }
        var input = bytes
        var pending = false
        if !buffer.isEmpty {
            // Complete the pending frame from the front of the new bytes.
            while buffer.count < 2, let byte = input.first {
                buffer.append(byte)
                input = input.dropFirst()
            }
            guard buffer.count >= 2 else { return [] }
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            guard length >= ChaCha20Poly1305.tagLength else { throw .decryptionFailed }
            let missing = 2 + length - buffer.count
            buffer += input.prefix(missing)
            input = input.dropFirst(missing)
            guard buffer.count == 2 + length else { return [] }
            pending = true
        }
        // The whole frames of the new bytes, and the plaintext they hold.
        var whole = 0
        var plaintext = pending ? buffer.count - 2 - ChaCha20Poly1305.tagLength : 0
        let short = input.withUnsafeBytes { source -> Bool in
            while source.count - whole >= 2 {
                let length = Int(source[whole]) << 8 | Int(source[whole + 1])
                // A frame too short for its tag cannot be opened: refuse it rather than wait for it.
                guard length >= ChaCha20Poly1305.tagLength else { return true }
                guard source.count - whole >= 2 + length else { break }
                plaintext += length - ChaCha20Poly1305.tagLength
                whole += 2 + length
            }
            return false
        }
        var failure: NoiseError? = short ? .decryptionFailed : nil
        var nonce = receive.nonce
        let opened = [UInt8](unsafeUninitializedCapacity: plaintext) { destination, initialized in
            initialized = 0
            let out = UnsafeMutableRawBufferPointer(destination)
            func openFrame(_ frame: UnsafeRawBufferPointer) -> Bool {
                let plain = frame.count - ChaCha20Poly1305.tagLength
                guard nonce < UInt64.max else {
                    failure = .nonceExhausted
                    return false
                }
                let valid = ChaCha20Poly1305.open(
                    frame, key: key, nonce: NoiseCipherState.nonceBytes(nonce),
                    into: UnsafeMutableRawBufferPointer(rebasing: out[initialized..<(initialized + plain)]))
                guard valid else {
                    failure = .decryptionFailed
                    return false
                }
                nonce += 1
                initialized += plain
                return true
            }
            if pending {
                let opened = buffer.withUnsafeBytes { openFrame(UnsafeRawBufferPointer(rebasing: $0[2...])) }
                guard opened else { return }
            }
            input.withUnsafeBytes { source in
                var at = 0
                while at < whole {
                    let length = Int(source[at]) << 8 | Int(source[at + 1])
                    guard openFrame(UnsafeRawBufferPointer(rebasing: source[(at + 2)..<(at + 2 + length)])) else {
                        return
                    }
                    at += 2 + length
                }
            }
        }
        receive.nonce = nonce
        if let failure { throw failure }
        if pending { buffer.removeAll(keepingCapacity: true) }
        buffer += input.dropFirst(whole)
        return opened
    }
}
