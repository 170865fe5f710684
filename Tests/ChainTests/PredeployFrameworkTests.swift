import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// A value of every ABI type, so that any method's calldata decodes.
private func sample(_ type: ABIType) -> ABIValue {
    switch type {
    case .uint: .uint(1)
    case .int: .int(.zero)
    case .address: .address(.zero)
    case .bool: .bool(false)
    case .fixedBytes(let count): .fixedBytes([UInt8](repeating: 1, count: count))
    case .bytes: .bytes([1])
    case .string: .string("x")
    case .array: .array([])
    case .fixedArray(let element, let count): .array([ABIValue](repeating: sample(element), count: count))
    case .tuple(let elements): .tuple(elements.map(sample))
    }
}

private func calldata<P: Predeploy>(_ method: PredeployMethod<P>) throws -> [UInt8] {
    try method.signature.encodeCall(method.signature.types.map(sample))
}

/// Every non-payable function of a predeploy, called with OPEN, fails with one typed revert before its handler
/// runs; the same call without OPEN gets past the check.
private func refusesValue<P: Predeploy>(_ predeploy: P) throws -> Int {
    let context = CallContext(caller: .zero, value: 1, blockNumber: 1, timestamp: 1, chainId: 1)
    var refused = 0
    for method in P.methods where method.mutability == .nonpayable {
        var state = WorldState()
        let data = try calldata(method)
        #expect(throws: P.valueRefusal(function: method.signature.name)) {
            try predeploy.call(data, context: context, state: &state)
        }
        var free = context
        free.value = .zero
        do {
            _ = try predeploy.call(data, context: free, state: &state)
        } catch {
            #expect(error != P.valueRefusal(function: method.signature.name))
        }
        refused += 1
    }
    return refused
}

@Test func valueToANonPayableFunctionIsRefusedOnEveryPredeploy() throws {
    #expect(try refusesValue(DatanetRegistry()) == 4)
    #expect(try refusesValue(ModelRegistry()) == 4)
    #expect(try refusesValue(PaymentChannels(minimumSettleDelay: 0)) == 3)
    // The registries refuse in the contract's name, PaymentChannels in the function's, as eth_call shows it.
    #expect(
        DatanetRegistry.valueRefusal(function: "createDatanet").revertReason == "DatanetRegistry does not accept OPEN")
    #expect(ModelRegistry.valueRefusal(function: "registerModel").revertReason == "ModelRegistry does not accept OPEN")
    #expect(PaymentChannels.valueRefusal(function: "redeem").revertReason == "redeem does not accept OPEN")
    #expect(
        "\(DatanetRegistry.valueRefusal(function: "createDatanet"))"
            == "execution reverted: DatanetRegistry does not accept OPEN")
    #expect(ChainError.notPayable(function: "createDatanet").revertReason == "createDatanet does not accept OPEN")
    #expect("\(ChainError.notPayable(function: "redeem"))" == "execution reverted: redeem does not accept OPEN")
}

@Test func paymentChannelsTakesOPENOnlyWhereItsInterfaceSaysPayable() throws {
    #expect(PaymentChannels.payableFunctions == ["open(address,uint64)", "topUp(bytes32)"])
    #expect(DatanetRegistry.payableFunctions.isEmpty && ModelRegistry.payableFunctions.isEmpty)
}

@Test func valueSentWithANonPayableTransactionRevertsAndIsReturned() throws {
    var chain = try TestChain()
    let before = try chain.balance(0)
    let receipt = try chain.send(
        from: 0, to: chain.datanets.address, function: "createDatanet(string,bytes,bool,address[])",
        [.string("paid"), .bytes([]), .bool(false), .array([])], value: 1_000)
    #expect(!receipt.succeeded)
    // The sender paid the fee only; the registry kept nothing and created nothing.
    #expect(try chain.state.account(chain.datanets.address).balance == .zero)
    let baseFee = try #require(chain.head.baseFeePerGas)
    #expect(try before - chain.balance(0) == UInt256(receipt.cumulativeGasUsed) * (baseFee + 1))
    #expect(try chain.datanets.snapshot(1, state: chain.state).count == 0)
    #expect(try DatanetRegistry.DatanetLayout.read(1, from: chain.state) == nil)
}

@Test func selectorsArgumentsAndViewsAreCheckedByTheFramework() throws {
    let registry = ModelRegistry()
    let context = CallContext(caller: .zero, value: .zero, blockNumber: 1, timestamp: 1, chainId: 1)
    var state = WorldState()
    #expect(throws: ChainError.unknownSelector([1, 2, 3, 4])) {
        try registry.call([1, 2, 3, 4], context: context, state: &state)
    }
    #expect(throws: ChainError.reverted("calldata shorter than a selector")) {
        try registry.call([1], context: context, state: &state)
    }
    // A view is not a transaction function, and a function is not a view.
    let view = try ABISignature(parsing: "adapter(uint256)").encodeCall([.uint(1)])
    #expect(throws: ChainError.unknownSelector(Array(view.prefix(4)))) {
        try registry.call(view, context: context, state: &state)
    }
    let deprecate = try ABISignature(parsing: "deprecateAdapter(uint256)").encodeCall([.uint(1)])
    #expect(throws: ChainError.unknownSelector(Array(deprecate.prefix(4)))) {
        try registry.view(deprecate, state: state, context: context)
    }
    // Arguments that do not decode as the signature's types revert and name the function.
    do {
        _ = try registry.call(Array(deprecate.prefix(20)), context: context, state: &state)
        Issue.record("truncated arguments were accepted")
    } catch {
        #expect(error.revertReason?.hasPrefix("bad arguments to deprecateAdapter(uint256)") == true)
    }
    #expect(ChainError.unknownSelector([0xAB, 0, 0, 1]).revertReason == "unknown function selector 0xab000001")
    #expect(ChainError.outOfGas.description == "execution reverted: out of gas")
}

@Test func theSequencerDigestIsZeroWordChainIdBlockHash() throws {
    let hash = Keccak256.hash(Array("block".utf8))
    #expect(
        SequencerSignature.digest(blockHash: hash, chainId: 16_120_033)
            == Keccak256.hash([UInt8](repeating: 0, count: 32) + UInt256(16_120_033).bigEndianBytes + hash))
    let key = try Secp256k1PrivateKey(bytes: Keccak256.hash([42]))
    let signature = try SequencerSignature.sign(blockHash: hash, chainId: 7, key: key)
    let signer = try Address(bytes: key.publicKey.ethereumAddress)
    #expect(try SequencerSignature.signer(of: signature, blockHash: hash, chainId: 7) == signer)
    #expect(try SequencerSignature.signer(of: signature, blockHash: hash, chainId: 8) != signer)
}

@Test func typedLayoutsReadWhatThePredeploysWrote() throws {
    var chain = try TestChain()
    let curator = chain.address(2)
    #expect(
        try chain.send(
            from: 0, to: chain.datanets.address, function: "createDatanet(string,bytes,bool,address[])",
            [.string("layouts"), .bytes([7, 7]), .bool(true), .array([.address(curator)])]
        ).succeeded)
    let hashes = [Keccak256.hash([1]), Keccak256.hash([2])]
    let root = DatanetRegistry.leavesRoot(contributor: chain.address(1), recordHashes: hashes)
    #expect(
        try chain.send(
            from: 1, to: chain.datanets.address, function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
            [.uint(1), .uint(2), .bytes([9]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })]
        ).succeeded)
    let datanet = try #require(try DatanetRegistry.DatanetLayout.read(1, from: chain.state))
    #expect(
        datanet
            == DatanetRegistry.Datanet(
                owner: chain.address(0), curated: true, batchCount: 1, name: "layouts", metadataCID: [7, 7]))
    let batch = try #require(try DatanetRegistry.BatchLayout.read((1, 1), from: chain.state))
    #expect(
        batch
            == DatanetRegistry.Batch(
                contributor: chain.address(1), count: 2, leavesRoot: root, status: .pending, cid: [9]))
    #expect(try DatanetRegistry.CuratorLayout.read((1, curator), from: chain.state))
    #expect(try !DatanetRegistry.CuratorLayout.read((1, chain.address(1)), from: chain.state))
    #expect(
        try chain.send(
            from: 2, to: chain.datanets.address, function: "approveBatch(uint256,uint256)", [.uint(1), .uint(1)]
        ).succeeded)
    #expect(try DatanetRegistry.BatchLayout.read((1, 1), from: chain.state)?.status == .approved)
    #expect(try DatanetRegistry.LeafContributorLayout.read((1, 1), from: chain.state) == chain.address(1))
    let snapshot = try DatanetRegistry.SnapshotLayout.read(1, from: chain.state)
    let viaRegistry = try chain.datanets.snapshot(1, state: chain.state)
    #expect(snapshot.count == 2 && snapshot == viaRegistry)
    // The layout's slots are Solidity's: the owner of Datanet 1 sits at keccak256(1 ‖ 1).
    let slot = ContractStorage.mappingSlot(1, key: 1)
    #expect(DatanetRegistry.DatanetLayout.base(1) == slot)
    #expect(
        try chain.state.storage(chain.datanets.address, slot: slot.bigEndianBytes)
            == [UInt8](repeating: 0, count: 12) + chain.address(0).bytes)
}

/// A predeploy written the way every predeploy is: a method table of signatures, payability and typed handlers.
private struct Tally: Predeploy {
    let address = try! Address(hex: "0x00000000000000000000000000000000000000ee")

    static let methods: [PredeployMethod<Tally>] = [
        .init("add(uint64 amount, string note)", returns: "uint256", gas: 10, handler: add),
        .init("deposit()", gas: 20, .payable, handler: deposit),
        .init("total()", returns: "uint256", .view, handler: total),
    ]
    static let events = [PredeployEvent("Added(uint64 amount, string note)")]
    static let totalField = StorageField<UInt256>(0)

    private func add(_ call: inout PredeployInvocation, amount: UInt64, note: String) throws(ChainError)
        -> [ABIValue]
    {
        guard !note.isEmpty else { throw .reverted("a note is required") }
        let record = StorageRecord(contract: address, base: 0)
        let total = try record.get(Self.totalField, from: call.state) + UInt256(amount)
        record.set(Self.totalField, total, in: &call.state)
        call.gas += UInt64(note.utf8.count)
        call.logs.append(Self.events[0].log(address, [.uint(UInt256(amount)), .string(note)]))
        return [.uint(total)]
    }

    private func deposit(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        call.gas += call.context.value.uint64 ?? 0
        return []
    }

    private func total(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        [.uint(try StorageRecord(contract: address, base: 0).get(Self.totalField, from: call.state))]
    }
}

@Test func aPredeployIsItsMethodTable() throws {
    let tally = Tally()
    var state = WorldState()
    var context = CallContext(caller: .zero, value: .zero, blockNumber: 1, timestamp: 1, chainId: 1)
    let add = try ABISignature(parsing: "add(uint64,string)")
    let outcome = try tally.call(try add.encodeCall([.uint(5), .string("abc")]), context: context, state: &state)
    // The handler's return values are encoded as the signature declares; its gas adds to the method's.
    #expect(outcome.output == (try ABI.encode([.uint(5)], as: [.uint(256)])))
    #expect(outcome.gas == 13 && outcome.logs.count == 1)
    _ = try tally.call(try add.encodeCall([.uint(2), .string("d")]), context: context, state: &state)
    let total = try ABISignature(parsing: "total()").encodeCall([])
    #expect(try tally.view(total, state: state, context: context) == (try ABI.encode([.uint(7)], as: [.uint(256)])))
    #expect(throws: ChainError.reverted("a note is required")) {
        try tally.call(try add.encodeCall([.uint(1), .string("")]), context: context, state: &state)
    }
    // OPEN goes only where the table says payable.
    context.value = 9
    let deposit = try ABISignature(parsing: "deposit()").encodeCall([])
    #expect(try tally.call(deposit, context: context, state: &state).gas == 29)
    #expect(throws: ChainError.notPayable(function: "add")) {
        try tally.call(try add.encodeCall([.uint(1), .string("x")]), context: context, state: &state)
    }
    #expect(Tally.interface == ["add(uint64,string)", "deposit()", "total()", "Added(uint64,string)"])
    #expect(Tally.payableFunctions == ["deposit()"])
}

@Test(arguments: [
    (ABIType.uint(256), true, false), (.uint(64), true, true), (.uint(128), true, false), (.address, false, false),
])
func integerArgumentsAcceptTheirWidths(type: ABIType, asUInt256: Bool, asUInt64: Bool) {
    #expect(UInt256.accepts(type) == asUInt256)
    #expect(UInt64.accepts(type) == asUInt64)
}

@Test func byteAndArrayArgumentsAcceptTheirTypes() {
    #expect([UInt8].accepts(.bytes) && [UInt8].accepts(.fixedBytes(32)) && ![UInt8].accepts(.string))
    #expect([[UInt8]].accepts(.array(.fixedBytes(32))) && [Address].accepts(.array(.address)))
    #expect(![Address].accepts(.array(.bool)) && String.accepts(.string) && !String.accepts(.bytes))
}
