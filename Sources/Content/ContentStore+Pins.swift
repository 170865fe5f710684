import Codec
import SQLite

extension ContentStore {
    /// The blocks no pin reaches through the held nodes' links, least recently used first.
    private static let unpinnedByAge = """
        WITH RECURSIVE live(cid) AS (
            SELECT root FROM pins
            UNION SELECT links.child FROM links JOIN live ON links.parent = live.cid)
        SELECT cid, stored FROM blocks WHERE state = 1 AND cid NOT IN live ORDER BY accessed LIMIT ?
        """

    /// Pins the DAG at `root` for `reason`; true when the pin is new.
    ///
    /// The root need not be held yet: a pin keeps whatever of its DAG is or becomes held, so a fetch pins first and
    /// its blocks are never collected while they arrive.
    @discardableResult
    public func pin(_ root: CID, reason: PinReason) throws(ContentError) -> Bool {
        try state.withLock { _ throws(ContentError) -> Bool in
            try Self.indexed { () throws(SQLiteError) -> Bool in
                let existing = try database.first(
                    "SELECT 1 FROM pins WHERE root = ? AND reason = ?", [.blob(Self.key(root)), .text(reason.rawValue)])
                guard existing == nil else { return false }
                try database.query(
                    "INSERT INTO pins(root, reason, pinned, cid) VALUES (?, ?, ?, ?)",
                    [
                        .blob(Self.key(root)), .text(reason.rawValue), .integer(clock.wallNow().millisecondsSinceEpoch),
                        .blob(root.bytes),
                    ])
                return true
            }
        }
    }

    /// Removes the pin of `root` for `reason` (every reason when nil); returns how many pins were removed.
    @discardableResult
    public func unpin(_ root: CID, reason: PinReason?) throws(ContentError) -> Int {
        try state.withLock { _ throws(ContentError) -> Int in
            try Self.indexed { () throws(SQLiteError) -> Int in
                let key = SQLiteValue.blob(Self.key(root))
                if let reason {
                    let found = try database.first(
                        "SELECT COUNT(*) FROM pins WHERE root = ? AND reason = ?", [key, .text(reason.rawValue)])
                    try database.query("DELETE FROM pins WHERE root = ? AND reason = ?", [key, .text(reason.rawValue)])
                    return Int(found?.first?.integer ?? 0)
                }
                let found = try database.first("SELECT COUNT(*) FROM pins WHERE root = ?", [key])
                try database.query("DELETE FROM pins WHERE root = ?", [key])
                return Int(found?.first?.integer ?? 0)
            }
        }
    }

    /// Every pin, oldest first.
    public func pins() throws(ContentError) -> [Pin] {
        let rows = try Self.indexed { () throws(SQLiteError) in
            try database.query("SELECT cid, reason, pinned FROM pins ORDER BY pinned, root")
        }
        var pins: [Pin] = []
        for row in rows {
            guard case .text(let text) = row[1], let reason = PinReason(rawValue: text) else {
                throw .index(.corrupt("pin reason \(row[1])"))
            }
            pins.append(Pin(root: try Self.cid(row[0]), reason: reason, pinnedAt: row[2].integer ?? 0))
        }
        return pins
    }

    /// What the store holds.
    public func stats() throws(ContentError) -> ContentStats {
        let row = try Self.indexed { () throws(SQLiteError) in
            try database.first(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(stored), 0), COALESCE(SUM(compressed), 0), "
                    + "(SELECT COUNT(*) FROM pins) FROM blocks WHERE state = 1")
        }
        let values = (row ?? []).map { $0.integer ?? 0 }
        guard values.count == 5 else { throw .index(.corrupt("stats row")) }
        return ContentStats(
            blocks: Int(values[0]), bytes: UInt64(values[1]), storedBytes: UInt64(values[2]),
            compressedBlocks: Int(values[3]), pins: Int(values[4]), quota: state.withLock { $0.quota })
    }

    /// Sets (or with nil, removes) the disk quota, recorded in the store; collects at once when over it.
    public func setQuota(_ quota: UInt64?) throws(ContentError) {
        try state.withLock { state throws(ContentError) in
            try Self.indexed { () throws(SQLiteError) in
                if let quota {
                    try database.query(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('quota', ?)", [.integer(Int64(quota))])
                } else {
                    try database.query("DELETE FROM meta WHERE key = 'quota'")
                }
            }
            state.quota = quota
            if let quota, state.storedBytes > quota { try evictLocked(&state, target: quota) }
        }
    }

    /// Removes every block no pin reaches (kubo's `repo gc`), except blocks of adds still in progress.
    @discardableResult
    public func collectGarbage() throws(ContentError) -> GarbageCollection {
        try state.withLock { state throws(ContentError) in try evictLocked(&state, target: 0) }
    }

    /// Removes unpinned blocks, least recently used first, until the store takes at most `target` bytes or nothing
    /// unpinned is left (the caller holds `state`).
    @discardableResult
    func evictLocked(_ state: inout State, target: UInt64) throws(ContentError) -> GarbageCollection {
        try flushAccesses()
        var collected = GarbageCollection()
        while state.storedBytes > target || target == 0 {
            let rows = try Self.indexed { () throws(SQLiteError) in
                try database.query(Self.unpinnedByAge, [.integer(4_096)])
            }
            let keep = protected.withLock { protected in
                Set(rows.compactMap { $0.first?.blob }.filter { protected[$0] != nil })
            }
            var victims: [[UInt8]] = []
            var freed: UInt64 = 0
            for row in rows {
                guard let key = row[0].blob, !keep.contains(key) else { continue }
                if target > 0 && state.storedBytes - min(freed, state.storedBytes) <= target { break }
                victims.append(key)
                freed += UInt64(row[1].integer ?? 0)
            }
            guard !victims.isEmpty else { break }
            let before = state.storedBytes
            try removeLocked(&state, victims)
            collected.blocks += victims.count
            collected.storedBytes += before - state.storedBytes
            if rows.count < 4_096 && target == 0 { break }
        }
        return collected
    }

    /// The blocks of the DAG at `root` that the store lacks, in file order: what a fetch still has to ask for.
    ///
    /// Found by walking the held nodes' links from the root; at most `limit` are returned; empty means the DAG is
    /// complete.
    public func missing(_ root: CID, limit: Int = .max) throws(ContentError) -> [CID] {
        var missing: [CID] = []
        var stack = [root]
        var visited = Set<[UInt8]>()
        while let cid = stack.popLast(), missing.count < limit {
            let key = Self.key(cid)
            guard visited.insert(key).inserted else { continue }
            guard try has(cid) else {
                missing.append(cid)
                continue
            }
            let rows = try Self.indexed { () throws(SQLiteError) in
                try database.query("SELECT target FROM links WHERE parent = ? ORDER BY position DESC", [.blob(key)])
            }
            for row in rows { stack.append(try Self.cid(row.first)) }
        }
        return missing
    }
}
