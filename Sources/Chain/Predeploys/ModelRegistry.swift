import Codec

/// `ModelRegistry`: base models (content hash of the GGUF, architecture, tokenizer hash) and LoRA adapters
/// published on them with their provenance (the Datanet snapshot roots they were trained on) and price.
public struct ModelRegistry: Predeploy {
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000102")
    public static let maxDatanetRoots = 64

    /// A registered base model.
    public struct BaseModel: Equatable, Sendable {
        public var ggufHash: [UInt8]
        public var architecture: String
        public var tokenizerHash: [UInt8]
        public var registrant: Address
    }

    /// A published adapter.
    public struct Adapter: Equatable, Sendable {
        public var cid: [UInt8]
        public var baseModelID: UInt256
        public var owner: Address
        public var pricePer1kTokens: UInt256
        public var deprecated: Bool
        public var datanetRoots: [[UInt8]]
    }

    public let address: Address

    /// The canonical signatures of every function, view and event: the contract's interface.
    public static var interface: Set<String> {
        Set((functions + views).map(\.signature.canonical) + events.map(\.signature.canonical))
    }
    private var storage: ContractStorage { ContractStorage(address: address) }

    public init(address: Address = ModelRegistry.defaultAddress) { self.address = address }

    static let register = PredeployFunction(
        "registerBaseModel(bytes32 ggufHash, string architecture, bytes32 tokenizerHash)", returns: "uint256",
        gas: 70_000)
    static let publish = PredeployFunction(
        "publishAdapter(bytes cid, uint256 baseModelId, bytes32[] datanetRoots, uint256 pricePer1kTokens)",
        returns: "uint256", gas: 90_000)
    static let deprecate = PredeployFunction("deprecateAdapter(uint256 adapterId)", gas: 20_000)
    static let baseModelView = PredeployFunction(
        "baseModel(uint256 modelId)", returns: "bytes32,string,bytes32,address")
    static let adapterView = PredeployFunction(
        "adapter(uint256 adapterId)", returns: "bytes,uint256,address,uint256,bool,bytes32[]")
    static let functions = [register, publish, deprecate]
    static let events = [registered, published, deprecated]
    static let views = [baseModelView, adapterView]

    static let registered = PredeployEvent(
        "BaseModelRegistered(uint256 indexed modelId, bytes32 indexed ggufHash, address registrant, string architecture, bytes32 tokenizerHash)"
    )
    static let published = PredeployEvent(
        "AdapterPublished(uint256 indexed adapterId, uint256 indexed baseModelId, address indexed owner, bytes cid, uint256 pricePer1kTokens, bytes32[] datanetRoots)"
    )
    static let deprecated = PredeployEvent("AdapterDeprecated(uint256 indexed adapterId)")

    // Storage: 0 model counter; 1 models; 2 adapter counter; 3 adapters.
    private func modelSlot(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }
    private func adapterSlot(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(3, key: id) }

    /// The base model `id`, or nil.
    public func baseModel(_ id: UInt256, state: some StorageReader) throws(ChainError) -> BaseModel? {
        let base = modelSlot(id)
        let registrant = try storage.address(state, base)
        guard registrant != .zero else { return nil }
        return BaseModel(
            ggufHash: try storage.bytes32(state, base &+ 1),
            architecture: String(decoding: try storage.bytes(state, base &+ 3), as: UTF8.self),
            tokenizerHash: try storage.bytes32(state, base &+ 2), registrant: registrant)
    }

    /// The adapter `id`, or nil.
    public func adapter(_ id: UInt256, state: some StorageReader) throws(ChainError) -> Adapter? {
        let base = adapterSlot(id)
        let owner = try storage.address(state, base)
        guard owner != .zero else { return nil }
        guard let rootCount = try storage.word(state, base &+ 5).uint64, rootCount <= UInt64(Self.maxDatanetRoots)
        else {
            throw .invalidBlock("corrupt adapter record")
        }
        let rootsBase = ContractStorage.dataSlot(base &+ 5)
        var roots: [[UInt8]] = []
        for index in 0..<rootCount { roots.append(try storage.bytes32(state, rootsBase &+ UInt256(index))) }
        return Adapter(
            cid: try storage.bytes(state, base &+ 4), baseModelID: try storage.word(state, base &+ 1), owner: owner,
            pricePer1kTokens: try storage.word(state, base &+ 2),
            deprecated: try storage.word(state, base &+ 3) != .zero,
            datanetRoots: roots)
    }

    public func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError)
        -> CallOutcome
    {
        let function = try selectFunction(calldata, in: Self.functions)
        guard context.value == .zero else { throw .reverted("ModelRegistry does not accept OPEN") }
        let arguments = try function.arguments(calldata)
        var outcome = CallOutcome(gas: function.gas)
        switch function.selector {
        case Self.register.selector:
            let architecture = arguments[1].bytesValue
            guard !architecture.isEmpty, architecture.count <= 64 else {
                throw .reverted("architecture must be 1 to 64 bytes")
            }
            let id = try storage.word(state, 0) &+ 1
            storage.setWord(&state, 0, id)
            let base = modelSlot(id)
            storage.setAddress(&state, base, context.caller)
            storage.setBytes32(&state, base &+ 1, arguments[0].bytesValue)
            storage.setBytes32(&state, base &+ 2, arguments[2].bytesValue)
            storage.setBytes(&state, base &+ 3, architecture)
            outcome.output = function.returning([.uint(id)])
            outcome.logs = [
                Self.registered.log(
                    address, [.uint(id), arguments[0], .address(context.caller), arguments[1], arguments[2]])
            ]
        case Self.publish.selector:
            let cid = arguments[0].bytesValue
            let baseModelID = arguments[1].uintValue
            let roots = arguments[2].arrayValue.map(\.bytesValue)
            guard !cid.isEmpty, cid.count <= 128 else { throw .reverted("adapter CID must be 1 to 128 bytes") }
            guard roots.count <= Self.maxDatanetRoots else { throw .reverted("too many Datanet roots") }
            guard try baseModel(baseModelID, state: state) != nil else {
                throw .reverted("no base model \(baseModelID)")
            }
            let id = try storage.word(state, 2) &+ 1
            storage.setWord(&state, 2, id)
            let base = adapterSlot(id)
            storage.setAddress(&state, base, context.caller)
            storage.setWord(&state, base &+ 1, baseModelID)
            storage.setWord(&state, base &+ 2, arguments[3].uintValue)
            storage.setBytes(&state, base &+ 4, cid)
            storage.setWord(&state, base &+ 5, UInt256(roots.count))
            let rootsBase = ContractStorage.dataSlot(base &+ 5)
            for (index, root) in roots.enumerated() { storage.setBytes32(&state, rootsBase &+ UInt256(index), root) }
            outcome.gas += UInt64(roots.count) * 20_000
            outcome.output = function.returning([.uint(id)])
            outcome.logs = [
                Self.published.log(
                    address,
                    [.uint(id), .uint(baseModelID), .address(context.caller), .bytes(cid), arguments[3], arguments[2]])
            ]
        default:  // deprecate
            let id = arguments[0].uintValue
            guard let adapter = try adapter(id, state: state) else { throw .reverted("no adapter \(id)") }
            guard adapter.owner == context.caller else { throw .reverted("only the owner deprecates an adapter") }
            guard !adapter.deprecated else { throw .reverted("adapter \(id) is already deprecated") }
            storage.setWord(&state, adapterSlot(id) &+ 3, 1)
            outcome.logs = [Self.deprecated.log(address, [.uint(id)])]
        }
        return outcome
    }

    public func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8] {
        let function = try selectFunction(calldata, in: Self.views)
        let id = try function.arguments(calldata)[0].uintValue
        if function.selector == Self.baseModelView.selector {
            let model = try baseModel(id, state: state)
            return function.returning([
                .fixedBytes(model?.ggufHash ?? WorldState.zeroWord), .string(model?.architecture ?? ""),
                .fixedBytes(model?.tokenizerHash ?? WorldState.zeroWord), .address(model?.registrant ?? .zero),
            ])
        }
        let adapter = try adapter(id, state: state)
        return function.returning([
            .bytes(adapter?.cid ?? []), .uint(adapter?.baseModelID ?? .zero), .address(adapter?.owner ?? .zero),
            .uint(adapter?.pricePer1kTokens ?? .zero), .bool(adapter?.deprecated ?? false),
            .array((adapter?.datanetRoots ?? []).map { .fixedBytes($0) }),
        ])
    }
}
