/// A Yamux 1.0 frame header (12 bytes, big-endian): version 0, type, flags, stream id, length.
public struct YamuxFrame: Equatable, Sendable {
    public enum FrameType: UInt8, Sendable {
        case data = 0
        case windowUpdate = 1
        case ping = 2
        case goAway = 3
    }

    /// SYN 1, ACK 2, FIN 4, RST 8.
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let syn = Flags(rawValue: 1)
        public static let ack = Flags(rawValue: 2)
        public static let fin = Flags(rawValue: 4)
        public static let rst = Flags(rawValue: 8)
    }

    public enum FrameError: Error, Equatable, Sendable {
        case unsupportedVersion(UInt8)
        case unknownType(UInt8)
        case unknownFlags(UInt16)
        case dataTooLong(UInt32)
    }

    public static let headerLength = 12
    /// The largest data payload a frame may carry here (the initial window is 256 KiB).
    public static let maxDataLength: UInt32 = 16 * 1024 * 1024

    public var type: FrameType
    public var flags: Flags
    public var streamID: UInt32
    /// Data length, window delta, ping opaque value, or go-away code, by type.
    public var length: UInt32

    public init(type: FrameType, flags: Flags = [], streamID: UInt32, length: UInt32) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.length = length
    }

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
