import Foundation

/// A Hugging Face PEFT LoRA folder: `adapter_config.json` (r, lora_alpha, target_modules, use_rslora,
/// rank_pattern, alpha_pattern) and `adapter_model.safetensors` with
/// `base_model.model.model.layers.N.<module>.lora_A.weight` ([r, in]) and `.lora_B.weight` ([out, r]).
///
/// q_proj and k_proj rows are in Hugging Face's order; the GGUF base has them permuted for its RoPE layout
/// (`LlamaModel.permute` of convert_hf_to_gguf.py), so B of q and k gets the same row permutation (A does not).
enum PEFTReader {
    static let modules: [String: LoRATarget] = Dictionary(
        uniqueKeysWithValues: LoRATarget.allCases.map { (String($0.peftModule.split(separator: ".").last!), $0) })

    struct Config {
        var rank: Int
        var alpha: Float
        /// A list: module names matched exactly or as a dotted suffix (PEFT's rule for lists).
        var targetModules: [String]?
        /// A string other than `all-linear`: a regular expression the whole module name must match.
        var targetPattern: String?
        var rsLoRA: Bool
        var rankPattern: [String: Int]
        var alphaPattern: [String: Float]
    }

    static func read(folder: String, name: String, base: LoRABase, permute: Bool = true) throws(LoRAError)
        -> LoRAAdapter
    {
        try parse(folder: folder).adapter(name: name, base: base, permute: permute)
    }

    static func config(_ path: String) throws(LoRAError) -> Config {
        guard let data = FileManager.default.contents(atPath: path) else { throw .io(path, "cannot read") }
        guard data.count <= 1 << 20, let object = try? JSONSerialization.jsonObject(with: data),
            let json = object as? [String: Any]
        else {
            throw .malformed(path, "not a JSON object")
        }
        func number(_ key: String) -> Double? {
            guard let value = json[key] as? NSNumber, !(json[key] is Bool) || json[key] is Int else { return nil }
            return value.doubleValue
        }
        if let type = json["peft_type"] as? String, type != "LORA" { throw .unsupported(path, "peft_type \(type)") }
        if json["use_dora"] as? Bool == true { throw .unsupported(path, "DoRA (use_dora)") }
        if let bias = json["bias"] as? String, bias != "none" { throw .unsupported(path, "LoRA biases (bias \(bias))") }
        if json["lora_bias"] as? Bool == true { throw .unsupported(path, "LoRA biases (lora_bias)") }
        if json["fan_in_fan_out"] as? Bool == true { throw .unsupported(path, "fan_in_fan_out") }
        if let saved = json["modules_to_save"] as? [Any], !saved.isEmpty {
            throw .unsupported(path, "modules_to_save (full weights of \(saved))")
        }
        guard let rank = number("r"), rank >= 1, rank <= 4096, rank == rank.rounded() else {
            throw .malformed(path, "r missing or out of range")
        }
        guard let alpha = number("lora_alpha"), alpha.isFinite else {
            throw .malformed(path, "lora_alpha missing or not a number")
        }
        var targets: [String]?
        var pattern: String?
        if let list = json["target_modules"] as? [Any] {
            targets = try list.map { item throws(LoRAError) in
                guard let text = item as? String else { throw .malformed(path, "target_modules holds \(item)") }
                return text
            }
        } else if let text = json["target_modules"] as? String, text != "all-linear" {
            guard (try? NSRegularExpression(pattern: "^(?:\(text))$")) != nil else {
                throw .malformed(path, "target_modules \(text) is not a regular expression")
            }
            pattern = text
        }
        var rankPattern: [String: Int] = [:]
        for (key, value) in json["rank_pattern"] as? [String: Any] ?? [:] {
            guard let number = value as? NSNumber, number.doubleValue >= 1, number.doubleValue <= 4096 else {
                throw .malformed(path, "rank_pattern \(key)")
            }
            rankPattern[key] = number.intValue
        }
        var alphaPattern: [String: Float] = [:]
        for (key, value) in json["alpha_pattern"] as? [String: Any] ?? [:] {
            guard let number = value as? NSNumber, number.doubleValue.isFinite else {
                throw .malformed(path, "alpha_pattern \(key)")
            }
            alphaPattern[key] = number.floatValue
        }
        return Config(
            rank: Int(rank), alpha: Float(alpha), targetModules: targets, targetPattern: pattern,
            rsLoRA: json["use_rslora"] as? Bool ?? false,
            rankPattern: rankPattern, alphaPattern: alphaPattern)
    }

    /// PEFT's pattern rule: a key matches a module whose name is the key or ends in `.key`; a key with regular
    /// expression syntax matches as `(.*\.)?(key)$`.
    static func matches(_ key: String, _ module: String) -> Bool {
        if module == key || module.hasSuffix("." + key) { return true }
        guard key.contains(where: { "\\^$.|?*+()[]{}".contains($0) }) else { return false }
        return fullMatch("(.*\\.)?(\(key))", module)
    }

    /// Whether the whole of `text` matches the regular expression `pattern`.
    static func fullMatch(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static func parse(folder: String) throws(LoRAError) -> LoRAParsed {
        let configPath = (folder as NSString).appendingPathComponent("adapter_config.json")
        let tensorsPath = (folder as NSString).appendingPathComponent("adapter_model.safetensors")
        let config = try config(configPath)
        let file = try SafetensorsFile(path: tensorsPath)
        var halves: [String: (a: SafetensorsTensor?, b: SafetensorsTensor?)] = [:]
        for name in file.tensors.keys.sorted() {
            let tensor = file.tensors[name]!
            if name.contains("lora_magnitude_vector") { throw .unsupported(tensorsPath, "DoRA (\(name))") }
            if name.contains("lora_embedding_") || name.contains("embed_tokens") {
                throw .tensor(tensorsPath, name, "embedding adapters are not supported")
            }
            if name.hasSuffix(".bias") { throw .unsupported(tensorsPath, "LoRA biases (\(name))") }
            var stem = name
            for prefix in ["base_model.model.", "base_model."] where stem.hasPrefix(prefix) {
                stem = String(stem.dropFirst(prefix.count))
                break
            }
            let isA: Bool
            if stem.hasSuffix(".lora_A.weight") {
                isA = true
            } else if stem.hasSuffix(".lora_B.weight") {
                isA = false
            } else {
                throw .tensor(tensorsPath, name, "is not a lora_A or lora_B weight")
            }
            let module = String(stem.dropLast(".lora_A.weight".count))
            guard ["F32", "F16", "BF16"].contains(tensor.dtype) else {
                throw .tensor(tensorsPath, name, "dtype \(tensor.dtype)")
            }
            guard tensor.shape.count == 2 else {
                throw .tensor(tensorsPath, name, "has \(tensor.shape.count) dimensions")
            }
            var entry = halves[module] ?? (nil, nil)
            if isA { entry.a = tensor } else { entry.b = tensor }
            halves[module] = entry
        }
        var pairs: [LoRAPair] = []
        for module in halves.keys.map({ (moduleKey($0), $0) }).sorted(by: { $0.0 < $1.0 }).map(\.1) {
            let entry = halves[module]!
            guard let a = entry.a, let b = entry.b else {
                throw .tensor(tensorsPath, module, "has only one of lora_A and lora_B")
            }
            let baseName: String
            if module == "lm_head" {
                baseName = "output.weight"
            } else {
                let parts = module.split(separator: ".")
                guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
                    let target = modules[String(parts[4])], target.peftModule == "\(parts[3]).\(parts[4])"
                else {
                    throw .tensor(tensorsPath, a.name, "adapts \(module), which is not an adaptable module")
                }
                baseName = "blk.\(layer).\(target.ggufName).weight"
            }
            if let targets = config.targetModules,
                !targets.contains(where: { module == $0 || module.hasSuffix(".\($0)") })
            {
                throw .tensor(tensorsPath, a.name, "module \(module) is not among target_modules \(targets)")
            }
            if let pattern = config.targetPattern, !fullMatch(pattern, module) {
                throw .tensor(tensorsPath, a.name, "module \(module) does not match target_modules \(pattern)")
            }
            pairs.append(
                LoRAPair(
                    baseName: baseName, nameA: a.name, nameB: b.name, shapeA: a.shape, shapeB: b.shape,
                    typeA: type(a.dtype), typeB: type(b.dtype), module: module,
                    readA: { read(file, a, into: $0) }, readB: { read(file, b, into: $0) },
                    halvesA: a.dtype == "F16" ? file.data(a) : nil, halvesB: b.dtype == "F16" ? file.data(b) : nil))
        }
        var notes = ["use_rslora": "\(config.rsLoRA)", "r": "\(config.rank)"]
        if !config.rankPattern.isEmpty { notes["rank_pattern"] = "\(config.rankPattern.sorted { $0.key < $1.key })" }
        if !config.alphaPattern.isEmpty {
            notes["alpha_pattern"] = "\(config.alphaPattern.sorted { $0.key < $1.key })"
        }
        return LoRAParsed(
            format: .peft, path: tensorsPath, alpha: config.alpha, notes: notes, pairs: pairs,
            bytes: file.mapping.count, owner: file,
            scaling: { pair, rank throws(LoRAError) in
                let module = pair.module ?? ""
                let expected = config.rankPattern.first { matches($0.key, module) }?.value ?? config.rank
                guard expected == rank else {
                    throw .tensor(tensorsPath, pair.nameA, "rank \(rank), adapter_config.json says \(expected)")
                }
                let alpha = config.alphaPattern.first { matches($0.key, module) }?.value ?? config.alpha
                return (alpha, config.rsLoRA ? Float(rank).squareRoot() : Float(rank))
            },
            permuteQueryKey: true, zeroAlphaIsUnit: false)
    }

    /// Modules by block number, then target order (the order llama.cpp's converter writes them in).
    static func moduleKey(_ module: String) -> (Int, Int, String) {
        let parts = module.split(separator: ".")
        let layer = parts.count > 2 ? Int(parts[2]) ?? Int.max : Int.max
        let target = parts.last.flatMap { modules[String($0)]?.rawValue } ?? Int.max
        return (layer, target, module)
    }

    static func type(_ dtype: String) -> GGMLType {
        switch dtype {
        case "F16": .f16
        case "BF16": .bf16
        default: .f32
        }
    }

    static func read(_ file: SafetensorsFile, _ tensor: SafetensorsTensor, into out: UnsafeMutablePointer<Float>) {
        let count = tensor.shape.reduce(1, *)
        Kernels.dequantizeRow(file.data(tensor), type: type(tensor.dtype), count: count, into: out)
    }
}
