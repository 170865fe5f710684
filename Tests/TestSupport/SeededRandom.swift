/// A deterministic random number generator (xoshiro256**), seeded so that every fuzz and property test
/// replays exactly from its seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose whole sequence is fixed by `seed` (expanded with SplitMix64).
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// A copy of `input` with a few random edits (flip, insert, delete, truncate, duplicate), the usual
    /// mutations of a coverage-free fuzzer.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var out = input
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            switch Int.random(in: 0..<6, using: &self) {
            case 0 where !out.isEmpty:
                out[Int.random(in: 0..<out.count, using: &self)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &self)
            case 1:
                out.insert(UInt8.random(in: 0...255, using: &self), at: Int.random(in: 0...out.count, using: &self))
            case 2 where !out.isEmpty:
                out.remove(at: Int.random(in: 0..<out.count, using: &self))
            case 3 where !out.isEmpty:
                out.removeLast(Int.random(in: 1...out.count, using: &self))
            case 4 where !out.isEmpty:
                let i = Int.random(in: 0..<out.count, using: &self)
                out[i] = [0x00, 0x7F, 0x80, 0xB7, 0xB8, 0xBF, 0xC0, 0xF7, 0xF8, 0xFF].randomElement(using: &self)!
            case 5 where !out.isEmpty:
                let start = Int.random(in: 0..<out.count, using: &self)
                let end = min(out.count, start + Int.random(in: 1...16, using: &self))
                out.insert(contentsOf: out[start..<end], at: Int.random(in: 0...out.count, using: &self))
            default:
                out.append(UInt8.random(in: 0...255, using: &self))
            }
        }
        return out
    }
}
