/// Builds a UnixFS file from bytes given in pieces, as kubo v0.22 `ipfs add` builds it, emitting each block as soon
/// as it is complete: memory stays at one chunk plus one pending node per level of the tree.
///
/// The layout is boxo's balanced one: fixed-size chunks become leaves; each node holds at most `maxLinks` links;
/// a full node is closed at once; at the end the partial nodes along the right edge are closed bottom up. A file of
/// one chunk is that single leaf. Every interior node carries `Data{Type=File, filesize, blocksizes}` and links with an
/// empty name and a `Tsize` (the child's encoded size plus its own links' sizes).
public struct UnixFSFileBuilder: Sendable {
    /// How blocks are made: chunk size, links per node, leaf kind and CID version.
    public struct Parameters: Hashable, Sendable {
        /// Bytes per leaf (the last leaf may be shorter).
        public var chunkSize: Int
        /// The most links a node holds.
        public var maxLinks: Int
        /// Raw leaves (codec raw) instead of dag-pb leaves holding `Data{Type=File, Data}`.
        public var rawLeaves: Bool
        /// 0 (dag-pb only, bare base58btc) or 1.
        public var cidVersion: Int

        /// Parameters within bounds: chunk of 1 byte to 1 MiB, 2 to 8,192 links, raw leaves only with CIDv1.
        public init(chunkSize: Int, maxLinks: Int, rawLeaves: Bool, cidVersion: Int) {
            precondition((1...(1 << 20)).contains(chunkSize), "chunk size out of range")
            precondition((2...8192).contains(maxLinks), "links per node out of range")
            precondition(cidVersion == 1 || (cidVersion == 0 && !rawLeaves), "CIDv0 has dag-pb leaves")
            self.chunkSize = chunkSize
            self.maxLinks = maxLinks
            self.rawLeaves = rawLeaves
            self.cidVersion = cidVersion
        }

        /// `ipfs add --cid-version=1`: raw leaves of 262,144 bytes, 174 links per node, CIDv1.
        public static let kuboCIDv1 = Parameters(chunkSize: 262_144, maxLinks: 174, rawLeaves: true, cidVersion: 1)
        /// kubo's default `ipfs add`: dag-pb leaves of 262,144 bytes, 174 links per node, CIDv0.
        public static let kuboCIDv0 = Parameters(chunkSize: 262_144, maxLinks: 174, rawLeaves: false, cidVersion: 0)
    }

    private struct Child: Sendable {
        let cid: CID
        let tsize: UInt64
        let fileSize: UInt64
    }

    /// The parameters the file is built with.
    public let parameters: Parameters
    private var chunk: [UInt8] = []
    /// levels[k]: the children (at depth k) of the open node at depth k + 1.
    private var levels: [[Child]] = []
    private var leafCount = 0
    /// The bytes taken so far.
    public private(set) var byteCount: UInt64 = 0

    /// A builder with `parameters`.
    public init(parameters: Parameters = .kuboCIDv1) {
        self.parameters = parameters
        chunk.reserveCapacity(parameters.chunkSize)
    }

    /// Takes the next `bytes` of the file; calls `emit` with every block completed by them, in order.
    public mutating func append<E: Error>(
        _ bytes: UnsafeRawBufferPointer, emit: (VerifiedBlock) throws(E) -> Void
    ) throws(E) {
        var offset = 0
        while offset < bytes.count {
            let take = min(parameters.chunkSize - chunk.count, bytes.count - offset)
            chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            offset += take
            if chunk.count == parameters.chunkSize { try flushChunk(emit) }
        }
        byteCount += UInt64(bytes.count)
    }

    /// Takes the next `bytes` of the file; calls `emit` with every block completed by them, in order.
    public mutating func append<E: Error>(_ bytes: [UInt8], emit: (VerifiedBlock) throws(E) -> Void) throws(E) {
        let outcome = bytes.withUnsafeBytes { buffer in
            Result { () throws(E) in try append(buffer, emit: emit) }
        }
        try outcome.get()
    }

    /// Ends the file: emits the last leaf and the nodes still open, the root last, and returns the root's CID.
    public mutating func finish<E: Error>(emit: (VerifiedBlock) throws(E) -> Void) throws(E) -> CID {
        if !chunk.isEmpty || leafCount == 0 { try flushChunk(emit) }
        var level = 0
        while true {
            let isTop = levels[(level + 1)...].allSatisfy(\.isEmpty)
            if isTop && levels[level].count == 1 { return levels[level][0].cid }
            if !levels[level].isEmpty { try closeNode(level: level, emit) }
            level += 1
        }
    }

    /// Builds `bytes` as one file and returns every block (the root last) and the root's CID.
    public static func build(_ bytes: [UInt8], parameters: Parameters = .kuboCIDv1) -> (
        root: CID, blocks: [VerifiedBlock]
    ) {
        var builder = UnixFSFileBuilder(parameters: parameters)
        var blocks: [VerifiedBlock] = []
        builder.append(bytes) { blocks.append($0) }
        let root = builder.finish { blocks.append($0) }
        return (root, blocks)
    }

    /// The leaf block of one chunk under `parameters`: pure, so a caller may build the leaves of several full chunks
    /// at once (on several threads) and hand them over in order with `append(leaf:)`.
    public static func leaf(_ chunk: [UInt8], parameters: Parameters) -> VerifiedBlock {
        if parameters.rawLeaves { return VerifiedBlock(computed: CID.raw(sha256Of: chunk), bytes: chunk) }
        // An empty file's leaf has no Data field at all, as go-unixfs writes it.
        let data = UnixFSData(type: .file, data: chunk.isEmpty ? nil : chunk, fileSize: UInt64(chunk.count))
        return dagProtobufBlock(PBNode(data: data.encoded).encoded, cidVersion: parameters.cidVersion)
    }

    /// Takes the next full chunk of the file as the leaf `leaf(_:parameters:)` made of it.
    ///
    /// Only between chunks: no partial chunk may be pending from `append(_:emit:)`, and `chunkSize` is the chunk's
    /// size (a shorter last chunk goes through `append(_:emit:)`).
    public mutating func append<E: Error>(
        leaf: VerifiedBlock, chunkSize: Int, emit: (VerifiedBlock) throws(E) -> Void
    ) throws(E) {
        precondition(chunk.isEmpty && chunkSize == parameters.chunkSize, "a leaf must be a whole chunk")
        byteCount += UInt64(chunkSize)
        try takeLeaf(leaf, size: UInt64(chunkSize), emit)
    }

    private mutating func flushChunk<E: Error>(_ emit: (VerifiedBlock) throws(E) -> Void) throws(E) {
        let block = Self.leaf(chunk, parameters: parameters)
        let size = UInt64(chunk.count)
        chunk.removeAll(keepingCapacity: true)
        try takeLeaf(block, size: size, emit)
    }

    private mutating func takeLeaf<E: Error>(
        _ block: VerifiedBlock, size: UInt64, _ emit: (VerifiedBlock) throws(E) -> Void
    ) throws(E) {
        leafCount += 1
        try emit(block)
        try push(Child(cid: block.cid, tsize: UInt64(block.bytes.count), fileSize: size), level: 0, emit)
    }

    private mutating func push<E: Error>(
        _ child: Child, level: Int, _ emit: (VerifiedBlock) throws(E) -> Void
    ) throws(E) {
        while levels.count <= level { levels.append([]) }
        levels[level].append(child)
        if levels[level].count == parameters.maxLinks { try closeNode(level: level, emit) }
    }

    private mutating func closeNode<E: Error>(level: Int, _ emit: (VerifiedBlock) throws(E) -> Void) throws(E) {
        let children = levels[level]
        levels[level].removeAll(keepingCapacity: true)
        let fileSize = children.reduce(0) { $0 + $1.fileSize }
        let data = UnixFSData(type: .file, fileSize: fileSize, blockSizes: children.map(\.fileSize))
        let node = PBNode(links: children.map { PBLink(hash: $0.cid, name: "", tsize: $0.tsize) }, data: data.encoded)
        let block = Self.dagProtobufBlock(node.encoded, cidVersion: parameters.cidVersion)
        let tsize = children.reduce(UInt64(block.bytes.count)) { $0 + $1.tsize }
        try emit(block)
        try push(Child(cid: block.cid, tsize: tsize, fileSize: fileSize), level: level + 1, emit)
    }

    private static func dagProtobufBlock(_ bytes: [UInt8], cidVersion: Int) -> VerifiedBlock {
        let multihash = Multihash.sha256(bytes)
        let cid =
            cidVersion == 0
            ? try! CID(v0: multihash) : CID(codec: CID.Codec.dagProtobuf.rawValue, multihash: multihash)
        return VerifiedBlock(computed: cid, bytes: bytes)
    }
}
