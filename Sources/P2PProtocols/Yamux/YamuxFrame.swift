/// A Yamux 1.0 frame header (12 bytes, big-endian): version 0, type, flags, stream id, length.
public struct YamuxFrame: Equatable, Sendable {
    /// What a frame carries: stream data, a window update, a ping or a go-away.
    public enum FrameType: UInt8, Sendable {
        case data = 0
        case windowUpdate = 1
        case ping = 2
        case goAway = 3
    }

    /// SYN 1, ACK 2, FIN 4, RST 8.
    public struct Flags: OptionSet, Sendable {
        /// The flag bits as on the wire.
        public let rawValue: UInt16
        /// The flags whose bits are set in `rawValue`.
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// Opens a stream, or starts a ping.
        public static let syn = Flags(rawValue: 1)
        /// Acknowledges a stream's SYN, or answers a ping.
        public static let ack = Flags(rawValue: 2)
        /// The sender half-closes the stream: it will send no more.
        public static let fin = Flags(rawValue: 4)
        /// Resets the stream at once.
        public static let rst = Flags(rawValue: 8)
    }

    /// What can be wrong with a frame header.
    public enum FrameError: Error, Equatable, Sendable {
        case unsupportedVersion(UInt8)
        case unknownType(UInt8)
        case unknownFlags(UInt16)
        case dataTooLong(UInt32)
    }

    /// The size of a frame header in bytes.
    public static let headerLength = 12
    /// The largest data payload a frame may carry here (the initial window is 256 KiB).
    public static let maxDataLength: UInt32 = 16 * 1024 * 1024

    /// What the frame carries.
    public var type: FrameType
    /// The frame's flags.
    public var flags: Flags
    /// The stream the frame belongs to; 0 for session-wide ping and go-away.
    public var streamID: UInt32
    /// Data length, window delta, ping opaque value, or go-away code, by type.
    public var length: UInt32

    /// A version 0 header with the given fields.
    public init(type: FrameType, flags: Flags = [], streamID: UInt32, length: UInt32) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.length = length
    }

    /// The 12-byte encoded header.
    public var header: [UInt8] {
        [0, type.rawValue, UInt8(flags.rawValue >> 8), UInt8(flags.rawValue & 0xFF)]
            + (0..<4).map { UInt8(truncatingIfNeeded: streamID >> (24 - 8 * $0)) }
            + (0..<4).map { UInt8(truncatingIfNeeded: length >> (24 - 8 * $0)) }
    }

    /// Parses a 12-byte header; nil when fewer bytes are available.
    public static func parse(_ bytes: some Collection<UInt8>) throws(FrameError) -> YamuxFrame? {
        guard bytes.count >= headerLength else { return nil }
        let b = Array(bytes.prefix(headerLength))
        guard b[0] == 0 else { throw .unsupportedVersion(b[0]) }
        guard let type = FrameType(rawValue: b[1]) else { throw .unknownType(b[1]) }
        let rawFlags = UInt16(b[2]) << 8 | UInt16(b[3])
        guard rawFlags & ~0x0F == 0 else { throw .unknownFlags(rawFlags) }
        let streamID = b[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = b[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if type == .data, length > maxDataLength { throw .dataTooLong(length) }
        return YamuxFrame(type: type, flags: Flags(rawValue: rawFlags), streamID: streamID, length: length)
    }
}
