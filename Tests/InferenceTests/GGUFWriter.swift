import Foundation

@testable import Inference

/// Writes small GGUF v3 files for tests: metadata, tensors (F32 or raw block bytes), alignment padding.
struct GGUFWriter {
    enum Value {
        case u32(UInt32)
        case f32(Float)
        case bool(Bool)
        case string(String)
        case strings([String])
        case int32s([Int32])
    }

    var metadata: [(String, Value)] = []
    var tensors: [(name: String, shape: [Int], type: UInt32, bytes: [UInt8])] = []
    var alignment = 32

    mutating func set(_ key: String, _ value: Value) { metadata.append((key, value)) }

    mutating func addF32(_ name: String, shape: [Int], values: [Float]) {
        tensors.append((name, shape, 0, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }))
    }

    /// A Q8_0 tensor from float values (per 32: d = amax/127, q = round(x/d)).
    // swift-format-ignore: AlwaysUseLowerCamelCase
    mutating func addQ8_0(_ name: String, shape: [Int], values: [Float]) {
        var bytes: [UInt8] = []
        for block in 0..<(values.count / 32) {
            let slice = values[(block * 32)..<(block * 32 + 32)]
            let amax = slice.map(abs).max() ?? 0
            let d = amax / 127
            bytes += withUnsafeBytes(of: Float16(d).bitPattern.littleEndian, Array.init)
            for value in slice { bytes.append(UInt8(bitPattern: Int8(d == 0 ? 0 : (value / d).rounded()))) }
        }
        tensors.append((name, shape, 8, bytes))
    }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            out += Array(s.utf8)
        }
        out += Array("GGUF".utf8)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .u32(let v):
                u32(4)
                u32(v)
            case .f32(let v):
                u32(6)
                u32(v.bitPattern)
            case .bool(let v):
                u32(7)
                out.append(v ? 1 : 0)
            case .string(let v):
                u32(8)
                string(v)
            case .strings(let values):
                u32(9)
                u32(8)
                u64(UInt64(values.count))
                for v in values { string(v) }
            case .int32s(let values):
                u32(9)
                u32(5)
                u64(UInt64(values.count))
                for v in values { u32(UInt32(bitPattern: v)) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (index, tensor) in tensors.enumerated() {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for extent in tensor.shape { u64(UInt64(extent)) }
            u32(tensor.type)
            u64(UInt64(offsets[index]))
        }
        while out.count % alignment != 0 { out.append(0) }
        for tensor in tensors {
            out += tensor.bytes
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// A tiny llama model: byte-level vocabulary (256 byte tokens + merges + specials), random Q8_0 weights.
    static func tinyLlama(seed: UInt64 = 1, architecture: String = "llama", weightType: UInt32 = 8) -> GGUFWriter {
        var writer = GGUFWriter()
        let d = 64
        let ffn = 128
        var tokens = (0..<256).map { String(Tokenizer.byteToScalar[$0]) }
        let merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
        tokens += ["Ġt", "he", "Ġthe", "in", "Ġa", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
        var types = [Int32](repeating: 1, count: tokens.count)
        for i in (tokens.count - 3)..<tokens.count { types[i] = 3 }
        writer.set("general.architecture", .string(architecture))
        writer.set("llama.embedding_length", .u32(UInt32(d)))
        writer.set("llama.feed_forward_length", .u32(UInt32(ffn)))
        writer.set("llama.block_count", .u32(2))
        writer.set("llama.attention.head_count", .u32(4))
        writer.set("llama.attention.head_count_kv", .u32(2))
        writer.set("llama.context_length", .u32(128))
        writer.set("llama.rope.freq_base", .f32(10_000))
        writer.set("llama.attention.layer_norm_rms_epsilon", .f32(1e-5))
        writer.set("llama.vocab_size", .u32(UInt32(tokens.count)))
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.pre", .string("smollm"))
        writer.set("tokenizer.ggml.tokens", .strings(tokens))
        writer.set("tokenizer.ggml.token_type", .int32s(types))
        writer.set("tokenizer.ggml.merges", .strings(merges))
        writer.set("tokenizer.ggml.bos_token_id", .u32(UInt32(tokens.count - 3)))
        writer.set("tokenizer.ggml.eos_token_id", .u32(UInt32(tokens.count - 2)))
        writer.set("tokenizer.chat_template", .string("{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"))
        var state = seed
        func random(_ count: Int) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 10_000
            }
        }
        func matrix(_ name: String, _ columns: Int, _ rows: Int) {
            if weightType == 8 {
                writer.addQ8_0(name, shape: [columns, rows], values: random(columns * rows))
            } else {
                writer.tensors.append(
                    (name, [columns, rows], weightType, [UInt8](repeating: 0, count: columns * rows * 4)))
            }
        }
        writer.addQ8_0("token_embd.weight", shape: [d, tokens.count], values: random(d * tokens.count))
        writer.addF32("output_norm.weight", shape: [d], values: [Float](repeating: 1, count: d))
        for layer in 0..<2 {
            let p = "blk.\(layer)."
            writer.addF32(p + "attn_norm.weight", shape: [d], values: [Float](repeating: 1, count: d))
            writer.addF32(p + "ffn_norm.weight", shape: [d], values: [Float](repeating: 1, count: d))
            matrix(p + "attn_q.weight", d, d)
            matrix(p + "attn_k.weight", d, d / 2)
            matrix(p + "attn_v.weight", d, d / 2)
            matrix(p + "attn_output.weight", d, d)
            matrix(p + "ffn_gate.weight", d, ffn)
            matrix(p + "ffn_up.weight", d, ffn)
            matrix(p + "ffn_down.weight", ffn, d)
        }
        return writer
    }
}
