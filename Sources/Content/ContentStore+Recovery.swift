import Codec
import SQLite

extension ContentStore {
    /// Adds the record location columns to an index made before the store kept its blocks in packs.
    static func addLocationColumns(_ database: Database) throws(SQLiteError) {
        var columns = Set<String>()
        for row in try database.query("PRAGMA table_info(blocks)") where row.count > 1 {
            if case .text(let name) = row[1] { columns.insert(name) }
        }
        for column in ["pack", "offset"] where !columns.contains(column) {
            try database.execute("ALTER TABLE blocks ADD COLUMN \(column) INTEGER")
        }
    }

    /// Settles what a killed process left, before anything is visible.
    ///
    /// A `writing` row becomes `present` when its record verifies and goes (its range punched) otherwise; a
    /// `removing` row loses its range and goes. Then every pack recovery touched, and the active one, is cut back to
    /// the end of its last indexed record (whatever a killed writer appended past it goes), and packs no row
    /// references but the active one are unlinked.
    func recover() throws(ContentError) {
        let rows = try Self.indexed { () throws(SQLiteError) in
            try database.query(
                "SELECT cid, state, pack, offset, stored, compressed FROM blocks WHERE state != 1 AND pack IS NOT NULL")
        }
        var touched = Set<Int>()
        for row in rows where row.count == 6 {
            let cid = try Self.cid(row[0])
            let key = Self.key(cid)
            guard let location = Self.location(pack: row[2], offset: row[3], length: row[4]) else { continue }
            touched.insert(location.pack)
            let stored = StoredBlock(location: location, compressed: row[5].integer == 1)
            if row[1].integer == RowState.writing.rawValue, readRecord(cid, stored) != nil {
                try Self.indexed { () throws(SQLiteError) in
                    try database.query("UPDATE blocks SET state = 1 WHERE cid = ?", [.blob(key)])
                }
            } else {
                packs.punch(location)
                try forget([key])
            }
        }
        let onDisk = packs.numbers()
        let highestIndexed = try Self.indexed { () throws(SQLiteError) in
            try database.first("SELECT MAX(pack) FROM blocks")?.first?.integer
        }
        let active = max(onDisk.max() ?? 1, highestIndexed.map { Int($0) } ?? 1)
        touched.insert(active)
        for pack in touched {
            let end = try lastRecordEnd(pack)
            if let size = packs.size(pack), size > end { try packs.truncate(pack, to: end) }
        }
        let cursor = PackCursor(pack: active, end: try lastRecordEnd(active))
        try state.withLock { state throws(ContentError) in
            state.active = cursor
            try retireEmptyPacks(&state, Set(onDisk))
        }
    }

    /// The offset just past the last indexed record of `pack` (0 when it holds none).
    func lastRecordEnd(_ pack: Int) throws(ContentError) -> Int {
        try Self.indexed { () throws(SQLiteError) in
            let end = try database.first(
                "SELECT offset + stored FROM blocks WHERE pack = ? ORDER BY offset DESC LIMIT 1",
                [.integer(Int64(pack))])?.first?.integer
            return Int(end ?? 0)
        }
    }

    /// Moves the blocks of the older one-file-per-block layout into packs, a batch at a time.
    ///
    /// Each block's file is read, decoded and verified, appended to the active pack, its row pointed at the record,
    /// and only then the file unlinked, so a kill at any point loses nothing: a row still without a location keeps
    /// its file for the next open, and a file whose row moved already is removed then. Rows whose file is missing
    /// or does not verify go, as a read of them would have removed them. Files no row names are left for `verify`
    /// to report as stray.
    func migrateLegacyFiles() throws(ContentError) {
        let legacy = LegacyBlockFiles(root: directory)
        guard legacy.exists else { return }
        legacy.removeTemporaries()
        while true {
            let rows = try Self.indexed { () throws(SQLiteError) in
                try database.query(
                    "SELECT cid, state FROM blocks WHERE pack IS NULL LIMIT ?",
                    [
                        .integer(Int64(options.batchBlocks))
                    ])
            }
            guard !rows.isEmpty else { break }
            var moving: [(key: [UInt8], cid: CID, record: BlockRecord.Encoded)] = []
            var dropped: [(key: [UInt8], cid: CID)] = []
            for row in rows where row.count == 2 {
                let cid = try Self.cid(row[0])
                if row[1].integer != RowState.removing.rawValue, let file = legacy.read(cid),
                    let record = BlockRecord.split(file),
                    let bytes = file.withUnsafeBytes({ BlockRecord.decode($0, maxSize: VerifiedBlock.maxSize) }),
                    Self.verifies(cid, bytes)
                {
                    moving.append((Self.key(cid), cid, record))
                } else {
                    dropped.append((Self.key(cid), cid))
                }
            }
            try state.withLock { state throws(ContentError) in
                let start = state.active
                let locations = allocate(&state, moving.map(\.record.storedSize))
                do throws(ContentError) {
                    try packs.write(Array(zip(moving.map(\.record), locations)))
                    try Self.indexed { () throws(SQLiteError) in
                        try database.transaction { () throws(SQLiteError) in
                            for (block, location) in zip(moving, locations) {
                                try database.query(
                                    "UPDATE blocks SET pack = ?, offset = ?, stored = ?, compressed = ?, state = 1 "
                                        + "WHERE cid = ?",
                                    [
                                        .integer(Int64(location.pack)), .integer(Int64(location.offset)),
                                        .integer(Int64(location.length)), .integer(block.record.compressed ? 1 : 0),
                                        .blob(block.key),
                                    ])
                            }
                        }
                    }
                } catch {
                    rollBack(&state, to: start)
                    throw error
                }
            }
            try forget(dropped.map(\.key))
            for block in moving { legacy.remove(block.cid) }
            for block in dropped { legacy.remove(block.cid) }
        }
        for file in legacy.allFiles() {
            guard let cid = try? CID(string: file.name), file.path == legacy.path(cid) else { continue }
            let moved = try Self.indexed { () throws(SQLiteError) in
                try database.first("SELECT 1 FROM blocks WHERE cid = ? AND pack IS NOT NULL", [.blob(Self.key(cid))])
                    != nil
            }
            if moved { legacy.remove(cid) }
        }
        legacy.removeEmptyDirectories()
    }
}
