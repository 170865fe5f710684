/// Byte-level BPE as llama.cpp applies it to `tokenizer.ggml.model = gpt2` vocabularies: special tokens are cut
/// out of the text first, the rest is split by the model's pre-tokenizer, each piece's bytes are mapped to
/// printable code points (GPT-2's byte-to-unicode table) and merged pair by pair in merge-rank order.
public struct Tokenizer: Sendable {
    /// A token's type, as GGUF numbers them.
    public enum TokenType: Int, Sendable {
        case undefined = 0
        case normal = 1
        case unknown = 2
        case control = 3
        case userDefined = 4
        case unused = 5
        case byte = 6
    }

    /// How text is split before the merges.
    public enum PreTokenizer: Sendable {
        /// GPT-2's pattern.
        case gpt2
        /// Digits one by one, then GPT-2's pattern (`smollm`, `starcoder`, `refact`, …).
        case digitsThenGPT2
    }

    /// Every token's text (byte-level tokens in GPT-2's printable mapping).
    public let tokens: [String]
    /// Every token's type.
    public let types: [TokenType]
    /// The beginning-of-sequence token.
    public let bos: Int32?
    /// The end-of-sequence token.
    public let eos: Int32?
    /// Whether a prompt starts with the beginning-of-sequence token.
    public let addBOS: Bool
    /// Tokens that end a generation: EOS and the end-of-turn tokens llama.cpp recognizes by their text.
    public let endOfGeneration: Set<Int32>
    /// How text is split before the merges.
    public let preTokenizer: PreTokenizer
    private let ids: [String: Int32]
    private let ranks: [String: Int]
    /// Special tokens to cut out of text, longest first.
    private let specials: [(text: [Unicode.Scalar], id: Int32, control: Bool)]
    private let byteTokens: [Int32?]

    /// Tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// The tokenizer a GGUF file's metadata describes.
    public init(gguf: GGUFFile) throws(ModelError) {
        let metadata = gguf.metadata
        guard metadata["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw .unsupported("tokenizer model \(metadata["tokenizer.ggml.model"]?.string ?? "none") (only gpt2 BPE)")
        }
        guard let tokenValues = metadata["tokenizer.ggml.tokens"]?.array,
            let mergeValues = metadata["tokenizer.ggml.merges"]?.array
        else { throw .malformed("tokenizer tokens or merges missing") }
        let tokens = tokenValues.compactMap(\.string)
        let merges = mergeValues.compactMap(\.string)
        guard tokens.count == tokenValues.count, merges.count == mergeValues.count, !tokens.isEmpty else {
            throw .malformed("tokenizer tokens or merges are not strings")
        }
        let typeValues = metadata["tokenizer.ggml.token_type"]?.array ?? []
        let types = (0..<tokens.count).map { index in
            index < typeValues.count ? TokenType(rawValue: typeValues[index].int ?? 1) ?? .normal : .normal
        }
        let preTokenizer: PreTokenizer
        switch metadata["tokenizer.ggml.pre"]?.string ?? "default" {
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva":
            preTokenizer = .digitsThenGPT2
        case "gpt-2", "default": preTokenizer = .gpt2
        case let other: throw .unsupported("pre-tokenizer \(other)")
        }
        func tokenID(_ key: String) throws(ModelError) -> Int32? {
            guard let value = metadata[key]?.int else { return nil }
            guard value >= 0, value < tokens.count else { throw .malformed("\(key) = \(value) is not a token") }
            return Int32(value)
        }
        self.init(
            tokens: tokens, types: types, merges: merges, bos: try tokenID("tokenizer.ggml.bos_token_id"),
            eos: try tokenID("tokenizer.ggml.eos_token_id"),
            addBOS: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, preTokenizer: preTokenizer)
    }

    /// A tokenizer from its vocabulary, merges and special tokens.
    public init(
        tokens: [String], types: [TokenType], merges: [String], bos: Int32?, eos: Int32?, addBOS: Bool,
        preTokenizer: PreTokenizer
    ) {
        self.tokens = tokens
        self.types = types
        self.bos = bos
        self.eos = eos
        self.addBOS = addBOS
        self.preTokenizer = preTokenizer
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(index) }
        self.ids = ids
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
        self.ranks = ranks
        specials = tokens.indices.compactMap { index -> ([Unicode.Scalar], Int32, Bool)? in
            guard [.control, .userDefined, .unknown].contains(types[index]), !tokens[index].isEmpty else { return nil }
            return (Array(tokens[index].unicodeScalars), Int32(index), types[index] != .userDefined)
        }.sorted { $0.0.count > $1.0.count }
        byteTokens = (0..<256).map { ids[String(Self.byteToScalar[$0])] }
        // As llama.cpp: EOS, the end-of-turn tokens, and the FIM repository token it also treats as an end.
        let endings = [
            "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<EOT>",
            "<reponame>",
            "<|repo_name|>",
        ]
        var endOfGeneration = Set(endings.compactMap { ids[$0] }.filter { types[Int($0)] == .control })
        if let eos { endOfGeneration.insert(eos) }
        self.endOfGeneration = endOfGeneration
    }

    // MARK: Encoding

    /// Token ids of `text`.
    ///
    /// With `parseSpecial`, control tokens written in the text (such as `<|im_start|>`) become their ids; user-defined
    /// tokens always do, as in llama.cpp.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        if addSpecial && addBOS, let bos { out.append(bos) }
        for fragment in partition(Array(text.unicodeScalars), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id): out.append(id)
            case .text(let scalars): for word in preTokenize(scalars) { bpe(word, into: &out) }
            }
        }
        return out
    }

    enum Fragment {
        case text([Unicode.Scalar])
        case token(Int32)
    }

    /// Cuts special tokens out of the text, longest tokens first, as llama.cpp's `tokenizer_st_partition`.
    func partition(_ scalars: [Unicode.Scalar], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = [.text(scalars)]
        for special in specials where parseSpecial || !special.control {
            var next: [Fragment] = []
            for fragment in fragments {
                guard case .text(let text) = fragment, text.count >= special.text.count else {
                    next.append(fragment)
                    continue
                }
                var start = 0
                var index = 0
                while index + special.text.count <= text.count {
                    if text[index] == special.text[0]
                        && Array(text[index..<(index + special.text.count)]) == special.text
                    {
                        if index > start { next.append(.text(Array(text[start..<index]))) }
                        next.append(.token(special.id))
                        index += special.text.count
                        start = index
                    } else {
                        index += 1
                    }
                }
                if start < text.count { next.append(.text(Array(text[start...]))) }
            }
            fragments = next
        }
        return fragments
    }

    /// The pre-tokenizer's pieces of a text fragment.
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        switch preTokenizer {
        case .gpt2:
            return Self.gpt2Split(scalars[...])
        case .digitsThenGPT2:
            var pieces: [ArraySlice<Unicode.Scalar>] = []
            var start = 0
            for index in scalars.indices where CodepointFlags(scalars[index]).isNumber {
                if index > start { pieces += Self.gpt2Split(scalars[start..<index]) }
                pieces.append(scalars[index...index])
                start = index + 1
            }
            if start < scalars.count { pieces += Self.gpt2Split(scalars[start...]) }
            return pieces
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over one piece, exactly as
    /// llama.cpp's hand-written matcher (the piece's end counts as "no character").
    static func gpt2Split(_ text: ArraySlice<Unicode.Scalar>) -> [ArraySlice<Unicode.Scalar>] {
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        let end = text.endIndex
        func flags(_ position: Int) -> CodepointFlags {
            position < end ? CodepointFlags(text[position]) : CodepointFlags()
        }
        var start = text.startIndex
        var position = start
        func add(_ next: Int) {
            if next > start { pieces.append(text[start..<next]) }
            start = next
            position = next
        }
        while position < end {
            let scalar = text[position]
            if scalar == "'" && position + 1 < end {
                let next = text[position + 1]
                if next == "s" || next == "t" || next == "m" || next == "d" {
                    add(position + 2)
                    continue
                }
                if position + 2 < end {
                    let third = text[position + 2]
                    if (next == "r" && third == "e") || (next == "v" && third == "e") || (next == "l" && third == "l") {
                        add(position + 3)
                        continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
            let start = position + (scalar == " " ? 1 : 0)
            if let member = Self.runClasses.first(where: { $0(flags(start)) }) {
                var cursor = start
                while member(flags(cursor)) { cursor += 1 }
                add(cursor)
                continue
            }
            var whitespace = 0
            while flags(position + whitespace).isWhitespace { whitespace += 1 }
            if whitespace > 1 && position + whitespace < end {
                add(position + whitespace - 1)
                continue
            }
            if whitespace > 0 {
                add(position + whitespace)
                continue
            }
            add(position + 1)
        }
        return pieces
    }

    /// The character classes of GPT-2's runs, in the pattern's order: letters, numbers, anything else assigned.
    static let runClasses: [@Sendable (CodepointFlags) -> Bool] = [
        { $0.isLetter }, { $0.isNumber }, { !($0.isWhitespace || $0.isLetter || $0.isNumber) && $0.isDefined },
    ]

    /// Merges one pre-tokenized piece and appends its token ids.
    func bpe(_ piece: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var symbols: [String] = []
        for byte in String(String.UnicodeScalarView(piece)).utf8 {
            symbols.append(String(Self.byteToScalar[Int(byte)]))
        }
        if symbols.count > 1 {
            // Repeatedly merge the adjacent pair of lowest rank (leftmost on ties).
            while true {
                var best: (rank: Int, index: Int)?
                for index in 0..<(symbols.count - 1) {
                    if let rank = ranks[symbols[index] + " " + symbols[index + 1]], rank < (best?.rank ?? Int.max) {
                        best = (rank, index)
                    }
                }
                guard let best else { break }
                symbols[best.index] += symbols[best.index + 1]
                symbols.remove(at: best.index + 1)
                if symbols.count == 1 { break }
            }
        }
        for symbol in symbols {
            if let id = ids[symbol] {
                out.append(id)
            } else {
                for scalar in symbol.unicodeScalars {
                    if let byte = Self.scalarToByte[scalar], let id = byteTokens[Int(byte)] { out.append(id) }
                }
            }
        }
    }

    // MARK: Decoding

    /// The bytes of one token: byte-level tokens map back through the table; special tokens give their text
    /// only when `special` is set.
    public func bytes(of token: Int32, special: Bool = false) -> [UInt8] {
        guard token >= 0, Int(token) < tokens.count else { return [] }
        switch types[Int(token)] {
        case .control, .unknown, .unused:
            return special ? Array(tokens[Int(token)].utf8) : []
        case .userDefined:
            return Array(tokens[Int(token)].utf8)
        default:
            var out: [UInt8] = []
            for scalar in tokens[Int(token)].unicodeScalars {
                if let byte = Self.scalarToByte[scalar] { out.append(byte) } else { out += Array(String(scalar).utf8) }
            }
            return out
        }
    }

    /// The text of a token sequence (invalid UTF-8 replaced).
    public func decode(_ tokens: [Int32], special: Bool = false) -> String {
        String(decoding: tokens.flatMap { bytes(of: $0, special: special) }, as: UTF8.self)
    }

    // MARK: GPT-2 byte table

    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar] = UInt8(byte) }
        return map
    }()
}

/// The character classes llama.cpp's pre-tokenizers use: letters (L*), numbers (N*), White_Space, and whether
/// the code point is assigned at all.
struct CodepointFlags {
    var isLetter = false
    var isNumber = false
    var isWhitespace = false
    var isDefined = false

    init() {}

    init(_ scalar: Unicode.Scalar) {
        let properties = scalar.properties
        isWhitespace = properties.isWhitespace
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            isLetter = true
            isDefined = true
        case .decimalNumber, .letterNumber, .otherNumber:
            isNumber = true
            isDefined = true
        case .unassigned:
            isDefined = isWhitespace
        default:
            isDefined = true
        }
    }
}
