import Codec

/// What a predeploy call sees: who called, with how much OPEN, in which block.
public struct CallContext: Sendable {
    public var caller: Address
    public var value: UInt256
    public var blockNumber: UInt64
    public var timestamp: UInt64
    public var chainId: UInt64

    public init(caller: Address, value: UInt256, blockNumber: UInt64, timestamp: UInt64, chainId: UInt64) {
        self.caller = caller
        self.value = value
        self.blockNumber = blockNumber
        self.timestamp = timestamp
        self.chainId = chainId
    }
}

/// The outcome of a successful predeploy call.
public struct CallOutcome: Sendable, Equatable {
    /// ABI-encoded return data.
    public var output: [UInt8] = []
    public var logs: [Log] = []
    /// Gas beyond the intrinsic gas of the transaction.
    public var gas: UInt64 = 0
}

/// A native module at a fixed address with a Solidity-style ABI. Calls change state through `WorldState`
/// and fail with `ChainError.reverted`; the state transition discards the changes of a reverted call.
public protocol Predeploy: Sendable {
    /// The module's address.
    var address: Address { get }
    /// Executes calldata sent with a transaction. The call's value has already been credited to the module.
    func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError) -> CallOutcome
    /// Answers a view function for `eth_call` without changing state.
    func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8]
}

/// One function of a predeploy's ABI: its signature, output types, and the gas it charges.
struct PredeployFunction: Sendable {
    let signature: ABISignature
    let outputs: [ABIType]
    let gas: UInt64
    let payable: Bool

    init(_ text: String, returns outputs: String = "", gas: UInt64 = 0, payable: Bool = false) {
        signature = try! ABISignature(parsing: text)
        self.outputs = outputs.isEmpty ? [] : try! outputs.split(separator: ",").map { try ABIType(parsing: $0) }
        self.gas = gas
        self.payable = payable
    }

    var selector: [UInt8] { signature.selector }

    /// Decodes the arguments of `calldata`; malformed arguments revert the call.
    func arguments(_ calldata: [UInt8]) throws(ChainError) -> [ABIValue] {
        do {
            return try signature.decodeCall(calldata)
        } catch {
            throw .reverted("bad arguments to \(signature.canonical): \(error)")
        }
    }

    /// ABI-encodes return values.
    func returning(_ values: [ABIValue]) -> [UInt8] { try! ABI.encode(values, as: outputs) }
}

/// An event of a predeploy's ABI.
struct PredeployEvent: Sendable {
    let signature: ABISignature

    init(_ text: String) { signature = try! ABISignature(parsing: text) }

    /// The log: topic 0 is the event's hash, indexed parameters follow as topics, the rest is ABI data.
    func log(_ address: Address, _ values: [ABIValue]) -> Log {
        var topics = [signature.topic]
        var dataValues: [ABIValue] = []
        var dataTypes: [ABIType] = []
        for (parameter, value) in zip(signature.parameters, values) {
            if parameter.indexed {
                topics.append(try! ABI.encode([value], as: [parameter.type]))
            } else {
                dataValues.append(value)
                dataTypes.append(parameter.type)
            }
        }
        return Log(address: address, topics: topics, data: try! ABI.encode(dataValues, as: dataTypes))
    }
}

/// Finds the function that calldata selects.
func selectFunction(_ calldata: [UInt8], in functions: [PredeployFunction]) throws(ChainError) -> PredeployFunction {
    guard calldata.count >= 4 else { throw .reverted("calldata shorter than a selector") }
    let selector = Array(calldata.prefix(4))
    guard let function = functions.first(where: { $0.selector == selector }) else {
        throw .reverted("unknown function selector \(Hex.encode(selector))")
    }
    return function
}

extension ABIValue {
    /// The word of a uint value; other kinds revert (arguments were already decoded by type).
    var uintValue: UInt256 {
        if case .uint(let value) = self { return value }
        return .zero
    }

    var addressValue: Address {
        if case .address(let value) = self { return value }
        return .zero
    }

    var bytesValue: [UInt8] {
        switch self {
        case .bytes(let value), .fixedBytes(let value): return value
        case .string(let value): return Array(value.utf8)
        default: return []
        }
    }

    var boolValue: Bool {
        if case .bool(let value) = self { return value }
        return false
    }

    var arrayValue: [ABIValue] {
        if case .array(let value) = self { return value }
        return []
    }
}
