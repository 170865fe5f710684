/// The Keccak-f[1600] sponge behind Keccak-256 (Ethereum) and the SHA-3 family.
///
/// Lanes are kept in local variables across all the blocks of an `update`, so the compiler keeps them in
/// registers; with lane complementing that makes this portable code faster than pycryptodome's C Keccak.
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
    ///
    /// `outputLength` must be a multiple of 4 in 4…64 so the rate is a whole number of 64-bit lanes.
    public init(outputLength: Int, padding: Padding) {
        precondition(
            outputLength >= 4 && outputLength <= 64 && outputLength % 4 == 0, "Keccak output length out of range")
        self.outputLength = outputLength
        self.rate = 200 - 2 * outputLength
        self.padding = padding
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        let count = bytes.count
        if buffered > 0 {
            let take = min(rate - buffered, count)
            bufferCopy(from: base, count: take)
            offset = take
            guard buffered == rate else { return }
            absorbBuffer()
        }
        let blocks = (count - offset) / rate
        if blocks > 0 {
            Self.absorb(&state, base + offset, blocks: blocks, laneCount: rate >> 3)
            offset += blocks * rate
        }
        bufferCopy(from: base + offset, count: count - offset)
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// Pads, permutes and squeezes the digest.
    ///
    /// The sponge must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        for i in buffered..<rate { buffer[i] = 0 }
        buffer[buffered] ^= padding.rawValue
        buffer[rate - 1] ^= 0x80
        buffered = rate
        absorbBuffer()
        var out = [UInt8](repeating: 0, count: outputLength)
        for i in 0..<outputLength {
            out[i] = UInt8(truncatingIfNeeded: state[i >> 3] >> (UInt64(i & 7) << 3))
        }
        return out
    }

    /// Appends `count` bytes (fewer than a block's worth) to the partial-block buffer.
    private mutating func bufferCopy(from source: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        let start = buffered
        withUnsafeMutableBytes(of: &buffer) {
            $0.baseAddress!.advanced(by: start).copyMemory(from: source, byteCount: count)
        }
        buffered += count
    }

    /// Absorbs the full buffer as one block.
    private mutating func absorbBuffer() {
        let block = buffer
        let laneCount = rate >> 3
        withUnsafeBytes(of: block) { Self.absorb(&state, $0.baseAddress!, blocks: 1, laneCount: laneCount) }
        buffered = 0
    }

    @inline(__always)
    private static func lane(_ block: UnsafeRawPointer, _ index: Int) -> UInt64 {
        UInt64(littleEndian: block.loadUnaligned(fromByteOffset: index &<< 3, as: UInt64.self))
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

    /// Absorbs `blocks` consecutive rate-sized blocks from `data` (little-endian lanes), permuting after each.
    ///
    /// The 25 lanes stay in local variables for the whole run, so the compiler keeps most of them in registers.
    /// Lanes 1, 2, 8, 12, 17 and 20 are held complemented while inside this function (the "lane complementing"
    /// transform of the Keccak team's optimized implementation): chi then needs one NOT per plane instead of
    /// five, which matters on x86-64 without BMI1's ANDN. They are complemented back before being stored.
    static func absorb(
        _ s: inout InlineArray<25, UInt64>, _ data: UnsafeRawPointer, blocks: Int, laneCount: Int
    ) {
        var a00 = s[0]
        var a01 = ~s[1]
        var a02 = ~s[2]
        var a03 = s[3]
        var a04 = s[4]
        var a05 = s[5]
        var a06 = s[6]
        var a07 = s[7]
        var a08 = ~s[8]
        var a09 = s[9]
        var a10 = s[10]
        var a11 = s[11]
        var a12 = ~s[12]
        var a13 = s[13]
        var a14 = s[14]
        var a15 = s[15]
        var a16 = s[16]
        var a17 = ~s[17]
        var a18 = s[18]
        var a19 = s[19]
        var a20 = ~s[20]
        var a21 = s[21]
        var a22 = s[22]
        var a23 = s[23]
        var a24 = s[24]
        var block = data
        for _ in 0..<blocks {
            a00 ^= lane(block, 0)
            a01 ^= lane(block, 1)
            a02 ^= lane(block, 2)
            a03 ^= lane(block, 3)
            a04 ^= lane(block, 4)
            a05 ^= lane(block, 5)
            a06 ^= lane(block, 6)
            a07 ^= lane(block, 7)
            a08 ^= lane(block, 8)
            if laneCount > 9 { a09 ^= lane(block, 9) }
            if laneCount > 10 { a10 ^= lane(block, 10) }
            if laneCount > 11 { a11 ^= lane(block, 11) }
            if laneCount > 12 { a12 ^= lane(block, 12) }
            if laneCount > 13 { a13 ^= lane(block, 13) }
            if laneCount > 14 { a14 ^= lane(block, 14) }
            if laneCount > 15 { a15 ^= lane(block, 15) }
            if laneCount > 16 { a16 ^= lane(block, 16) }
            if laneCount > 17 { a17 ^= lane(block, 17) }
            if laneCount > 18 { a18 ^= lane(block, 18) }
            if laneCount > 19 { a19 ^= lane(block, 19) }
            if laneCount > 20 { a20 ^= lane(block, 20) }
            if laneCount > 21 { a21 ^= lane(block, 21) }
            if laneCount > 22 { a22 ^= lane(block, 22) }
            if laneCount > 23 { a23 ^= lane(block, 23) }
            if laneCount > 24 { a24 ^= lane(block, 24) }
            block += laneCount &<< 3
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
                a00 = b00 ^ (b01 | b02)
                a01 = b01 ^ (~b02 | b03)
                a02 = b02 ^ (b03 & b04)
                a03 = b03 ^ (b04 | b00)
                a04 = b04 ^ (b00 & b01)
                a05 = b05 ^ (b06 | b07)
                a06 = b06 ^ (b07 & b08)
                a07 = b07 ^ (b08 | ~b09)
                a08 = b08 ^ (b09 | b05)
                a09 = b09 ^ (b05 & b06)
                a10 = b10 ^ (b11 | b12)
                a11 = b11 ^ (b12 & b13)
                a12 = b12 ^ (~b13 & b14)
                a13 = ~b13 ^ (b14 | b10)
                a14 = b14 ^ (b10 & b11)
                a15 = b15 ^ (b16 & b17)
                a16 = b16 ^ (b17 | b18)
                a17 = b17 ^ (~b18 | b19)
                a18 = ~b18 ^ (b19 & b15)
                a19 = b19 ^ (b15 | b16)
                a20 = b20 ^ (~b21 & b22)
                a21 = ~b21 ^ (b22 | b23)
                a22 = b22 ^ (b23 & b24)
                a23 = b23 ^ (b24 | b20)
                a24 = b24 ^ (b20 & b21)
                a00 ^= roundConstants[round]
            }
        }
        s[0] = a00
        s[1] = ~a01
        s[2] = ~a02
        s[3] = a03
        s[4] = a04
        s[5] = a05
        s[6] = a06
        s[7] = a07
        s[8] = ~a08
        s[9] = a09
        s[10] = a10
        s[11] = a11
        s[12] = ~a12
        s[13] = a13
        s[14] = a14
        s[15] = a15
        s[16] = a16
        s[17] = ~a17
        s[18] = a18
        s[19] = a19
        s[20] = ~a20
        s[21] = a21
        s[22] = a22
        s[23] = a23
        s[24] = a24
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
