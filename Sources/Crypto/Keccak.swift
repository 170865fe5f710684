/// The Keccak-f[1600] sponge behind Keccak-256 (Ethereum) and the SHA-3 family.
///
/// Whole blocks are absorbed straight from the input with the 25 lanes held in local variables across
/// blocks, so the compiler keeps them in registers; that is what lets a portable implementation keep pace
/// with hand-written C.
public struct KeccakSponge: Sendable {
    /// The padding domain byte: 0x01 for original Keccak (Ethereum), 0x06 for FIPS-202 SHA-3.
    public enum Padding: UInt8, Sendable {
        case keccak = 0x01
        case sha3 = 0x06
    }

    private var state: InlineArray<25, UInt64> = .init(repeating: 0)
    private var buffer: InlineArray<200, UInt8> = .init(repeating: 0)
    private var buffered = 0
    private let rate: Int
    private let padding: Padding
    private let outputLength: Int

    /// A sponge with capacity `2 * outputLength` bytes, as in Keccak-256 and SHA3-256/512.
    public init(outputLength: Int, padding: Padding) {
        precondition(outputLength >= 14 && outputLength <= 64, "Keccak output length out of range")
        self.outputLength = outputLength
        self.rate = 200 - 2 * outputLength
        self.padding = padding
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        let count = bytes.count
        if buffered > 0 {
            let take = min(rate - buffered, count)
            for i in 0..<take { buffer[buffered + i] = bytes[i] }
            buffered += take
            offset = take
            guard buffered == rate else { return }
            absorbBuffer()
            buffered = 0
        }
        let blocks = (count - offset) / rate
        if blocks > 0 {
            Self.absorb(&state, blocks: base + offset, blockCount: blocks, rate: rate)
            offset += blocks * rate
        }
        for i in offset..<count { buffer[i - offset] = bytes[i] }
        buffered = count - offset
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// Pads, permutes and squeezes the digest. The sponge must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        for i in buffered..<rate { buffer[i] = 0 }
        buffer[buffered] ^= padding.rawValue
        buffer[rate - 1] ^= 0x80
        absorbBuffer()
        var out = [UInt8](repeating: 0, count: outputLength)
        for i in 0..<outputLength {
            out[i] = UInt8(truncatingIfNeeded: state[i >> 3] >> (UInt64(i & 7) << 3))
        }
        return out
    }

    private mutating func absorbBuffer() {
        var block = buffer
        let rate = rate
        withUnsafeBytes(of: &block) { Self.absorb(&state, blocks: $0.baseAddress!, blockCount: 1, rate: rate) }
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x << n) | (x >> (64 &- n)) }

    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// XORs `blockCount` blocks of `rate` bytes (little-endian lanes) into the state, applying Keccak-f[1600]
    /// (24 rounds, lane (x, y) at index x + 5y) after each.
    private static func absorb(
        _ state: inout InlineArray<25, UInt64>, blocks: UnsafeRawPointer, blockCount: Int, rate: Int
    ) {
        let lanes = rate >> 3
        roundConstants.withUnsafeBufferPointer { constants in
            var a00 = state[0]
            var a01 = state[1]
            var a02 = state[2]
            var a03 = state[3]
            var a04 = state[4]
            var a05 = state[5]
            var a06 = state[6]
            var a07 = state[7]
            var a08 = state[8]
            var a09 = state[9]
            var a10 = state[10]
            var a11 = state[11]
            var a12 = state[12]
            var a13 = state[13]
            var a14 = state[14]
            var a15 = state[15]
            var a16 = state[16]
            var a17 = state[17]
            var a18 = state[18]
            var a19 = state[19]
            var a20 = state[20]
            var a21 = state[21]
            var a22 = state[22]
            var a23 = state[23]
            var a24 = state[24]
            var block = blocks
            for _ in 0..<blockCount {
                a00 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
                a01 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                a02 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                a03 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
                a04 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
                a05 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
                a06 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
                a07 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
                a08 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 64, as: UInt64.self))
                if lanes > 9 { a09 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 72, as: UInt64.self)) }
                if lanes > 10 { a10 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 80, as: UInt64.self)) }
                if lanes > 11 { a11 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 88, as: UInt64.self)) }
                if lanes > 12 { a12 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 96, as: UInt64.self)) }
                if lanes > 13 { a13 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 104, as: UInt64.self)) }
                if lanes > 14 { a14 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 112, as: UInt64.self)) }
                if lanes > 15 { a15 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 120, as: UInt64.self)) }
                if lanes > 16 { a16 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 128, as: UInt64.self)) }
                if lanes > 17 { a17 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 136, as: UInt64.self)) }
                if lanes > 18 { a18 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 144, as: UInt64.self)) }
                if lanes > 19 { a19 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 152, as: UInt64.self)) }
                if lanes > 20 { a20 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 160, as: UInt64.self)) }
                block += rate
                for round in 0..<24 {
                    let c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20
                    let c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21
                    let c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22
                    let c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23
                    let c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24
                    let d0 = c4 ^ rotl(c1, 1)
                    let d1 = c0 ^ rotl(c2, 1)
                    let d2 = c1 ^ rotl(c3, 1)
                    let d3 = c2 ^ rotl(c4, 1)
                    let d4 = c3 ^ rotl(c0, 1)
                    let b00 = (a00 ^ d0)
                    let b16 = rotl(a05 ^ d0, 36)
                    let b07 = rotl(a10 ^ d0, 3)
                    let b23 = rotl(a15 ^ d0, 41)
                    let b14 = rotl(a20 ^ d0, 18)
                    let b10 = rotl(a01 ^ d1, 1)
                    let b01 = rotl(a06 ^ d1, 44)
                    let b17 = rotl(a11 ^ d1, 10)
                    let b08 = rotl(a16 ^ d1, 45)
                    let b24 = rotl(a21 ^ d1, 2)
                    let b20 = rotl(a02 ^ d2, 62)
                    let b11 = rotl(a07 ^ d2, 6)
                    let b02 = rotl(a12 ^ d2, 43)
                    let b18 = rotl(a17 ^ d2, 15)
                    let b09 = rotl(a22 ^ d2, 61)
                    let b05 = rotl(a03 ^ d3, 28)
                    let b21 = rotl(a08 ^ d3, 55)
                    let b12 = rotl(a13 ^ d3, 25)
                    let b03 = rotl(a18 ^ d3, 21)
                    let b19 = rotl(a23 ^ d3, 56)
                    let b15 = rotl(a04 ^ d4, 27)
                    let b06 = rotl(a09 ^ d4, 20)
                    let b22 = rotl(a14 ^ d4, 39)
                    let b13 = rotl(a19 ^ d4, 8)
                    let b04 = rotl(a24 ^ d4, 14)
                    a00 = b00 ^ (~b01 & b02)
                    a01 = b01 ^ (~b02 & b03)
                    a02 = b02 ^ (~b03 & b04)
                    a03 = b03 ^ (~b04 & b00)
                    a04 = b04 ^ (~b00 & b01)
                    a05 = b05 ^ (~b06 & b07)
                    a06 = b06 ^ (~b07 & b08)
                    a07 = b07 ^ (~b08 & b09)
                    a08 = b08 ^ (~b09 & b05)
                    a09 = b09 ^ (~b05 & b06)
                    a10 = b10 ^ (~b11 & b12)
                    a11 = b11 ^ (~b12 & b13)
                    a12 = b12 ^ (~b13 & b14)
                    a13 = b13 ^ (~b14 & b10)
                    a14 = b14 ^ (~b10 & b11)
                    a15 = b15 ^ (~b16 & b17)
                    a16 = b16 ^ (~b17 & b18)
                    a17 = b17 ^ (~b18 & b19)
                    a18 = b18 ^ (~b19 & b15)
                    a19 = b19 ^ (~b15 & b16)
                    a20 = b20 ^ (~b21 & b22)
                    a21 = b21 ^ (~b22 & b23)
                    a22 = b22 ^ (~b23 & b24)
                    a23 = b23 ^ (~b24 & b20)
                    a24 = b24 ^ (~b20 & b21)
                    a00 ^= constants[round]
                }
            }
            state[0] = a00
            state[1] = a01
            state[2] = a02
            state[3] = a03
            state[4] = a04
            state[5] = a05
            state[6] = a06
            state[7] = a07
            state[8] = a08
            state[9] = a09
            state[10] = a10
            state[11] = a11
            state[12] = a12
            state[13] = a13
            state[14] = a14
            state[15] = a15
            state[16] = a16
            state[17] = a17
            state[18] = a18
            state[19] = a19
            state[20] = a20
            state[21] = a21
            state[22] = a22
            state[23] = a23
            state[24] = a24

        }
    }
}

/// Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3-256).
public struct Keccak256: Sendable {
    private var sponge = KeccakSponge(outputLength: 32, padding: .keccak)

    /// A fresh hasher.
    public init() {}

    /// Absorbs more input.
    public mutating func update(_ bytes: some Sequence<UInt8>) { sponge.update(bytes) }

    /// The 32-byte digest.
    public mutating func finalize() -> [UInt8] { sponge.finalize() }

    /// The Keccak-256 digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// FIPS-202 SHA3-512 (used by multihash code 0x14).
public enum SHA3_512 {
    /// The 64-byte digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var sponge = KeccakSponge(outputLength: 64, padding: .sha3)
        sponge.update(bytes)
        return sponge.finalize()
    }
}
