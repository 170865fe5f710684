import Codec
import Foundation
import TestSupport
import Testing

@testable import Chain

/// The Solidity interfaces under netconfig/abi/ declare exactly what the predeploys implement.
@Test(arguments: [
    ("IPaymentChannels.sol", PaymentChannels.interface), ("IDatanetRegistry.sol", DatanetRegistry.interface),
    ("IModelRegistry.sol", ModelRegistry.interface),
])
func solidityInterfacesMatchThePredeploys(file: String, implemented: Set<String>) throws {
    let text = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/abi/\(file)"), encoding: .utf8)
    let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
        .joined(separator: " ")
    var declared: Set<String> = []
    for keyword in ["function ", "event "] {
        var rest = Substring(code)
        while let start = rest.range(of: keyword) {
            rest = rest[start.upperBound...]
            guard let close = rest.firstIndex(of: ")") else { break }
            let declaration = rest[...close].replacingOccurrences(of: "  ", with: " ")
            declared.insert(try ABISignature(parsing: declaration).canonical)
            rest = rest[close...]
        }
    }
    #expect(declared == implemented)
}

/// The functions the Solidity interfaces mark `payable` are exactly those the predeploys accept OPEN for.
@Test(arguments: [
    ("IPaymentChannels.sol", PaymentChannels.payableFunctions),
    ("IDatanetRegistry.sol", DatanetRegistry.payableFunctions), ("IModelRegistry.sol", ModelRegistry.payableFunctions),
])
func solidityPayabilityMatchesThePredeploys(file: String, payable: Set<String>) throws {
    let text = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/abi/\(file)"), encoding: .utf8)
    let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
        .joined(separator: " ")
    var declared: Set<String> = []
    var rest = Substring(code)
    while let start = rest.range(of: "function ") {
        rest = rest[start.upperBound...]
        guard let close = rest.firstIndex(of: ")"), let end = rest.firstIndex(of: ";") else { break }
        let modifiers = rest[rest.index(after: close)..<end].split(separator: " ")
        if modifiers.contains("payable") {
            declared.insert(
                try ABISignature(parsing: rest[...close].replacingOccurrences(of: "  ", with: " ")).canonical)
        }
        rest = rest[end...]
    }
    #expect(declared == payable)
}
