import Codec

/// The content store: blobs in kubo's UnixFS format, as verified blocks on disk indexed in SQLite.
public enum Content {}
