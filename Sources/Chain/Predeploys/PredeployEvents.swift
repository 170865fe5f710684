import Codec

/// An event of a predeploy decoded from its log: the event's name and its parameters by name.
public struct DecodedEvent: Equatable, Sendable {
    /// The predeploy that emitted the log.
    public var contract: Address
    /// The event's name, such as `ChannelOpened`.
    public var name: String
    /// The event's parameters in declaration order, indexed ones included.
    public var arguments: [(name: String, value: ABIValue)]

    /// Equal when contract, name and every argument name and value are.
    public static func == (a: DecodedEvent, b: DecodedEvent) -> Bool {
        a.contract == b.contract && a.name == b.name && a.arguments.map(\.name) == b.arguments.map(\.name)
            && a.arguments.map(\.value) == b.arguments.map(\.value)
    }

    /// The value of parameter `name`.
    public subscript(_ name: String) -> ABIValue? { arguments.first { $0.name == name }?.value }
}

/// Every predeploy event, for decoding logs (light clients, explorers, tests).
public enum PredeployEvents {
    static let table: [(address: Address, event: PredeployEvent)] =
        DatanetRegistry.events.map { (DatanetRegistry.defaultAddress, $0) }
        + ModelRegistry.events.map { (ModelRegistry.defaultAddress, $0) }
        + PaymentChannels.events.map { (PaymentChannels.defaultAddress, $0) }
        + Staking.events.map { (Staking.defaultAddress, $0) }
        + AttributionClaims.events.map { (AttributionClaims.defaultAddress, $0) }
        + Governance.events.map { (Governance.defaultAddress, $0) }
        + AgentRegistry.events.map { (AgentRegistry.defaultAddress, $0) }

    /// The decoded event of a log emitted by a predeploy; nil for any other log.
    ///
    /// Malformed topics or data of a known event are an error.
    public static func decode(_ log: Log) throws(CodecError) -> DecodedEvent? {
        guard let topic = log.topics.first,
            let (_, event) = table.first(where: { $0.address == log.address && $0.event.signature.topic == topic })
        else { return nil }
        let parameters = event.signature.parameters
        let indexed = parameters.filter(\.indexed)
        guard log.topics.count == indexed.count + 1 else {
            throw .invalidABI(
                "\(event.signature.name) has \(indexed.count) indexed parameters, log has \(log.topics.count - 1) topics"
            )
        }
        let data = try ABI.decode(log.data, as: parameters.filter { !$0.indexed }.map(\.type))
        var topics = log.topics.dropFirst().makeIterator()
        var values = data.makeIterator()
        var arguments: [(name: String, value: ABIValue)] = []
        for parameter in parameters {
            let value: ABIValue
            if parameter.indexed {
                value = try ABI.decode(topics.next() ?? [], as: [parameter.type])[0]
            } else {
                value = values.next() ?? .bool(false)
            }
            arguments.append((parameter.name ?? "", value))
        }
        return DecodedEvent(contract: log.address, name: event.signature.name, arguments: arguments)
    }
}
