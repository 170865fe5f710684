import Crypto
import Foundation
import TestSupport
import Testing

@testable import Codec

/// The EIP's own Mail example: every intermediate value, the signature and the recovered signer.
@Test func eip712MailExample() throws {
    guard let data = Fixtures.vector("eip712/mail.json") else { return }
    let vector = try #require(try Fixtures.json(data) as? [String: Any])
    let expected = try #require(vector["expected"] as? [String: Any])
    let typedData = try EIP712TypedData(
        json: try JSONSerialization.data(withJSONObject: try #require(vector["typedData"])))
    #expect(try typedData.encodeType("Mail") == expected["encodeType_Mail"] as? String)
    #expect(Hex.encode(try typedData.typeHash("Mail")) == expected["typeHash_Mail"] as? String)
    #expect(
        Hex.encode(try typedData.encodeData("Mail", typedData.message)) == expected["encodeData_Mail_message"]
            as? String)
    #expect(
        Hex.encode(try typedData.hashStruct("Mail", typedData.message)) == expected["hashStruct_message"] as? String)
    #expect(Hex.encode(try typedData.domainSeparator()) == expected["domainSeparator"] as? String)
    let digest = try typedData.digest()
    #expect(Hex.encode(digest) == expected["digest"] as? String)

    let key = try Secp256k1PrivateKey(bytes: Keccak256.hash(Array("cow".utf8)))
    let signature = try key.signRecoverable(digest: digest)
    let published = try #require(expected["signature"] as? [String: Any])
    #expect(Hex.encode(signature.r) == published["r"] as? String)
    #expect(Hex.encode(signature.s) == published["s"] as? String)
    #expect(Int(signature.recoveryID) + 27 == published["v"] as? Int)
    #expect(Hex.encode(signature.rsv) == expected["signatureRsv"] as? String)
    let signer = try #require((vector["signer"] as? [String: Any])?["address"] as? String)
    let recovered = try RecoverableSignature(rsv: try Hex.decode(try #require(expected["signatureRsv"] as? String)))
    #expect(try Address(bytes: recovered.recoverPublicKey(digest: digest).ethereumAddress).lowercaseHex == signer)
}

/// Random struct definitions hashed and signed by eth-account: domain separator, struct hash, digest,
/// signature and recovered signer.
@Test func eip712AgreesWithEthAccount() throws {
    guard let data = Fixtures.interop("eip712.json") else { return }
    let cases = try #require((try Fixtures.json(data) as? [String: Any])?["cases"] as? [[String: Any]])
    #expect(cases.count >= 1000)
    for (index, testCase) in cases.enumerated() {
        let typedData = try EIP712TypedData(
            json: try JSONSerialization.data(withJSONObject: try #require(testCase["typedData"])))
        #expect(
            Hex.encode(try typedData.domainSeparator(), prefix: false) == testCase["domainSeparator"] as? String,
            "case \(index)")
        #expect(
            Hex.encode(try typedData.hashStruct(typedData.primaryType, typedData.message), prefix: false) == testCase[
                "hashStruct"] as? String, "case \(index)")
        let digest = try typedData.digest()
        #expect(Hex.encode(digest, prefix: false) == testCase["digest"] as? String, "case \(index)")
        let key = try Secp256k1PrivateKey(bytes: try Hex.decode(try #require(testCase["privateKey"] as? String)))
        let signature = try key.signRecoverable(digest: digest)
        #expect(Hex.encode(signature.rsv, prefix: false) == testCase["signature"] as? String)
        let recovered = try signature.recoverPublicKey(digest: digest)
        #expect(try Address(bytes: recovered.ethereumAddress).lowercaseHex == testCase["signer"] as? String)
    }
}

@Test func recursiveTypesEncodeOnce() throws {
    let typedData = EIP712TypedData(
        types: [
            "Node": [.init(name: "value", type: "uint256"), .init(name: "children", type: "Node[]")],
            "EIP712Domain": [.init(name: "name", type: "string")],
        ],
        primaryType: "Node", domain: ["name": .string("t")],
        message: [
            "value": .number("1"), "children": .array([.object(["value": .number("2"), "children": .array([])])]),
        ])
    #expect(try typedData.encodeType("Node") == "Node(uint256 value,Node[] children)")
    #expect(try typedData.digest().count == 32)
}

@Test func badTypedDataIsRejected() throws {
    func document(_ type: String, _ value: EIP712Value) -> EIP712TypedData {
        EIP712TypedData(
            types: ["T": [.init(name: "x", type: type)], "EIP712Domain": []], primaryType: "T", domain: [:],
            message: ["x": value])
    }
    #expect(throws: CodecError.self) { try document("uint8", .number("256")).digest() }
    #expect(throws: CodecError.self) { try document("uint256", .number("-1")).digest() }
    #expect(throws: CodecError.self) { try document("address", .string("0x1234")).digest() }
    #expect(throws: CodecError.self) { try document("bytes4", .string("0x01")).digest() }
    #expect(throws: CodecError.self) { try document("bool", .string("true")).digest() }
    #expect(throws: CodecError.self) { try document("Missing", .object([:])).digest() }
    #expect(throws: CodecError.self) { try document("uint256[2]", .array([.number("1")])).digest() }
    #expect(throws: CodecError.self) {
        try EIP712TypedData(
            types: ["T": [.init(name: "x", type: "uint8")], "EIP712Domain": []], primaryType: "T",
            domain: [:], message: [:]
        ).digest()
    }
    for json in ["", "[]", "{}", #"{"types":{},"primaryType":"T","domain":{},"message":{}}"#, #"{"types":{"T":5}}"#] {
        #expect(throws: CodecError.self) { try EIP712TypedData(json: Data(json.utf8)).digest() }
    }
}

@Test func fuzzedTypedDataJSONNeverCrashes() throws {
    guard let data = Fixtures.vector("eip712/mail.json") else { return }
    let vector = try #require(try Fixtures.json(data) as? [String: Any])
    let seed = Array(try JSONSerialization.data(withJSONObject: try #require(vector["typedData"])))
    var random = SeededRandom(seed: 712)
    var parsed = 0
    for _ in 0..<100_000 {
        if let typedData = try? EIP712TypedData(json: Data(random.mutate(seed))) {
            parsed += 1
            _ = try? typedData.digest()
        }
    }
    #expect(parsed < 100_000)
}

/// A uint256 written as a JSON number keeps all its digits.
@Test func bigJSONNumbersStayExact() throws {
    let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
    let json = """
        {"types": {"EIP712Domain": [], "T": [{"name": "x", "type": "uint256"}, {"name": "s", "type": "string"}]},
         "primaryType": "T", "domain": {}, "message": {"x": \(max), "s": "a\\u00e9\\ud83d\\ude00\\n"}}
        """
    let typedData = try EIP712TypedData(json: Data(json.utf8))
    #expect(typedData.message["x"] == .number(max))
    #expect(typedData.message["s"] == .string("aé😀\n"))
    let viaString = try EIP712TypedData(
        json: Data(json.replacingOccurrences(of: ": \(max)", with: ": \"\(max)\"").utf8))
    #expect(try typedData.digest() == viaString.digest())
    for bad in [#"{"a": 01}"#, #"{"a": 1.5}"#, #"{"a": "\x"}"#, #"{"a": tru}"#, #"{"a" 1}"#, "[1,]", #"{"a": 1} x"#] {
        #expect(throws: CodecError.self, "\(bad)") { try EIP712JSONReader.parse(Array(bad.utf8)) }
    }
}
