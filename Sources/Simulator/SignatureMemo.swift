import Codec
import P2PProtocols
import Synchronization

/// A memoizing signature check for the routers of one simulation.
///
/// Verifying a signature is a pure function of (key, signature, signed bytes), so the simulator checks each distinct
/// triple once per process instead of once per node: what makes 10,000 routers affordable. It stays honest: the
/// memo is keyed by the signature and compares the key and every signed byte before reusing an answer, so a forged
/// signature, or a real one over other bytes, is checked for real and fails.
public final class SignatureMemo: Sendable {
    private struct Entry {
        var key: LibP2PPublicKey
        var message: [UInt8]
        var valid: Bool
    }

    /// A signature as a table key, hashed in one pass.
    private struct Signature: Hashable {
        var bytes: [UInt8]

        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    private let entries = Mutex<[Signature: [Entry]]>([:])
    private let counts = Mutex<(checks: Int, verified: Int)>((0, 0))

    /// An empty memo.
    public init() {}

    /// (checks asked, real verifications done).
    public var statistics: (checks: Int, verified: Int) { counts.withLock { $0 } }

    /// Whether `signature` is `key`'s signature of `message`, verified once per distinct triple.
    public func verify(_ key: LibP2PPublicKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool {
        let known = entries.withLock { table -> Bool? in
            table[Signature(bytes: signature)]?.first { $0.key == key && $0.message == message }?.valid
        }
        if let known {
            counts.withLock { $0.checks += 1 }
            return known
        }
        let valid = key.isValidSignature(signature, for: message)
        entries.withLock {
            $0[Signature(bytes: signature), default: []].append(Entry(key: key, message: message, valid: valid))
        }
        counts.withLock {
            $0.checks += 1
            $0.verified += 1
        }
        return valid
    }

    /// The memo as the router's verifier.
    public var verifier: GossipsubRouter.SignatureVerifier {
        { [self] key, signature, message in verify(key, signature, message) }
    }
}
