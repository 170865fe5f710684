import Codec
import TestSupport
import Testing

/// The examples published in EIP-55.
@Test(arguments: [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
])
func eip55ChecksumsRoundTrip(text: String) throws {
    let address = try Address(hex: text)
    #expect(address.checksummed == text)
    #expect(try Address(hex: text.lowercased()) == address)
    #expect(try Address(hex: "0x" + text.dropFirst(2).uppercased()) == address)
    // Flipping the case of one letter breaks the checksum.
    var chars = Array(text)
    let letter = try #require(chars.indices.dropFirst(2).first { chars[$0].isLetter })
    chars[letter] =
        chars[letter].isUppercase ? Character(chars[letter].lowercased()) : Character(chars[letter].uppercased())
    #expect(throws: CodecError.self) { try Address(hex: String(chars)) }
}

@Test func malformedAddressesAreRejected() {
    for bad in [
        "", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0xgaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try Address(hex: bad) }
    }
    #expect(throws: CodecError.self) { try Address(bytes: [1, 2]) }
}

@Test func fuzzedAddressTextNeverCrashes() throws {
    var random = SeededRandom(seed: 55)
    let seed = Array("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".utf8)
    var accepted = 0
    for _ in 0..<100_000 {
        let input = String(decoding: random.mutate(seed), as: UTF8.self)
        if let address = try? Address(hex: input) {
            accepted += 1
            #expect(try Address(hex: address.checksummed) == address)
        }
    }
    #expect(accepted < 100_000)
}

@Test func hexRejectsBadDigitsAndOddLengths() throws {
    #expect(try Hex.decode("0xABcd01") == [0xAB, 0xCD, 0x01])
    #expect(try Hex.decode("") == [])
    #expect(throws: CodecError.self) { try Hex.decode("0xabc") }
    #expect(throws: CodecError.self) { try Hex.decode("0xzz") }
    #expect(Hex.encode([0, 255]) == "0x00ff")
}
