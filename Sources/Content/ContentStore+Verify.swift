import Codec
import Glibc
import SQLite

extension ContentStore {
    /// Re-reads and re-hashes every block, reporting (and with `repair`, removing) what fails.
    ///
    /// What fails: blocks whose file is missing or does not verify, and files the index does not know. The store
    /// stays usable meanwhile: blocks are checked a page at a time outside the store's lock.
    public func verify(repair: Bool) throws(ContentError) -> VerifyReport {
        var report = VerifyReport()
        var after: [UInt8] = []
        while true {
            let rows = try Self.indexed { () throws(SQLiteError) in
                try database.query(
                    "SELECT cid FROM blocks WHERE state = 1 AND cid > ? ORDER BY cid LIMIT 256", [.blob(after)])
            }
            guard let last = rows.last?.first?.blob else { break }
            after = last
            var bad: [CID] = []
            for row in rows {
                let cid = try Self.cid(row.first)
                report.checked += 1
                if case .bytes(let bytes) = files.read(cid), Self.verifies(cid, bytes) { continue }
                bad.append(cid)
            }
            guard !bad.isEmpty else { continue }
            try state.withLock { state throws(ContentError) in
                for cid in bad {
                    // Checked again under the lock: collection or a repair may have removed it meanwhile.
                    guard try has(cid) else { continue }
                    if case .bytes(let bytes) = files.read(cid), Self.verifies(cid, bytes) {
                        continue
                    }
                    report.corrupt.append(cid)
                    if repair { try removeLocked(&state, [Self.key(cid)]) }
                }
            }
        }
        try state.withLock { _ throws(ContentError) in
            for file in files.allFiles() {
                guard let cid = try? CID(string: file.name), file.name == BlockFiles.name(cid),
                    files.path(cid) == file.path
                else {
                    report.strayFiles.append(file.path)
                    continue
                }
                let known = try Self.indexed { () throws(SQLiteError) in
                    try database.first("SELECT 1 FROM blocks WHERE cid = ?", [.blob(Self.key(cid))]) != nil
                }
                if !known { report.strayFiles.append(file.path) }
            }
            if repair { for path in report.strayFiles { unlink(path) } }
        }
        report.repaired = repair
        return report
    }

    /// Whether `bytes` hash to `cid`: the one check behind reads, recovery and verify.
    static func verifies(_ cid: CID, _ bytes: [UInt8]) -> Bool { (try? VerifiedBlock(cid: cid, bytes: bytes)) != nil }
}
