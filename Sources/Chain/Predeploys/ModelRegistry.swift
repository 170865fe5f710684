import Codec

/// `ModelRegistry`: base models (content hash of the GGUF, architecture, tokenizer hash) and LoRA adapters
/// published on them with their provenance (the Datanet snapshot roots they were trained on, and once per adapter
/// the training record: the training log's Merkle root, the training data hash and the provenance document) and
/// price.
public struct ModelRegistry: Predeploy {
    /// The address the contract is installed at on every network.
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000102")
    /// The most Datanet snapshot roots one adapter may list.
    public static let maxDatanetRoots = 64
    /// The most bytes an adapter's provenance document may take.
    public static let maxProvenanceBytes = 8 * 1024

    /// A registered base model.
    public struct BaseModel: Equatable, Sendable {
        /// The content hash of the model's GGUF file.
        public var ggufHash: [UInt8]
        /// The model's architecture name, such as `llama`.
        public var architecture: String
        /// The hash of the model's tokenizer.
        public var tokenizerHash: [UInt8]
        /// The account that registered the model.
        public var registrant: Address
    }

    /// A published adapter.
    public struct Adapter: Equatable, Sendable {
        /// The CID of the adapter's weights.
        public var cid: [UInt8]
        /// The id of the base model the adapter applies to.
        public var baseModelID: UInt256
        /// The account that published the adapter and is paid its share.
        public var owner: Address
        /// The price in wei per 1,000 tokens.
        public var pricePer1kTokens: UInt256
        /// Whether the owner has deprecated the adapter.
        public var deprecated: Bool
        /// The Datanet snapshot roots the adapter was trained on.
        public var datanetRoots: [[UInt8]]
    }

    /// Where and how a base model is stored: slot 0 holds the model counter, slot 1 the mapping
    /// modelId → registrant, GGUF hash, tokenizer hash, architecture.
    public enum BaseModelLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { ModelRegistry.defaultAddress }
        /// The model counter, in the record at slot 0.
        static let count = StorageField<UInt256>(0)
        static let registrant = StorageField<Address>(0)
        static let ggufHash = StorageField<Bytes32>(1)
        static let tokenizerHash = StorageField<Bytes32>(2)
        static let architecture = StorageBytesField(3)

        /// `models[id]` of the mapping at slot 1.
        public static func base(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }

        /// The stored model, or nil when none has this id.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> BaseModel?
        {
            let registrant = try record.get(registrant, from: reader)
            guard registrant != .zero else { return nil }
            return BaseModel(
                ggufHash: try record.get(ggufHash, from: reader).bytes,
                architecture: String(decoding: try record.get(architecture, from: reader), as: UTF8.self),
                tokenizerHash: try record.get(tokenizerHash, from: reader).bytes, registrant: registrant)
        }
    }

    /// Where and how an adapter is stored: slot 2 holds the adapter counter, slot 3 the mapping adapterId →
    /// owner, base model, price, deprecated, CID, and the Datanet roots as a `bytes32[]`.
    public enum AdapterLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { ModelRegistry.defaultAddress }
        /// The adapter counter, in the record at slot 2.
        static let count = StorageField<UInt256>(0)
        static let owner = StorageField<Address>(0)
        static let baseModelID = StorageField<UInt256>(1)
        static let price = StorageField<UInt256>(2)
        static let deprecated = StorageField<Bool>(3)
        static let cid = StorageBytesField(4)
        static let rootCount = StorageField<UInt256>(5)
        static let roots = StorageArrayField<Bytes32>(5)

        /// `adapters[id]` of the mapping at slot 3.
        public static func base(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(3, key: id) }

        /// The stored adapter, or nil when none has this id.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Adapter?
        {
            let owner = try record.get(owner, from: reader)
            guard owner != .zero else { return nil }
            guard let count = try record.get(rootCount, from: reader).uint64, count <= UInt64(maxDatanetRoots) else {
                throw .invalidBlock("corrupt adapter record")
            }
            return Adapter(
                cid: try record.get(cid, from: reader), baseModelID: try record.get(baseModelID, from: reader),
                owner: owner, pricePer1kTokens: try record.get(price, from: reader),
                deprecated: try record.get(deprecated, from: reader),
                datanetRoots: try record.get(roots, count: count, from: reader).map(\.bytes))
        }
    }

    /// How an adapter was trained, recorded once by its owner.
    public struct Provenance: Equatable, Sendable {
        /// The Merkle root of the training log (one leaf per step: its loss and checkpoint hash).
        public var trainingLogRoot: [UInt8]
        /// The SHA-256 of the training data.
        public var trainingDataHash: [UInt8]
        /// The provenance document (JSON: base model hash, Datanets and roots, hyper-parameters, final losses).
        public var document: [UInt8]
    }

    /// Where an adapter's provenance is stored: fields 6 to 8 of its record in the mapping at slot 3 (log root, data
    /// hash, document), after the fields `AdapterLayout` reads.
    public enum ProvenanceLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { ModelRegistry.defaultAddress }
        static let trainingLogRoot = StorageField<Bytes32>(6)
        static let trainingDataHash = StorageField<Bytes32>(7)
        static let document = StorageBytesField(8, maxLength: ModelRegistry.maxProvenanceBytes)

        /// `adapters[id]` of the mapping at slot 3.
        public static func base(_ id: UInt256) -> UInt256 { AdapterLayout.base(id) }

        /// The recorded provenance, or nil when none was recorded.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Provenance?
        {
            let document = try record.get(document, from: reader)
            guard !document.isEmpty else { return nil }
            return Provenance(
                trainingLogRoot: try record.get(trainingLogRoot, from: reader).bytes,
                trainingDataHash: try record.get(trainingDataHash, from: reader).bytes, document: document)
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at `address`.
    public init(address: Address = ModelRegistry.defaultAddress) { self.address = address }

    /// Every function and view.
    public static let methods: [PredeployMethod<ModelRegistry>] = [
        .init(
            "registerBaseModel(bytes32 ggufHash, string architecture, bytes32 tokenizerHash)", returns: "uint256",
            gas: 70_000, handler: registerBaseModel),
        .init(
            "publishAdapter(bytes cid, uint256 baseModelId, bytes32[] datanetRoots, uint256 pricePer1kTokens)",
            returns: "uint256", gas: 90_000, handler: publishAdapter),
        .init("deprecateAdapter(uint256 adapterId)", gas: 20_000, handler: deprecateAdapter),
        .init(
            "recordProvenance(uint256 adapterId, bytes32 trainingLogRoot, bytes32 trainingDataHash, bytes provenance)",
            gas: 40_000, handler: recordProvenance),
        .init("baseModel(uint256 modelId)", returns: "bytes32,string,bytes32,address", .view, handler: baseModelView),
        .init(
            "adapter(uint256 adapterId)", returns: "bytes,uint256,address,uint256,bool,bytes32[]", .view,
            handler: adapterView),
        .init("provenance(uint256 adapterId)", returns: "bytes32,bytes32,bytes", .view, handler: provenanceView),
    ]
    /// Every event.
    public static let events = [registered, published, deprecated, provenanceRecorded]

    /// Refuses OPEN in the contract's name (`ModelRegistry does not accept OPEN`): none of its functions takes it.
    public static func valueRefusal(function: String) -> ChainError { .contractNotPayable(contract: "ModelRegistry") }

    static let registered = PredeployEvent(
        "BaseModelRegistered(uint256 indexed modelId, bytes32 indexed ggufHash, address registrant, string architecture, bytes32 tokenizerHash)"
    )
    static let published = PredeployEvent(
        "AdapterPublished(uint256 indexed adapterId, uint256 indexed baseModelId, address indexed owner, bytes cid, uint256 pricePer1kTokens, bytes32[] datanetRoots)"
    )
    static let deprecated = PredeployEvent("AdapterDeprecated(uint256 indexed adapterId)")
    static let provenanceRecorded = PredeployEvent(
        "AdapterProvenanceRecorded(uint256 indexed adapterId, bytes32 trainingLogRoot, bytes32 trainingDataHash, bytes provenance)"
    )

    /// The base model `id`, or nil.
    public func baseModel(_ id: UInt256, state: some StorageReader) throws(ChainError) -> BaseModel? {
        try BaseModelLayout.read(id, in: address, from: state)
    }

    /// The adapter `id`, or nil.
    public func adapter(_ id: UInt256, state: some StorageReader) throws(ChainError) -> Adapter? {
        try AdapterLayout.read(id, in: address, from: state)
    }

    /// The provenance recorded for adapter `id`, or nil.
    public func provenance(_ id: UInt256, state: some StorageReader) throws(ChainError) -> Provenance? {
        try ProvenanceLayout.read(id, in: address, from: state)
    }

    private func registerBaseModel(
        _ call: inout PredeployInvocation, ggufHash: [UInt8], architecture: String, tokenizerHash: [UInt8]
    ) throws(ChainError) -> [ABIValue] {
        let architectureBytes = Array(architecture.utf8)
        guard !architectureBytes.isEmpty, architectureBytes.count <= 64 else {
            throw .reverted("architecture must be 1 to 64 bytes")
        }
        let counter = StorageRecord(contract: address, base: 0)
        let id = try counter.get(BaseModelLayout.count, from: call.state) &+ 1
        counter.set(BaseModelLayout.count, id, in: &call.state)
        let record = BaseModelLayout.record(id, in: address)
        record.set(BaseModelLayout.registrant, call.context.caller, in: &call.state)
        record.set(BaseModelLayout.ggufHash, Bytes32(ggufHash), in: &call.state)
        record.set(BaseModelLayout.tokenizerHash, Bytes32(tokenizerHash), in: &call.state)
        record.set(BaseModelLayout.architecture, architectureBytes, in: &call.state)
        call.logs = [
            Self.registered.log(
                address,
                [
                    .uint(id), .fixedBytes(ggufHash), .address(call.context.caller), .string(architecture),
                    .fixedBytes(tokenizerHash),
                ])
        ]
        return [.uint(id)]
    }

    private func publishAdapter(
        _ call: inout PredeployInvocation, cid: [UInt8], baseModelID: UInt256, roots: [[UInt8]], price: UInt256
    ) throws(ChainError) -> [ABIValue] {
        guard !cid.isEmpty, cid.count <= 128 else { throw .reverted("adapter CID must be 1 to 128 bytes") }
        guard roots.count <= Self.maxDatanetRoots else { throw .reverted("too many Datanet roots") }
        guard try baseModel(baseModelID, state: call.state) != nil else {
            throw .reverted("no base model \(baseModelID)")
        }
        let counter = StorageRecord(contract: address, base: 2)
        let id = try counter.get(AdapterLayout.count, from: call.state) &+ 1
        counter.set(AdapterLayout.count, id, in: &call.state)
        let record = AdapterLayout.record(id, in: address)
        record.set(AdapterLayout.owner, call.context.caller, in: &call.state)
        record.set(AdapterLayout.baseModelID, baseModelID, in: &call.state)
        record.set(AdapterLayout.price, price, in: &call.state)
        record.set(AdapterLayout.cid, cid, in: &call.state)
        record.set(AdapterLayout.rootCount, UInt256(roots.count), in: &call.state)
        record.set(AdapterLayout.roots, roots.map { Bytes32($0) }, in: &call.state)
        call.gas += UInt64(roots.count) * 20_000
        call.logs = [
            Self.published.log(
                address,
                [
                    .uint(id), .uint(baseModelID), .address(call.context.caller), .bytes(cid), .uint(price),
                    .array(roots.map { .fixedBytes($0) }),
                ])
        ]
        return [.uint(id)]
    }

    private func deprecateAdapter(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        guard let adapter = try adapter(id, state: call.state) else { throw .reverted("no adapter \(id)") }
        guard adapter.owner == call.context.caller else { throw .reverted("only the owner deprecates an adapter") }
        guard !adapter.deprecated else { throw .reverted("adapter \(id) is already deprecated") }
        AdapterLayout.record(id, in: address).set(AdapterLayout.deprecated, true, in: &call.state)
        call.logs = [Self.deprecated.log(address, [.uint(id)])]
        return []
    }

    private func recordProvenance(
        _ call: inout PredeployInvocation, id: UInt256, logRoot: [UInt8], dataHash: [UInt8], document: [UInt8]
    ) throws(ChainError) -> [ABIValue] {
        guard let adapter = try adapter(id, state: call.state) else { throw .reverted("no adapter \(id)") }
        guard adapter.owner == call.context.caller else { throw .reverted("only the owner records provenance") }
        guard try provenance(id, state: call.state) == nil else {
            throw .reverted("adapter \(id) already has its provenance")
        }
        guard !document.isEmpty, document.count <= Self.maxProvenanceBytes else {
            throw .reverted("provenance must be 1 to \(Self.maxProvenanceBytes) bytes")
        }
        let record = ProvenanceLayout.record(id, in: address)
        record.set(ProvenanceLayout.trainingLogRoot, Bytes32(logRoot), in: &call.state)
        record.set(ProvenanceLayout.trainingDataHash, Bytes32(dataHash), in: &call.state)
        record.set(ProvenanceLayout.document, document, in: &call.state)
        call.gas += UInt64((document.count + 31) / 32) * 20_000
        call.logs = [
            Self.provenanceRecorded.log(
                address, [.uint(id), .fixedBytes(logRoot), .fixedBytes(dataHash), .bytes(document)])
        ]
        return []
    }

    private func provenanceView(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        let provenance = try provenance(id, state: call.state)
        return [
            .fixedBytes(provenance?.trainingLogRoot ?? WorldState.zeroWord),
            .fixedBytes(provenance?.trainingDataHash ?? WorldState.zeroWord), .bytes(provenance?.document ?? []),
        ]
    }

    private func baseModelView(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        let model = try baseModel(id, state: call.state)
        return [
            .fixedBytes(model?.ggufHash ?? WorldState.zeroWord), .string(model?.architecture ?? ""),
            .fixedBytes(model?.tokenizerHash ?? WorldState.zeroWord), .address(model?.registrant ?? .zero),
        ]
    }

    private func adapterView(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        let adapter = try adapter(id, state: call.state)
        return [
            .bytes(adapter?.cid ?? []), .uint(adapter?.baseModelID ?? .zero), .address(adapter?.owner ?? .zero),
            .uint(adapter?.pricePer1kTokens ?? .zero), .bool(adapter?.deprecated ?? false),
            .array((adapter?.datanetRoots ?? []).map { .fixedBytes($0) }),
        ]
    }
}
