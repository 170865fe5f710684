/// Reads a UnixFS file back out of its blocks: asks for each block in file order, checks the tree as it goes
/// (types, `blocksizes` against links, sizes against what each child really holds, depth) and hands out the bytes.
///
/// A state machine with no IO: the caller answers each `.need` with the block from wherever it is (a store, a peer),
/// so the same reader serves `content cat` and a fetch that streams as blocks arrive. Memory is one node's links per
/// level of the tree.
public struct UnixFSFileReader: Sendable {
    /// What the reader wants next.
    public enum Step: Hashable, Sendable {
        /// The block with this CID, given to `provide`.
        case need(CID)
        /// The next bytes of the file.
        case data([UInt8])
        /// The file is complete.
        case end
    }

    /// The deepest tree accepted (kubo's files of any size fit in 8 levels).
    public static let defaultMaxDepth = 32
    /// The most links accepted in one node of a file.
    public static let maxLinksPerNode = 8192

    private struct Frame: Sendable {
        let links: [PBLink]
        let sizes: [UInt64]
        var index = 0
        let depth: Int
    }

    private struct Awaited: Sendable {
        let cid: CID
        let expectedSize: UInt64?
        let depth: Int
    }

    /// The root of the file.
    public let root: CID
    private let maxDepth: Int
    private var frames: [Frame] = []
    private var awaited: Awaited?
    private var pending: [UInt8]?
    private var started = false
    /// The file's bytes handed out so far.
    public private(set) var bytesRead: UInt64 = 0
    /// The size the root says the file has, once the root is read.
    public private(set) var fileSize: UInt64?

    /// A reader of the file at `root`, refusing trees deeper than `maxDepth`.
    public init(root: CID, maxDepth: Int = UnixFSFileReader.defaultMaxDepth) {
        self.root = root
        self.maxDepth = maxDepth
    }

    /// What the reader wants next: a block, bytes of the file, or the end.
    public mutating func next() -> Step {
        if let data = pending {
            pending = nil
            return .data(data)
        }
        if let awaited { return .need(awaited.cid) }
        if !started {
            started = true
            awaited = Awaited(cid: root, expectedSize: nil, depth: 0)
            return .need(root)
        }
        while var frame = frames.popLast() {
            guard frame.index < frame.links.count else { continue }
            let index = frame.index
            frame.index += 1
            frames.append(frame)
            let link = frame.links[index]
            awaited = Awaited(cid: link.hash, expectedSize: frame.sizes[index], depth: frame.depth + 1)
            return .need(link.hash)
        }
        return .end
    }

    /// Gives the block the last `.need` asked for; throws when it is another block or breaks the file's structure.
    public mutating func provide(_ block: VerifiedBlock) throws(CodecError) {
        guard let wanted = awaited else { throw .invalidUnixFS("no block was asked for") }
        guard block.cid.normalized == wanted.cid.normalized else {
            throw .invalidUnixFS("asked for \(wanted.cid), given \(block.cid)")
        }
        guard wanted.depth <= maxDepth else { throw .invalidUnixFS("tree deeper than \(maxDepth)") }
        let content: [UInt8]
        let size: UInt64
        switch block.cid.codec {
        case CID.Codec.raw.rawValue:
            content = block.bytes
            size = UInt64(block.bytes.count)
        case CID.Codec.dagProtobuf.rawValue:
            let node = try PBNode(decoding: block.bytes, maxLinks: Self.maxLinksPerNode)
            guard let payload = node.data else { throw .invalidUnixFS("\(block.cid): a dag-pb node without Data") }
            let data = try UnixFSData(decoding: payload)
            guard data.type == .file || data.type == .raw else {
                throw .invalidUnixFS("\(block.cid) is a \(data.type), not part of a file")
            }
            guard data.blockSizes.count == node.links.count else {
                throw .invalidUnixFS(
                    "\(block.cid): \(data.blockSizes.count) blocksizes for \(node.links.count) links")
            }
            let (total, overflow) = data.blockSizes.reduce((UInt64(data.data?.count ?? 0), false)) {
                let sum = $0.0.addingReportingOverflow($1)
                return (sum.partialValue, $0.1 || sum.overflow)
            }
            guard !overflow else { throw .invalidUnixFS("\(block.cid): blocksizes overflow") }
            if let declared = data.fileSize, declared != total {
                throw .invalidUnixFS("\(block.cid): filesize \(declared), parts add up to \(total)")
            }
            for link in node.links
            where link.hash.codec != CID.Codec.raw.rawValue && link.hash.codec != CID.Codec.dagProtobuf.rawValue {
                throw .invalidUnixFS("\(block.cid) links to \(link.hash), neither raw nor dag-pb")
            }
            content = data.data ?? []
            size = total
            if !node.links.isEmpty {
                frames.append(Frame(links: node.links, sizes: data.blockSizes, depth: wanted.depth))
            }
        default:
            throw .invalidUnixFS("\(block.cid): codec 0x\(String(block.cid.codec, radix: 16)) is not a file block")
        }
        if let expected = wanted.expectedSize, expected != size {
            throw .invalidUnixFS("\(block.cid) holds \(size) bytes, its parent says \(expected)")
        }
        if wanted.depth == 0 { fileSize = size }
        awaited = nil
        bytesRead += UInt64(content.count)
        if !content.isEmpty { pending = content }
    }
}
