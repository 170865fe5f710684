/// The one seeded random source: SplitMix64, whose whole state is one 64-bit word.
///
/// Protocol state machines, samplers, simulations and tests draw from it, so that a run replays exactly from its seed;
/// it is cheap to copy into a `Sendable` state machine. Not for keys: those come from `SecureRandom`.
public struct SeededRandom: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's state; the next output is a function of it alone.
    public private(set) var state: UInt64

    /// A generator whose whole sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            var word = next()
            for _ in 0..<min(8, count - out.count) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }

    /// An independent generator for a child (a peer, a stream) derived from this one's next output and `label`.
    public mutating func split(label: UInt64 = 0) -> SeededRandom {
        var child = SeededRandom(seed: next() ^ (label &* 0xD6E8_FEB8_6659_FD93))
        _ = child.next()
        return child
    }
}
