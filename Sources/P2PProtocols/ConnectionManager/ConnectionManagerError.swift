import Codec

/// Why the connection manager did not record a tag or a protection.
public enum ConnectionManagerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The tag's name is empty.
    case emptyTag
    /// The tag's name is longer than the bound.
    case tagTooLong(length: Int, limit: Int)
    /// The peer already carries the most tags (of that kind) allowed.
    case tooManyTags(PeerID, limit: Int)
    /// As many peers are tracked as the bound allows.
    case tooManyPeers(limit: Int)
    /// A weighted tag names a peer that is not connected (weights live as long as the peer's connections).
    case notConnected(PeerID)

    /// What was wrong, prefixed with `connection manager:`.
    public var description: String {
        switch self {
        case .emptyTag: "connection manager: empty tag"
        case .tagTooLong(let length, let limit): "connection manager: tag of \(length) bytes exceeds \(limit)"
        case .tooManyTags(let peer, let limit): "connection manager: \(peer) already has \(limit) tags"
        case .tooManyPeers(let limit): "connection manager: \(limit) peers tracked already"
        case .notConnected(let peer): "connection manager: \(peer) is not connected"
        }
    }
}
