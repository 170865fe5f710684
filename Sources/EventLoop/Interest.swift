import CEventLoop

/// What a registered descriptor is watched for.
public struct Interest: OptionSet, Hashable, Sendable {
    /// The shim's bits (`CEventLoop_READABLE`, `CEventLoop_WRITABLE`).
    public let rawValue: UInt32

    /// The interest with the shim's bits `rawValue`.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Input is waiting, or the peer closed.
    public static let readable = Interest(rawValue: CEventLoop_READABLE)
    /// Output can be written.
    public static let writable = Interest(rawValue: CEventLoop_WRITABLE)
}

/// What epoll reported about a descriptor.
public struct Readiness: OptionSet, Hashable, Sendable {
    /// The shim's bits (`CEventLoop_READABLE`, `CEventLoop_WRITABLE`, `CEventLoop_HANGUP`).
    public let rawValue: UInt32

    /// The readiness with the shim's bits `rawValue`.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Input is waiting.
    public static let readable = Readiness(rawValue: CEventLoop_READABLE)
    /// Output can be written.
    public static let writable = Readiness(rawValue: CEventLoop_WRITABLE)
    /// The peer hung up or shut down its side, or the socket failed.
    public static let hangup = Readiness(rawValue: CEventLoop_HANGUP)
}

/// Called on the loop thread when the descriptor it was registered for is ready.
public protocol LoopHandler: AnyObject {
    /// The descriptor is readable, writable and/or hung up.
    func ready(readable: Bool, writable: Bool, hangup: Bool)
}

/// The operations on an epoll set, as the shim names them.
enum EpollOperation {
    case add, modify, delete

    var shim: CEventLoop_Operation {
        switch self {
        case .add: CEventLoop_OperationAdd
        case .modify: CEventLoop_OperationModify
        case .delete: CEventLoop_OperationDelete
        }
    }
}
