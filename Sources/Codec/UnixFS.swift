/// The UnixFS `Data` message a dag-pb node carries (ipfs/specs UnixFS, proto2), encoded as go-unixfs does: fields in
/// number order, optional fields only when set, `blocksizes` unpacked.
public struct UnixFSData: Hashable, Sendable {
    /// What the node is.
    public enum DataType: UInt64, Sendable {
        case raw = 0
        case directory = 1
        case file = 2
        case metadata = 3
        case symlink = 4
        case hamtShard = 5
    }

    /// A modification time: seconds since the epoch and an optional fraction.
    public struct Time: Hashable, Sendable {
        /// Seconds since 1970-01-01 UTC (negative before).
        public var seconds: Int64
        /// Nanoseconds within the second, 1…999,999,999 when present.
        public var nanoseconds: UInt32?

        /// A time of `seconds` and `nanoseconds`.
        public init(seconds: Int64, nanoseconds: UInt32? = nil) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }
    }

    /// The node's kind (field 1, required).
    public var type: DataType
    /// Bytes of the file held in this node itself (field 2).
    public var data: [UInt8]?
    /// The size of the file (or part of it) this node stands for (field 3).
    public var fileSize: UInt64?
    /// The file size under each link, in link order (field 4).
    public var blockSizes: [UInt64]
    /// The hash function of a HAMT shard (field 5).
    public var hashType: UInt64?
    /// The fanout of a HAMT shard (field 6).
    public var fanout: UInt64?
    /// POSIX permission bits (field 7).
    public var mode: UInt32?
    /// The modification time (field 8).
    public var mtime: Time?

    /// A message of `type` with the given fields.
    public init(
        type: DataType, data: [UInt8]? = nil, fileSize: UInt64? = nil, blockSizes: [UInt64] = [],
        hashType: UInt64? = nil, fanout: UInt64? = nil, mode: UInt32? = nil, mtime: Time? = nil
    ) {
        self.type = type
        self.data = data
        self.fileSize = fileSize
        self.blockSizes = blockSizes
        self.hashType = hashType
        self.fanout = fanout
        self.mode = mode
        self.mtime = mtime
    }

    /// The encoding go-unixfs produces for the same fields.
    public var encoded: [UInt8] {
        var writer = ProtobufWriter()
        writer.varint(1, type.rawValue)
        if let data { writer.bytes(2, data) }
        if let fileSize { writer.varint(3, fileSize) }
        for size in blockSizes { writer.varint(4, size) }
        if let hashType { writer.varint(5, hashType) }
        if let fanout { writer.varint(6, fanout) }
        if let mode { writer.varint(7, UInt64(mode)) }
        if let mtime {
            var time = ProtobufWriter()
            time.varint(1, UInt64(bitPattern: mtime.seconds))
            if let nanoseconds = mtime.nanoseconds { time.fixed32(2, nanoseconds) }
            writer.bytes(8, time.bytes)
        }
        return writer.bytes
    }

    /// The file bytes this node stands for: its own data plus the sizes under its links.
    public var contentSize: UInt64 {
        blockSizes.reduce(UInt64(data?.count ?? 0)) { $0 &+ $1 }
    }

    /// Decodes the message; unknown fields are skipped, as proto2 readers do, and the last of a repeated scalar wins.
    public init(decoding bytes: [UInt8]) throws(CodecError) {
        var reader = ProtobufReader(bytes)
        var type: DataType?
        self.init(type: .raw)
        while true {
            let next: ProtobufField?
            do {
                next = try reader.next()
            } catch {
                throw .invalidUnixFS("\(error)")
            }
            guard let field = next else { break }
            switch (field.number, field.value) {
            case (1, .varint(let value)):
                guard let known = DataType(rawValue: value) else { throw .invalidUnixFS("unknown Type \(value)") }
                type = known
            case (2, .bytes(let payload)): data = payload
            case (3, .varint(let value)): fileSize = value
            case (4, .varint(let value)): blockSizes.append(value)
            case (4, .bytes(let packed)): blockSizes += try Self.packedVarints(packed)
            case (5, .varint(let value)): hashType = value
            case (6, .varint(let value)): fanout = value
            case (7, .varint(let value)):
                guard value <= UInt64(UInt32.max) else { throw .invalidUnixFS("mode \(value) exceeds 32 bits") }
                mode = UInt32(value)
            case (8, .bytes(let payload)): mtime = try Self.time(payload)
            case (1...8, _): throw .invalidUnixFS("field \(field.number) has the wrong wire type")
            default: continue
            }
        }
        guard let type else { throw .invalidUnixFS("no Type") }
        self.type = type
    }

    private static func packedVarints(_ bytes: [UInt8]) throws(CodecError) -> [UInt64] {
        var values: [UInt64] = []
        var position = 0
        while position < bytes.count {
            do {
                values.append(try Varint.read(bytes, at: &position, maxBytes: 10))
            } catch {
                throw .invalidUnixFS("blocksizes: \(error)")
            }
        }
        return values
    }

    private static func time(_ bytes: [UInt8]) throws(CodecError) -> Time {
        var reader = ProtobufReader(bytes)
        var seconds: Int64?
        var nanoseconds: UInt32?
        while true {
            let next: ProtobufField?
            do {
                next = try reader.next()
            } catch {
                throw .invalidUnixFS("mtime: \(error)")
            }
            guard let field = next else { break }
            switch (field.number, field.value) {
            case (1, .varint(let value)): seconds = Int64(bitPattern: value)
            case (2, .fixed32(let value)): nanoseconds = value
            case (1...2, _): throw .invalidUnixFS("mtime field \(field.number) has the wrong wire type")
            default: continue
            }
        }
        guard let seconds else { throw .invalidUnixFS("mtime without Seconds") }
        return Time(seconds: seconds, nanoseconds: nanoseconds)
    }
}
