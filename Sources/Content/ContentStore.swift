import Codec
import Glibc
import Runtime
import SQLite
import Synchronization

/// The content store: verified blocks appended to pack files under one directory, indexed in SQLite, with pins, a
/// disk quota and least-recently-used collection of unpinned blocks.
///
/// Every block is checked against its CID before it is stored and again every time it is read, so no caller ever
/// sees bytes that do not hash to what they asked for. A block becomes visible only once its record is whole: the
/// index row is written as `writing` with the record's location before the bytes, turned `present` after them, and
/// a store opened after a kill settles every `writing` row against its record (docs/content.md gives the whole
/// argument). One process at a time holds the store (an exclusive lock on `lock`); inside it every method may be
/// called from any thread.
public final class ContentStore: Sendable {
    /// How the store compresses, batches and bounds itself.
    public struct Options: Sendable {
        /// The disk quota in bytes; nil keeps the quota recorded in the store (none at first).
        public var quota: UInt64?
        /// When blocks are kept LZ4-compressed.
        public var compression: CompressionPolicy
        /// Blocks an add collects before writing them in one pair of index transactions.
        public var batchBlocks: Int
        /// The size in bytes past which appends go on in a new pack file.
        public var packSize: Int

        /// Options with `quota`, `compression`, `batchBlocks` and `packSize`.
        public init(
            quota: UInt64? = nil, compression: CompressionPolicy = .standard, batchBlocks: Int = 32,
            packSize: Int = ContentStore.defaultPackSize
        ) {
            self.quota = quota
            self.compression = compression
            self.batchBlocks = max(1, batchBlocks)
            self.packSize = max(1, packSize)
        }
    }

    /// Packs roll over past 256 MiB: few enough files for any store, small enough that an emptied one goes soon.
    public static let defaultPackSize = 256 << 20

    /// Row states: a record being written, a whole verified record, a record being removed.
    enum RowState: Int64 {
        case writing = 0
        case present = 1
        case removing = 2
    }

    /// Where the next record goes: the active pack and its end.
    struct PackCursor: Equatable {
        var pack: Int
        var end: Int
    }

    /// What the store knows that the index does not say by itself.
    struct State {
        var storedBytes: UInt64 = 0
        var quota: UInt64?
        /// The end of the active pack, where appends go (only a writer holding `state` moves it).
        var active = PackCursor(pack: 1, end: 0)
    }

    /// A present block's record: where it lies and whether it is LZ4.
    struct StoredBlock: Equatable {
        let location: PackLocation
        let compressed: Bool
    }

    /// The directory the store lives in.
    public let directory: String
    let database: Database
    let packs: PackFiles
    let options: Options
    let clock: any Clock
    let state: Mutex<State>
    /// Blocks of adds in progress, which collection must not remove before their root is pinned.
    ///
    /// Apart from `state`, so an add protecting its next batch never waits for the writer storing the previous one.
    let protected = Mutex<[[UInt8]: Int]>([:])
    private let accesses = Mutex<(last: Int64, pending: [[UInt8]: Int64])>((0, [:]))
    private let lockDescriptor: Int32

    /// Opens (creating if needed) the store in `directory`, settles what a killed process left, moves the blocks of
    /// an older one-file-per-block layout into packs, and applies `options`.
    public init(directory: String, options: Options = Options(), clock: any Clock = SystemClock())
        throws(ContentError)
    {
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw .io(path: directory, operation: "create", errno: errno)
        }
        let lockPath = directory + "/lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(path: lockPath, operation: "open", errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .storeInUse(path: directory)
        }
        self.directory = directory
        self.lockDescriptor = descriptor
        self.options = options
        self.clock = clock
        packs = PackFiles(root: directory, packSize: options.packSize)
        state = Mutex(State())
        do {
            database = try Database(path: directory + "/index.sqlite")
            try database.execute(Self.schema)
            try Self.addLocationColumns(database)
            try database.execute(Self.locationIndex)
        } catch {
            close(descriptor)
            throw .index(error)
        }
        do {
            try packs.prepare()
            try recover()
            try migrateLegacyFiles()
            let stored = try Self.indexed { () throws(SQLiteError) in
                try database.first("SELECT COALESCE(SUM(stored), 0) FROM blocks")?.first?.integer ?? 0
            }
            if let quota = options.quota {
                try Self.indexed { () throws(SQLiteError) in
                    try database.query(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('quota', ?)", [.integer(Int64(quota))])
                }
            }
            let quota = try Self.indexed { () throws(SQLiteError) in
                try database.first("SELECT value FROM meta WHERE key = 'quota'")?.first?.integer
            }
            state.withLock {
                $0.storedBytes = UInt64(stored)
                $0.quota = quota.map { UInt64($0) }
            }
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit {
        try? flushAccesses()
        // Gives back what the active pack allocated ahead of its writes.
        let active = state.withLock { $0.active }
        if active.end > 0 { try? packs.truncate(active.pack, to: active.end) }
        close(lockDescriptor)
    }

    /// The tables; `pack` and `offset` locate a block's record (`stored` is its length); they are NULL only for a
    /// block still in a file of the older layout, until the open that moves it.
    static let schema = """
        CREATE TABLE IF NOT EXISTS blocks(
            cid BLOB PRIMARY KEY, size INTEGER NOT NULL, stored INTEGER NOT NULL, compressed INTEGER NOT NULL,
            state INTEGER NOT NULL, accessed INTEGER NOT NULL, pack INTEGER, offset INTEGER) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS blocks_by_access ON blocks(accessed);
        CREATE TABLE IF NOT EXISTS links(
            parent BLOB NOT NULL, position INTEGER NOT NULL, child BLOB NOT NULL, target BLOB NOT NULL,
            PRIMARY KEY(parent, position)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS links_by_child ON links(child);
        CREATE TABLE IF NOT EXISTS pins(
            root BLOB NOT NULL, reason TEXT NOT NULL, pinned INTEGER NOT NULL, cid BLOB NOT NULL,
            PRIMARY KEY(root, reason)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);
        """

    /// The records of a pack in order: whether a pack is still referenced, and where its last record ends.
    static let locationIndex = "CREATE INDEX IF NOT EXISTS blocks_by_location ON blocks(pack, offset)"

    /// Runs index statements, turning SQLite's error into the store's.
    @discardableResult
    static func indexed<R>(_ body: () throws(SQLiteError) -> R) throws(ContentError) -> R {
        do {
            return try body()
        } catch {
            throw .index(error)
        }
    }

    /// The index key of a block: its CIDv1 bytes (a CIDv0 and its CIDv1 are one block).
    static func key(_ cid: CID) -> [UInt8] { cid.normalized.bytes }

    /// The CID an index key holds.
    static func cid(_ value: SQLiteValue?) throws(ContentError) -> CID {
        guard let bytes = value?.blob, let cid = try? CID(bytes: bytes) else {
            throw .index(.corrupt("a CID column that does not decode"))
        }
        return cid
    }

    // MARK: Reading

    /// Whether the store holds the block of `cid`.
    public func has(_ cid: CID) throws(ContentError) -> Bool {
        try Self.indexed { () throws(SQLiteError) in
            try database.first("SELECT state FROM blocks WHERE cid = ?", [.blob(Self.key(cid))])?.first?.integer
                == RowState.present.rawValue
        }
    }

    /// The size in bytes of the block of `cid` from the index, nil when the store does not hold it (enough to
    /// answer a want-have without reading the block).
    public func size(of cid: CID) throws(ContentError) -> Int? {
        try Self.indexed { () throws(SQLiteError) in
            guard let row = try database.first("SELECT state, size FROM blocks WHERE cid = ?", [.blob(Self.key(cid))]),
                row.count == 2, row[0].integer == RowState.present.rawValue, let size = row[1].integer
            else { return nil }
            return Int(size)
        }
    }

    /// Where the record of the block of `cid` lies on disk, nil when the store does not hold it.
    ///
    /// For inspection and tests (finding, or damaging, a block's bytes); reading goes through `get`, which verifies.
    public func location(of cid: CID) throws(ContentError) -> BlockLocation? {
        guard let stored = try storedBlock(Self.key(cid)) else { return nil }
        return BlockLocation(
            path: packs.path(stored.location.pack), offset: stored.location.offset, length: stored.location.length)
    }

    /// The record of a present block, from its row.
    func storedBlock(_ key: [UInt8]) throws(ContentError) -> StoredBlock? {
        let row = try Self.indexed { () throws(SQLiteError) in
            try database.first(
                "SELECT state, pack, offset, stored, compressed FROM blocks WHERE cid = ?", [.blob(key)])
        }
        guard let row, row.count == 5, row[0].integer == RowState.present.rawValue,
            let location = Self.location(pack: row[1], offset: row[2], length: row[3])
        else { return nil }
        return StoredBlock(location: location, compressed: row[4].integer == 1)
    }

    /// A record's location from its row's columns; nil when they are NULL (a block of the older layout).
    static func location(pack: SQLiteValue, offset: SQLiteValue, length: SQLiteValue) -> PackLocation? {
        guard let pack = pack.integer, let offset = offset.integer, let length = length.integer else { return nil }
        return PackLocation(pack: Int(pack), offset: Int(offset), length: Int(length))
    }

    /// The block of `cid` read from its record, nil unless the record decodes and verifies.
    func readRecord(_ cid: CID, _ stored: StoredBlock) -> VerifiedBlock? {
        guard case .bytes(let bytes) = packs.read(stored.location, compressed: stored.compressed) else { return nil }
        return try? VerifiedBlock(cid: cid, bytes: bytes)
    }

    /// The block of `cid`, verified against it; nil when the store does not hold it.
    ///
    /// A block whose record no longer verifies is removed and reported as `corruptBlock`.
    public func get(_ cid: CID) throws(ContentError) -> VerifiedBlock? {
        let key = Self.key(cid)
        guard let stored = try storedBlock(key) else { return nil }
        if let block = readRecord(cid, stored) {
            recordAccess(key)
            return block
        }
        // Collection may have removed the block between the two reads (and a store written it again elsewhere);
        // otherwise the record is bad.
        return try state.withLock { state throws(ContentError) -> VerifiedBlock? in
            guard let current = try storedBlock(key) else { return nil }
            if current != stored, let block = readRecord(cid, current) {
                _ = noteAccess(key)
                return block
            }
            try removeLocked(&state, [key])
            throw .corruptBlock(cid: cid.description)
        }
    }

    private func recordAccess(_ key: [UInt8]) {
        if noteAccess(key) { try? state.withLock { _ throws(ContentError) in try flushAccesses() } }
    }

    /// Records an access to be written later; true when enough are pending to write them now.
    private func noteAccess(_ key: [UInt8]) -> Bool {
        accesses.withLock { accesses -> Bool in
            accesses.pending[key] = nextTick(&accesses.last)
            return accesses.pending.count >= 512
        }
    }

    /// A strictly increasing access time: wall milliseconds, bumped past the previous one.
    private func nextTick(_ last: inout Int64) -> Int64 {
        last = max(last + 1, clock.wallNow().millisecondsSinceEpoch)
        return last
    }

    func tick() -> Int64 { accesses.withLock { nextTick(&$0.last) } }

    /// Writes the access times recorded since the last flush (the caller holds `state`).
    func flushAccesses() throws(ContentError) {
        let pending = accesses.withLock { accesses in
            defer { accesses.pending.removeAll() }
            return accesses.pending
        }
        guard !pending.isEmpty else { return }
        try Self.indexed { () throws(SQLiteError) in
            try database.transaction { () throws(SQLiteError) in
                for (key, time) in pending {
                    try database.query(
                        "UPDATE blocks SET accessed = MAX(accessed, ?) WHERE cid = ?", [.integer(time), .blob(key)])
                }
            }
        }
    }

    // MARK: Writing

    /// Verifies `bytes` against `cid` (at most 2 MiB) and stores them; true when the block is new.
    @discardableResult
    public func put(_ cid: CID, _ bytes: [UInt8]) throws(ContentError) -> Bool {
        let block: VerifiedBlock
        do {
            block = try VerifiedBlock(cid: cid, bytes: bytes)
        } catch {
            throw .invalidBlock(cid: cid.description, reason: error)
        }
        return try put([block]) == 1
    }

    /// Stores verified blocks; returns how many were new.
    @discardableResult
    public func put(_ blocks: [VerifiedBlock]) throws(ContentError) -> Int {
        try store(blocks)
    }

    /// A block ready for the index: key, record and the keys of its children.
    struct Prepared {
        let key: [UInt8]
        let cid: CID
        let size: Int
        let encoded: BlockRecord.Encoded
        /// Each link's child: its index key and the CID bytes as the link wrote them.
        let children: [(key: [UInt8], cid: [UInt8])]
    }

    /// Checks that a block is well formed for its codec, compresses it, and reads its links.
    func prepare(_ block: VerifiedBlock) throws(ContentError) -> Prepared {
        guard block.bytes.count <= VerifiedBlock.maxSize else {
            throw .invalidBlock(
                cid: block.cid.description,
                reason: .blockTooLarge(size: block.bytes.count, limit: VerifiedBlock.maxSize))
        }
        let node: PBNode?
        do {
            node = try block.node()
        } catch {
            throw .invalidBlock(cid: block.cid.description, reason: error)
        }
        return Prepared(
            key: Self.key(block.cid), cid: block.cid, size: block.bytes.count,
            encoded: BlockRecord.encode(block.bytes, policy: options.compression),
            children: node?.links.map { (Self.key($0.hash), $0.hash.bytes) } ?? [])
    }

    /// Writes the blocks the store does not hold yet: `writing` rows with their locations and links, the records
    /// appended to the active pack, then `present`; returns how many were new.
    func store(_ blocks: [VerifiedBlock]) throws(ContentError) -> Int {
        var prepared: [Prepared] = []
        for block in blocks { prepared.append(try prepare(block)) }
        return try state.withLock { state throws(ContentError) -> Int in
            var seen = Set<[UInt8]>()
            var fresh: [Prepared] = []
            let now = tick()
            for block in prepared where seen.insert(block.key).inserted {
                let row = try Self.indexed { () throws(SQLiteError) in
                    try database.first("SELECT state FROM blocks WHERE cid = ?", [.blob(block.key)])
                }
                if row?.first?.integer == RowState.present.rawValue {
                    accesses.withLock { $0.pending[block.key] = now }
                } else {
                    fresh.append(block)
                }
            }
            guard !fresh.isEmpty else { return 0 }
            let needed = fresh.reduce(UInt64(0)) { $0 + UInt64($1.encoded.storedSize) }
            if let quota = state.quota, state.storedBytes + needed > quota {
                try evictLocked(&state, target: quota >= needed ? quota - needed : 0)
                guard state.storedBytes + needed <= quota else {
                    throw .quotaExceeded(needed: needed, quota: quota)
                }
            }
            let start = state.active
            let locations = allocate(&state, fresh.map(\.encoded.storedSize))
            do throws(ContentError) {
                try Self.indexed { () throws(SQLiteError) in
                    try database.transaction { () throws(SQLiteError) in
                        for (block, location) in zip(fresh, locations) {
                            try database.query(
                                "INSERT OR REPLACE INTO blocks(cid, size, stored, compressed, state, accessed, pack, "
                                    + "offset) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                                [
                                    .blob(block.key), .integer(Int64(block.size)), .integer(Int64(location.length)),
                                    .integer(block.encoded.compressed ? 1 : 0), .integer(now),
                                    .integer(Int64(location.pack)), .integer(Int64(location.offset)),
                                ])
                            // Links follow from the bytes: a block without any (every raw leaf) never had rows.
                            guard !block.children.isEmpty else { continue }
                            try database.query("DELETE FROM links WHERE parent = ?", [.blob(block.key)])
                            for (position, child) in block.children.enumerated() {
                                try database.query(
                                    "INSERT INTO links(parent, position, child, target) VALUES (?, ?, ?, ?)",
                                    [.blob(block.key), .integer(Int64(position)), .blob(child.key), .blob(child.cid)])
                            }
                        }
                    }
                }
                try packs.write(Array(zip(fresh.map(\.encoded), locations)))
            } catch {
                rollBack(&state, to: start)
                try? forget(fresh.map(\.key))
                throw error
            }
            try flushAccesses()
            // The batch's rows are the `writing` rows of the ranges it was just given, one range per pack.
            var ranges: [Int: Range<Int>] = [:]
            for location in locations {
                let range = ranges[location.pack] ?? location.offset..<location.end
                ranges[location.pack] = min(range.lowerBound, location.offset)..<max(range.upperBound, location.end)
            }
            try Self.indexed { () throws(SQLiteError) in
                try database.transaction { () throws(SQLiteError) in
                    for (pack, range) in ranges {
                        try database.query(
                            "UPDATE blocks SET state = 1 WHERE pack = ? AND offset >= ? AND offset < ? AND state = 0",
                            [
                                .integer(Int64(pack)), .integer(Int64(range.lowerBound)),
                                .integer(Int64(range.upperBound)),
                            ])
                    }
                }
            }
            state.storedBytes += needed
            if state.active.pack != start.pack { try retireEmptyPacks(&state, Set(start.pack..<state.active.pack)) }
            return fresh.count
        }
    }

    /// Places records of `lengths` one after another from the end of the active pack, going on in the next pack
    /// when a record would take one past `packSize` (the caller holds `state`).
    func allocate(_ state: inout State, _ lengths: [Int]) -> [PackLocation] {
        lengths.map { length in
            if state.active.end > 0 && state.active.end + length > options.packSize {
                state.active = PackCursor(pack: state.active.pack + 1, end: 0)
            }
            defer { state.active.end += length }
            return PackLocation(pack: state.active.pack, offset: state.active.end, length: length)
        }
    }

    /// Takes back the records allocated since `start` after a failed write: the pack they began in is cut back to
    /// where they began, and packs begun since are removed (the caller holds `state`).
    func rollBack(_ state: inout State, to start: PackCursor) {
        if state.active.pack > start.pack {
            for pack in start.pack + 1...state.active.pack { packs.remove(pack) }
        }
        try? packs.truncate(start.pack, to: start.end)
        state.active = start
    }

    /// Unlinks those of `candidates` that no row references any more, except the active pack (the caller holds
    /// `state`).
    func retireEmptyPacks(_ state: inout State, _ candidates: Set<Int>) throws(ContentError) {
        for pack in candidates where pack != state.active.pack {
            if try !isReferenced(pack) { packs.remove(pack) }
        }
    }

    /// Whether any row has its record in `pack`.
    func isReferenced(_ pack: Int) throws(ContentError) -> Bool {
        try Self.indexed { () throws(SQLiteError) in
            try database.first("SELECT 1 FROM blocks WHERE pack = ? LIMIT 1", [.integer(Int64(pack))]) != nil
        }
    }

    /// Keeps blocks from collection until `release` (an add protects its blocks until its root is pinned).
    func protect(_ keys: some Sequence<[UInt8]>) {
        protected.withLock { protected in
            for key in keys { protected[key, default: 0] += 1 }
        }
    }

    /// Lets go of blocks `protect` kept.
    func release(_ keys: some Sequence<[UInt8]>) {
        protected.withLock { protected in
            for key in keys {
                guard let count = protected[key] else { continue }
                protected[key] = count > 1 ? count - 1 : nil
            }
        }
    }

    /// Deletes index rows and their links (their records are already gone, or never were).
    func forget(_ keys: [[UInt8]]) throws(ContentError) {
        guard !keys.isEmpty else { return }
        try Self.indexed { () throws(SQLiteError) in
            try database.transaction { () throws(SQLiteError) in
                for key in keys {
                    try database.query("DELETE FROM blocks WHERE cid = ?", [.blob(key)])
                    try database.query("DELETE FROM links WHERE parent = ?", [.blob(key)])
                }
            }
        }
    }

    /// Removes blocks: rows marked `removing`, their records' disk blocks punched out, rows deleted, and packs left
    /// holding no row unlinked (the caller holds `state`).
    func removeLocked(_ state: inout State, _ keys: [[UInt8]]) throws(ContentError) {
        guard !keys.isEmpty else { return }
        var freed: UInt64 = 0
        var locations: [PackLocation] = []
        try Self.indexed { () throws(SQLiteError) in
            try database.transaction { () throws(SQLiteError) in
                for key in keys {
                    if let row = try database.first(
                        "SELECT stored, pack, offset FROM blocks WHERE cid = ?", [.blob(key)]), row.count == 3
                    {
                        freed += UInt64(row[0].integer ?? 0)
                        if let location = Self.location(pack: row[1], offset: row[2], length: row[0]) {
                            locations.append(location)
                        }
                    }
                    try database.query("UPDATE blocks SET state = 2 WHERE cid = ?", [.blob(key)])
                }
            }
        }
        for location in locations { packs.punch(location) }
        try forget(keys)
        try retireEmptyPacks(&state, Set(locations.map(\.pack)))
        state.storedBytes -= min(freed, state.storedBytes)
    }
}
