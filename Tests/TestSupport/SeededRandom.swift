@_exported import struct Runtime.SeededRandom

extension SeededRandom {
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
