import Codec

/// What a predeploy call sees: who called, with how much OPEN, in which block.
public struct CallContext: Sendable {
    /// The account that sent the transaction (or the `from` of an `eth_call`).
    public var caller: Address
    /// The OPEN sent with the call, in wei.
    public var value: UInt256
    /// The number of the block the call runs in.
    public var blockNumber: UInt64
    /// The timestamp of the block the call runs in.
    public var timestamp: UInt64
    /// The chain's id.
    public var chainId: UInt64

    /// A context from its fields.
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
    /// The logs the call emitted, in order.
    public var logs: [Log] = []
    /// Gas beyond the intrinsic gas of the transaction.
    public var gas: UInt64 = 0
}

/// A native module at a fixed address with a Solidity-style ABI, declared by its method table: each method's signature,
/// payability and a handler that receives the decoded, typed arguments.
///
/// The framework (`call`/`view` below) selects the method, refuses OPEN sent to a non-payable method, decodes the
/// arguments and encodes the result, so a predeploy only writes its handlers. Calls change state through `WorldState`
/// and fail with a `ChainError` revert; the state transition discards the changes of a reverted call.
public protocol Predeploy: Sendable {
    /// The module's address.
    var address: Address { get }
    /// Every function and view of the module's ABI.
    static var methods: [PredeployMethod<Self>] { get }
    /// Every event of the module's ABI.
    static var events: [PredeployEvent] { get }
    /// The error a call sending OPEN to the non-payable `function` fails with (the revert text eth_call shows).
    static func valueRefusal(function: String) -> ChainError
    /// Executes calldata sent with a transaction. The call's value has already been credited to the module.
    func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError) -> CallOutcome
    /// Answers a view function for `eth_call` without changing state.
    func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8]
    /// Writes the module's genesis state (parameters, allocations it holds); most modules have none.
    func genesis(config: NetworkConfig, state: inout WorldState) throws(ChainError)
}

/// What a method handler works on: the call's context, the state it changes, and the logs and gas it adds.
public struct PredeployInvocation: Sendable {
    /// Who called, with how much OPEN, in which block.
    public let context: CallContext
    /// The state the call reads and changes (a copy for views).
    public var state: WorldState
    /// The logs emitted so far.
    public var logs: [Log] = []
    /// Gas charged on top of the method's own gas (per record, per leaf …).
    public var gas: UInt64 = 0
}

/// One function of a predeploy's ABI: its signature, output types, gas, state mutability, and the handler that
/// runs it with its arguments decoded to Swift types.
public struct PredeployMethod<Contract: Predeploy>: Sendable {
    /// Solidity's state mutability, as far as a predeploy needs it.
    public enum Mutability: Sendable, Equatable {
        /// A transaction function that refuses OPEN.
        case nonpayable
        /// A transaction function that accepts OPEN (`msg.value`).
        case payable
        /// A read-only function answered by `eth_call`.
        case view
    }

    /// The function's signature, with parameter names.
    public let signature: ABISignature
    /// The ABI types of the return values.
    public let outputs: [ABIType]
    /// The gas the function charges before any per-item gas its handler adds.
    public let gas: UInt64
    /// Whether the function accepts OPEN, refuses it, or only reads.
    public let mutability: Mutability
    /// The 4-byte selector (computed once: selecting a method hashes nothing).
    public let selector: [UInt8]
    private let run: @Sendable (Contract, [ABIValue], inout PredeployInvocation) throws(ChainError) -> [ABIValue]

    /// Declares a method: `handler` receives the contract, the invocation and each argument decoded to the Swift type
    /// of its position; it returns the values that `returns` lists.
    ///
    /// A Swift type that cannot hold the signature's ABI type at its position is a programming error caught when the
    /// table is built.
    public init<each Argument: ABIArgument>(
        _ text: String, returns outputs: String = "", gas: UInt64 = 0, _ mutability: Mutability = .nonpayable,
        handler:
            @escaping @Sendable (Contract) -> (inout PredeployInvocation, repeat each Argument) throws(ChainError) ->
            [ABIValue]
    ) {
        let signature = try! ABISignature(parsing: text)
        self.signature = signature
        selector = signature.selector
        self.outputs = outputs.isEmpty ? [] : try! outputs.split(separator: ",").map { try ABIType(parsing: $0) }
        self.gas = gas
        self.mutability = mutability
        var position = 0
        func check<T: ABIArgument>(_ type: T.Type) {
            precondition(
                position < signature.parameters.count && T.accepts(signature.parameters[position].type),
                "\(signature.canonical): argument \(position) cannot be decoded as \(T.self)")
            position += 1
        }
        repeat check((each Argument).self)
        precondition(
            position == signature.parameters.count, "\(signature.canonical): the handler takes \(position) arguments")
        run = { contract, values, invocation throws(ChainError) in
            var index = 0
            func next<T: ABIArgument>(_ type: T.Type) -> T {
                defer { index += 1 }
                return T(abi: values[index])
            }
            return try handler(contract)(&invocation, repeat next((each Argument).self))
        }
    }

    /// Decodes the arguments of `calldata`, runs the handler and encodes its return values.
    func invoke(_ contract: Contract, _ calldata: [UInt8], _ invocation: inout PredeployInvocation)
        throws(ChainError) -> [UInt8]
    {
        let arguments: [ABIValue]
        do {
            arguments = try signature.decodeCall(calldata)
        } catch {
            throw .reverted("bad arguments to \(signature.canonical): \(error)")
        }
        let values = try run(contract, arguments, &invocation)
        return try! ABI.encode(values, as: outputs)
    }
}

extension Predeploy {
    /// No genesis state.
    public func genesis(config: NetworkConfig, state: inout WorldState) throws(ChainError) {}

    /// Executes a transaction's calldata: the one place that refuses OPEN sent to a non-payable function.
    public func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError)
        -> CallOutcome
    {
        let method = try Self.method(calldata, views: false)
        guard method.mutability == .payable || context.value == .zero else {
            throw Self.valueRefusal(function: method.signature.name)
        }
        var invocation = PredeployInvocation(context: context, state: WorldState())
        swap(&invocation.state, &state)
        defer { swap(&invocation.state, &state) }
        let output = try method.invoke(self, calldata, &invocation)
        return CallOutcome(output: output, logs: invocation.logs, gas: method.gas + invocation.gas)
    }

    /// Answers a view function; any change a handler makes stays on a copy.
    public func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8] {
        let method = try Self.method(calldata, views: true)
        var invocation = PredeployInvocation(context: context, state: state)
        return try method.invoke(self, calldata, &invocation)
    }

    /// Refuses in the function's name (`topUp does not accept OPEN`); a contract with no payable function may refuse
    /// in its own name instead.
    public static func valueRefusal(function: String) -> ChainError { .notPayable(function: function) }

    /// The function or view that calldata selects.
    static func method(_ calldata: [UInt8], views: Bool) throws(ChainError) -> PredeployMethod<Self> {
        guard calldata.count >= 4 else { throw .reverted("calldata shorter than a selector") }
        let selector = Array(calldata.prefix(4))
        guard let method = methods.first(where: { $0.selector == selector && ($0.mutability == .view) == views })
        else { throw .unknownSelector(selector) }
        return method
    }

    /// The function or view called `name`.
    public static func method(named name: String) -> PredeployMethod<Self>? {
        methods.first { $0.signature.name == name }
    }

    /// The canonical signatures of every function, view and event: the contract's interface.
    public static var interface: Set<String> {
        Set(methods.map(\.signature.canonical) + events.map(\.signature.canonical))
    }

    /// The canonical signatures of the functions that accept OPEN.
    public static var payableFunctions: Set<String> {
        Set(methods.filter { $0.mutability == .payable }.map(\.signature.canonical))
    }
}

/// An event of a predeploy's ABI.
public struct PredeployEvent: Sendable {
    /// The event's signature, with `indexed` marks and parameter names.
    public let signature: ABISignature

    /// The event of a Solidity-style declaration.
    public init(_ text: String) { signature = try! ABISignature(parsing: text) }

    /// The log: topic 0 is the event's hash, indexed parameters follow as topics, the rest is ABI data.
    public func log(_ address: Address, _ values: [ABIValue]) -> Log {
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
