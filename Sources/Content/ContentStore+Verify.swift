import Codec
import Glibc
import SQLite

extension ContentStore {
    /// Re-reads and re-hashes every block, reporting (and with `repair`, removing) what fails.
    ///
    /// What fails: blocks whose record is missing or does not verify, and files the index does not reference
    /// (`VerifyReport.strayFiles`). The store stays usable meanwhile: records are checked a page at a time, in pack
    /// order, outside the store's lock.
    public func verify(repair: Bool) throws(ContentError) -> VerifyReport {
        var report = VerifyReport()
        var after: (pack: Int64, offset: Int64) = (-1, -1)
        while true {
            let rows = try Self.indexed { () throws(SQLiteError) in
                try database.query(
                    "SELECT cid, pack, offset, stored, compressed FROM blocks "
                        + "WHERE state = 1 AND (pack, offset) > (?, ?) ORDER BY pack, offset LIMIT 256",
                    [.integer(after.pack), .integer(after.offset)])
            }
            guard let last = rows.last, last.count == 5, let pack = last[1].integer, let offset = last[2].integer
            else { break }
            after = (pack, offset)
            var bad: [CID] = []
            for row in rows where row.count == 5 {
                let cid = try Self.cid(row[0])
                report.checked += 1
                if let location = Self.location(pack: row[1], offset: row[2], length: row[3]),
                    readRecord(cid, StoredBlock(location: location, compressed: row[4].integer == 1)) != nil
                {
                    continue
                }
                bad.append(cid)
            }
            guard !bad.isEmpty else { continue }
            try state.withLock { state throws(ContentError) in
                for cid in bad {
                    // Checked again under the lock: collection or a repair may have removed or moved it meanwhile.
                    let key = Self.key(cid)
                    guard try has(cid) else { continue }
                    if let stored = try storedBlock(key), readRecord(cid, stored) != nil { continue }
                    report.corrupt.append(cid)
                    if repair { try removeLocked(&state, [key]) }
                }
            }
        }
        try state.withLock { state throws(ContentError) in
            for number in packs.numbers().sorted() where number != state.active.pack {
                if try !isReferenced(number) { report.strayFiles.append(packs.path(number)) }
            }
            for name in packs.strangers().sorted() { report.strayFiles.append(packs.directory + "/" + name) }
            let legacy = LegacyBlockFiles(root: directory)
            report.strayFiles += legacy.allFiles().map(\.path).sorted()
            if repair {
                for path in report.strayFiles { unlink(path) }
                legacy.removeEmptyDirectories()
            }
        }
        report.repaired = repair
        return report
    }

    /// Whether `bytes` hash to `cid`: the one check behind reads, recovery, migration and verify.
    static func verifies(_ cid: CID, _ bytes: [UInt8]) -> Bool { (try? VerifiedBlock(cid: cid, bytes: bytes)) != nil }
}
