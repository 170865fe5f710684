import Codec
import Foundation
import TestSupport
import Testing

@testable import Chain

/// The functions and events a Solidity interface under netconfig/abi/ declares: each one's canonical signature
/// and the words between its parameter list and the `;` (`external payable returns (…)`).
private func declarations(_ file: String) throws -> [(canonical: String, isFunction: Bool, modifiers: [Substring])] {
    let text = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/abi/\(file)"), encoding: .utf8)
    let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
        .joined(separator: " ")
    var found: [(canonical: String, isFunction: Bool, modifiers: [Substring])] = []
    for keyword in ["function ", "event "] {
        var rest = Substring(code)
        while let start = rest.range(of: keyword) {
            rest = rest[start.upperBound...]
            guard let close = rest.firstIndex(of: ")") else { break }
            let declaration = rest[...close].replacingOccurrences(of: "  ", with: " ")
            let end = rest.firstIndex(of: ";") ?? rest.endIndex
            let modifiers = close < end ? rest[rest.index(after: close)..<end].split(separator: " ") : []
            found.append((try ABISignature(parsing: declaration).canonical, keyword == "function ", modifiers))
            rest = rest[close...]
        }
    }
    return found
}

/// The Solidity interfaces under netconfig/abi/ declare exactly what the predeploys implement.
@Test(arguments: [
    ("IPaymentChannels.sol", PaymentChannels.interface), ("IDatanetRegistry.sol", DatanetRegistry.interface),
    ("IModelRegistry.sol", ModelRegistry.interface), ("IStaking.sol", Staking.interface),
    ("IAttributionClaims.sol", AttributionClaims.interface), ("IGovernance.sol", Governance.interface),
    ("IAgentRegistry.sol", AgentRegistry.interface),
])
func solidityInterfacesMatchThePredeploys(file: String, implemented: Set<String>) throws {
    #expect(Set(try declarations(file).map(\.canonical)) == implemented)
}

/// The functions the Solidity interfaces mark `payable` are exactly those the predeploys accept OPEN for.
@Test(arguments: [
    ("IPaymentChannels.sol", PaymentChannels.payableFunctions),
    ("IDatanetRegistry.sol", DatanetRegistry.payableFunctions), ("IModelRegistry.sol", ModelRegistry.payableFunctions),
    ("IStaking.sol", Staking.payableFunctions), ("IAttributionClaims.sol", AttributionClaims.payableFunctions),
    ("IGovernance.sol", Governance.payableFunctions), ("IAgentRegistry.sol", AgentRegistry.payableFunctions),
])
func solidityPayabilityMatchesThePredeploys(file: String, payable: Set<String>) throws {
    let declared = try declarations(file).filter { $0.isFunction && $0.modifiers.contains("payable") }
    #expect(Set(declared.map(\.canonical)) == payable)
}
