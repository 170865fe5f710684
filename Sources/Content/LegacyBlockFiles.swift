import Codec
import Glibc

/// The block files of the earlier layout, one file per block under `blocks/<shard>/<CIDv1 base32>` (written in
/// `tmp/` and renamed in), kept only to move a store of that layout into packs when it is opened.
///
/// A file holds exactly what a pack record holds (`BlockRecord`). The shard is the two characters before the last
/// of the name.
struct LegacyBlockFiles: Sendable {
    let blocksDirectory: String
    let temporaryDirectory: String

    init(root: String) {
        blocksDirectory = root + "/blocks"
        temporaryDirectory = root + "/tmp"
    }

    /// Whether anything of the layout is left.
    var exists: Bool { access(blocksDirectory, F_OK) == 0 || access(temporaryDirectory, F_OK) == 0 }

    /// The path of the file of `cid`.
    func path(_ cid: CID) -> String {
        let name = cid.normalized.description
        return blocksDirectory + "/" + String(name.dropLast().suffix(2)) + "/" + name
    }

    /// The whole file of `cid`, nil when it is missing, unreadable or larger than any record of a valid block.
    func read(_ cid: CID, maxSize: Int = VerifiedBlock.maxSize) -> [UInt8]? {
        let descriptor = open(path(cid), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size >= 1,
            Int(status.st_size) <= maxSize + BlockRecord.lz4HeaderSize
        else { return nil }
        var complete = false
        let file = [UInt8](unsafeUninitializedCapacity: Int(status.st_size)) { buffer, count in
            var done = 0
            while done < buffer.count {
                let read = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(done))
                if read < 0 && errno == EINTR { continue }
                guard read > 0 else { break }
                done += read
            }
            complete = done == buffer.count
            count = complete ? done : 0
        }
        return complete ? file : nil
    }

    /// Removes the file of `cid`, if there is one.
    func remove(_ cid: CID) { unlink(path(cid)) }

    /// Removes the temporaries a killed writer of the layout left (never visible: they were not renamed in).
    func removeTemporaries() {
        for name in PackFiles.entries(temporaryDirectory) { unlink(temporaryDirectory + "/" + name) }
    }

    /// Every file left under `blocks/` (in a shard or not) and `tmp/`, with the name it has.
    func allFiles() -> [(path: String, name: String)] {
        var files: [(String, String)] = []
        for entry in PackFiles.entries(blocksDirectory) {
            let path = blocksDirectory + "/" + entry
            if Self.isDirectory(path) {
                for name in PackFiles.entries(path) { files.append((path + "/" + name, name)) }
            } else {
                files.append((path, entry))
            }
        }
        for name in PackFiles.entries(temporaryDirectory) { files.append((temporaryDirectory + "/" + name, name)) }
        return files
    }

    /// Removes the layout's directories that are empty (a shard still holding a file stays, and so does `blocks/`).
    func removeEmptyDirectories() {
        for entry in PackFiles.entries(blocksDirectory) { rmdir(blocksDirectory + "/" + entry) }
        rmdir(blocksDirectory)
        rmdir(temporaryDirectory)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }
}
