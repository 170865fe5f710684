import Codec
import Dispatch
import Glibc
import Synchronization

/// Adds one file to a store from bytes given in pieces: builds it as kubo does, writes its blocks in batches as
/// they complete, and keeps them from collection until the root is pinned.
///
/// The work is spread over the cores: eight full chunks at a time are hashed in parallel, and a writer thread
/// compresses and stores the previous batch meanwhile (at most two batches wait, so memory stays bounded at a few
/// batches plus the builder's open nodes; the chunk buffers of written batches are reused for the next chunks).
/// Used from one thread at a time. Blocks already in the store are not written again, so adding a file again after a
/// kill goes on from the blocks already stored.
public final class ContentAdder {
    /// What the writer thread reports back.
    private final class Pipeline: Sendable {
        let failure = Mutex<ContentError?>(nil)
        let newBlocks = Mutex(0)
        let slots = DispatchSemaphore(value: 2)
        let queue = DispatchQueue(label: "content-add")
        /// Chunk buffers of written batches, handed back for the next chunks: memory already touched, where a fresh
        /// allocation of every chunk costs a page fault per 4 KiB.
        let spareBuffers = Mutex<[[UInt8]]>([])
        /// A batch on its way to the writer, taken out there so its buffers can be let go of.
        let batches = Mutex<[[VerifiedBlock]]>([])
    }

    /// Spare buffers kept: what the two batches in flight hold, at most.
    private static let spareLimit = 64

    /// Full chunks hashed together, spread over the cores.
    private static let chunksPerRound = 8

    private let store: ContentStore
    private var builder: UnixFSFileBuilder
    private let parameters: UnixFSFileBuilder.Parameters
    private var chunk: [UInt8] = []
    private var fullChunks: [[UInt8]] = []
    private var batch: [VerifiedBlock] = []
    private var protected = Set<[UInt8]>()
    private var finished = false
    private let pipeline = Pipeline()

    init(store: ContentStore, parameters: UnixFSFileBuilder.Parameters) {
        self.store = store
        self.parameters = parameters
        builder = UnixFSFileBuilder(parameters: parameters)
        chunk.reserveCapacity(parameters.chunkSize)
    }

    deinit {
        pipeline.queue.sync {}
        store.release(protected)
    }

    /// The bytes taken so far.
    public private(set) var byteCount: UInt64 = 0

    /// Blocks of the file written by this add so far (not counting those the store held already).
    public var newBlocks: Int { pipeline.newBlocks.withLock { $0 } }

    /// Takes the next bytes of the file.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(ContentError) {
        precondition(!finished, "append after finish")
        var offset = 0
        while offset < bytes.count {
            let take = min(parameters.chunkSize - chunk.count, bytes.count - offset)
            chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            offset += take
            guard chunk.count == parameters.chunkSize else { continue }
            fullChunks.append(chunk)
            chunk = pipeline.spareBuffers.withLock { $0.popLast() } ?? []
            chunk.removeAll(keepingCapacity: true)
            chunk.reserveCapacity(parameters.chunkSize)
            if fullChunks.count == Self.chunksPerRound { try buildLeaves() }
        }
        byteCount += UInt64(bytes.count)
    }

    /// Hashes the full chunks waiting, several at once, and hands their leaves to the builder in file order.
    private func buildLeaves() throws(ContentError) {
        guard !fullChunks.isEmpty else { return }
        let chunks = fullChunks
        fullChunks.removeAll(keepingCapacity: true)
        let leaves = Mutex([VerifiedBlock?](repeating: nil, count: chunks.count))
        let parameters = self.parameters
        DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
            let leaf = UnixFSFileBuilder.leaf(chunks[index], parameters: parameters)
            leaves.withLock { $0[index] = leaf }
        }
        for leaf in leaves.withLock({ $0 }) {
            try builder.append(leaf: leaf!, chunkSize: parameters.chunkSize) {
                (block: VerifiedBlock) throws(ContentError) in
                try take(block)
            }
        }
    }

    /// Takes the next bytes of the file.
    public func append(_ bytes: [UInt8]) throws(ContentError) {
        let outcome = bytes.withUnsafeBytes { buffer in
            Result { () throws(ContentError) in try append(buffer) }
        }
        try outcome.get()
    }

    /// Ends the file: writes the last blocks, pins the root for `pin` (unless nil) and returns the root's CID.
    public func finish(pin: PinReason? = .user) throws(ContentError) -> CID {
        precondition(!finished, "finish twice")
        finished = true
        try buildLeaves()
        try builder.append(chunk) { (block: VerifiedBlock) throws(ContentError) in try take(block) }
        let root = try builder.finish { (block: VerifiedBlock) throws(ContentError) in try take(block) }
        try flush()
        pipeline.queue.sync {}
        if let failure = pipeline.failure.withLock({ $0 }) { throw failure }
        if let pin { try store.pin(root, reason: pin) }
        store.release(protected)
        protected.removeAll()
        return root
    }

    private func take(_ block: VerifiedBlock) throws(ContentError) {
        batch.append(block)
        if batch.count >= store.options.batchBlocks { try flush() }
    }

    /// Hands the batch to the writer thread (waiting while two are already queued).
    private func flush() throws(ContentError) {
        if let failure = pipeline.failure.withLock({ $0 }) { throw failure }
        guard !batch.isEmpty else { return }
        let keys = batch.map { ContentStore.key($0.cid) }.filter { protected.insert($0).inserted }
        store.protect(keys)
        pipeline.batches.withLock { $0.append(batch) }
        batch.removeAll(keepingCapacity: true)
        let (store, pipeline, chunkSize) = (self.store, self.pipeline, parameters.chunkSize)
        pipeline.slots.wait()
        pipeline.queue.async {
            defer { pipeline.slots.signal() }
            var buffers: [[UInt8]] = []
            do {
                let blocks = pipeline.batches.withLock { $0.removeFirst() }
                guard pipeline.failure.withLock({ $0 }) == nil else { return }
                do throws(ContentError) {
                    let count = try store.store(blocks)
                    pipeline.newBlocks.withLock { $0 += count }
                } catch {
                    pipeline.failure.withLock { $0 = error }
                }
                buffers = blocks.map(\.bytes).filter { $0.capacity >= chunkSize }
            }
            // The batch is gone: each buffer is referenced here alone, and the next chunk can reuse it.
            pipeline.spareBuffers.withLock { spare in
                spare.append(contentsOf: buffers.prefix(max(0, Self.spareLimit - spare.count)))
            }
        }
    }
}

/// A file read back out of a store by its root, piece by piece, every block verified as it is read.
public struct ContentFileStream {
    private let store: ContentStore
    private var reader: UnixFSFileReader

    init(store: ContentStore, root: CID) {
        self.store = store
        reader = UnixFSFileReader(root: root)
    }

    /// The bytes handed out so far.
    public var bytesRead: UInt64 { reader.bytesRead }

    /// The next bytes of the file (at most one block's worth), or nil at its end.
    public mutating func next() throws(ContentError) -> [UInt8]? {
        while true {
            switch reader.next() {
            case .need(let cid):
                guard let block = try store.get(cid) else { throw .missingBlock(cid: cid.description) }
                do {
                    try reader.provide(block)
                } catch {
                    throw .invalidFile(root: reader.root.description, reason: error)
                }
            case .data(let bytes):
                return bytes
            case .end:
                return nil
            }
        }
    }
}

extension ContentStore {
    /// An add of one file built with `parameters` (kubo's `ipfs add --cid-version=1` by default).
    public func makeAdder(parameters: UnixFSFileBuilder.Parameters = .kuboCIDv1) -> ContentAdder {
        ContentAdder(store: self, parameters: parameters)
    }

    /// Adds `bytes` as one file, pins it for `pin` (unless nil) and returns its root.
    public func add(
        _ bytes: [UInt8], parameters: UnixFSFileBuilder.Parameters = .kuboCIDv1, pin: PinReason? = .user
    ) throws(ContentError) -> CID {
        let adder = makeAdder(parameters: parameters)
        try adder.append(bytes)
        return try adder.finish(pin: pin)
    }

    /// Adds what can be read from `descriptor` until its end (a file, a pipe, standard input).
    public func add(
        readingFrom descriptor: Int32, name: String = "input", parameters: UnixFSFileBuilder.Parameters = .kuboCIDv1,
        pin: PinReason? = .user
    ) throws(ContentError) -> CID {
        let adder = makeAdder(parameters: parameters)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress!, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .io(path: name, operation: "read", errno: errno) }
            if count == 0 { break }
            try adder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return try adder.finish(pin: pin)
    }

    /// Adds the file at `path`.
    public func add(
        path: String, parameters: UnixFSFileBuilder.Parameters = .kuboCIDv1, pin: PinReason? = .user
    ) throws(ContentError) -> CID {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { close(descriptor) }
        return try add(readingFrom: descriptor, name: path, parameters: parameters, pin: pin)
    }

    /// The file at `root`, read back as a stream of verified pieces.
    public func openFile(_ root: CID) -> ContentFileStream { ContentFileStream(store: self, root: root) }

    /// The whole file at `root` in memory (for small files and tests; `openFile` streams).
    public func readFile(_ root: CID) throws(ContentError) -> [UInt8] {
        var stream = openFile(root)
        var out: [UInt8] = []
        while let piece = try stream.next() { out += piece }
        return out
    }
}
