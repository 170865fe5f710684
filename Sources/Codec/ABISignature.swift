import Crypto

/// A function or event signature parsed from text such as `transfer(address,uint256)` or
/// `Transfer(address indexed from, address indexed to, uint256 value)`.
public struct ABISignature: Hashable, Sendable, CustomStringConvertible {
    /// One parameter: its type, whether it is an indexed event parameter, and its name if given.
    public struct Parameter: Hashable, Sendable {
        /// The parameter's ABI type.
        public var type: ABIType
        /// Whether an event parameter is `indexed` (carried in a topic rather than the data).
        public var indexed: Bool
        /// The parameter's name, if the text gave one.
        public var name: String?

        /// A parameter of `type`, by default unnamed and not indexed.
        public init(type: ABIType, indexed: Bool = false, name: String? = nil) {
            self.type = type
            self.indexed = indexed
            self.name = name
        }
    }

    /// The function or event name.
    public var name: String
    /// The parameters in declaration order.
    public var parameters: [Parameter]

    /// A signature from its name and parameters.
    public init(name: String, parameters: [Parameter]) {
        self.name = name
        self.parameters = parameters
    }

    /// Parses `name(type [indexed] [name], …)`.
    public init(parsing text: some StringProtocol) throws(CodecError) {
        let text = String(text).trimmingSpaces
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else {
            throw .invalidABI("signature '\(text)' is not name(parameters)")
        }
        name = String(text[..<open]).trimmingSpaces
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
            name.unicodeScalars.allSatisfy({
                $0 == "_" || $0 == "$" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
            })
        else { throw .invalidABI("'\(name)' is not a valid function or event name") }
        let body = text[text.index(after: open)..<text.index(before: text.endIndex)]
        parameters = []
        for piece in try Self.splitTopLevel(body) {
            var words = piece.split(separator: " ").map(String.init)
            guard !words.isEmpty else { throw .invalidABI("empty parameter in '\(text)'") }
            let type = try ABIType(parsing: words.removeFirst())
            var indexed = false
            if words.first == "indexed" {
                indexed = true
                words.removeFirst()
            }
            if ["memory", "calldata", "storage"].contains(words.first) { words.removeFirst() }
            guard words.count <= 1 else { throw .invalidABI("cannot parse parameter '\(piece)'") }
            parameters.append(Parameter(type: type, indexed: indexed, name: words.first))
        }
    }

    /// Splits on commas outside parentheses.
    private static func splitTopLevel(_ text: Substring) throws(CodecError) -> [String] {
        var pieces: [String] = []
        var depth = 0
        var current = ""
        for char in text {
            switch char {
            case "(": depth += 1
            case ")":
                depth -= 1
                guard depth >= 0 else { throw .invalidABI("unbalanced parentheses in '\(text)'") }
            case "," where depth == 0:
                pieces.append(current.trimmingSpaces)
                current = ""
                continue
            default: break
            }
            current.append(char)
        }
        guard depth == 0 else { throw .invalidABI("unbalanced parentheses in '\(text)'") }
        let last = current.trimmingSpaces
        if !last.isEmpty || !pieces.isEmpty { pieces.append(last) }
        return pieces
    }

    /// The parameter types.
    public var types: [ABIType] { parameters.map(\.type) }

    /// The canonical signature: `name(type1,type2)`.
    public var canonical: String { name + "(" + types.map(\.canonicalName).joined(separator: ",") + ")" }

    /// The canonical signature.
    public var description: String { canonical }

    /// keccak256 of the canonical signature: an event's topic 0.
    public var topic: [UInt8] { Keccak256.hash(Array(canonical.utf8)) }

    /// The first four bytes of the topic: a function's selector.
    public var selector: [UInt8] { Array(topic.prefix(4)) }

    /// Calldata: selector followed by the encoded arguments.
    public func encodeCall(_ arguments: [ABIValue]) throws(CodecError) -> [UInt8] {
        selector + (try ABI.encode(arguments, as: types))
    }

    /// The arguments of calldata for this function; the selector must match.
    public func decodeCall(_ calldata: [UInt8]) throws(CodecError) -> [ABIValue] {
        guard calldata.count >= 4, Array(calldata.prefix(4)) == selector else {
            throw .invalidABI("calldata does not start with the selector of \(canonical)")
        }
        return try ABI.decode(Array(calldata.dropFirst(4)), as: types)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
