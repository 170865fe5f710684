import Foundation
import Inference
import Runtime
import Synchronization

/// `openledger bench lora`: the cost of serving LoRA adapters, each figure against its reference in the same run.
///
/// Rank-8 adapters on all seven per-layer linear maps of the default model (PEFT folders written here, F16 or F32:
/// ~5 or ~10 MB each). 32 streams each with its own adapter against the same 32 with none; 200 known adapters, 64 in the
/// cache, Zipf(1.0) requests over 32 streams against the no-adapter aggregate; a cold load into the cache; one
/// stream with one adapter against llama.cpp with an adapter of the same shape (when `--python` is given); the
/// resident memory of 64 cached adapters against their bytes.
enum BenchLoRA {
    static let command = CommandSpec(
        name: "lora",
        summary: "LoRA: batched decode with many adapters, the adapter cache, cold loads, against references.",
        options: [
            InferCommand.modelOption,
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "Python with llama-cpp-python, gguf and numpy: runs the llama.cpp reference in the same run."),
            OptionSpec(name: "threads", valueName: "N", help: "Threads.", defaultValue: "2"),
            OptionSpec(name: "tokens", valueName: "N", help: "Tokens each stream decodes.", defaultValue: "64"),
            OptionSpec(
                name: "rounds", valueName: "N",
                help: "Alternating rounds of each 32-stream figure and its reference (the best of each is kept).",
                defaultValue: "3"),
            OptionSpec(
                name: "dtype", valueName: "f16|f32",
                help:
                    "Storage type of the bench adapters (F16: what llama.cpp's converter and half-precision training write).",
                defaultValue: "f16"),
        ],
        action: { arguments, output throws(CLIError) in
            let model = try InferCommand.loadModel(arguments)
            let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
            let threads = try arguments.int("threads", in: 1...64) ?? 2
            let tokens = try arguments.int("tokens", in: 8...1_000) ?? 64
            let dtype = arguments.string("dtype") ?? "f16"
            let rounds = try arguments.int("rounds", in: 1...20) ?? 3
            guard dtype == "f16" || dtype == "f32" else {
                throw .usage("--dtype is f16 or f32, not \(dtype)", command: arguments.command)
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "openledger-bench-lora-\(getpid())"
            ).path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let base = LoRABase(model: model)
            let first = try writeAdapters(directory: directory, model: model, count: 200, half: dtype == "f16")
            let details = ["threads": "\(threads)", "rank": "8", "targets": "7", "dtype": dtype.uppercased()]

            // Cold load: a fresh cache each time, the file in the page cache (the median of 5).
            var loads: [Double] = []
            for _ in 0..<5 {
                let cache = AdapterCache(source: AdapterDirectory(path: directory), base: base, budget: 1 << 30)
                let start = DispatchTime.now().uptimeNanoseconds
                do { _ = try cache.acquire(first) } catch { throw .failure("\(error)") }
                loads.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            let adapterBytes: Int
            do { adapterBytes = try AdapterDirectory(path: directory).load(first, base: base).byteCount } catch {
                throw .failure("\(error)")
            }
            output.line(
                BenchFigure(
                    bench: "lora_cold_load", unit: .milliseconds, value: loads.sorted()[2],
                    details: [
                        "bytes": "\(adapterBytes)",
                        "runs": loads.map { String(format: "%.1f", $0) }.joined(separator: " "),
                    ]
                ).jsonLine(references: []))

            // Resident memory of 64 cached adapters against their bytes.
            let cache = AdapterCache(
                source: AdapterDirectory(path: directory), base: base, budget: 64 * adapterBytes)
            let before = residentBytes()
            let names = AdapterDirectory(path: directory).names()
            do { for name in names.prefix(64) { _ = try cache.acquire(name) } } catch { throw .failure("\(error)") }
            let grown = residentBytes() - before
            let bytesFigure = BenchFigure(
                bench: "lora_cache_resident", unit: .megabytes, value: Double(64 * adapterBytes) / 1e6,
                implementation: "64 adapters' bytes")
            output.line(bytesFigure.jsonLine(references: []))
            output.line(
                BenchFigure(
                    bench: "lora_cache_resident", unit: .megabytes, value: Double(grown) / 1e6,
                    implementation: "openledger, resident growth",
                    details: ["adapters": "64", "rss_before_mb": String(format: "%.1f", Double(before) / 1e6)]
                ).jsonLine(references: [bytesFigure]))

            // 32 streams: no adapter, each its own adapter, Zipf over 200 with 64 cached.
            let engine = InferenceEngine(
                model: model, slots: 32, contextLength: 256, threads: threads, queueLimit: 256)
            let prompt = model.tokenizer.encode(
                "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n")
            _ = try aggregate(
                engine: engine, prompt: prompt, tokens: tokens, cache: cache, adapters: Array(repeating: nil, count: 4))
            // The machine is shared: each figure and its reference are measured in alternating rounds, and the best
            // round of each is kept (every round's figure is printed in the details).
            func format(_ values: [Double]) -> String {
                values.map { String(format: "%.1f", $0) }.joined(separator: " ")
            }
            var plains: [Double] = []
            var owns: [Double] = []
            var plainCPU: [Double] = []
            var ownCPU: [Double] = []
            for _ in 0..<rounds {
                let plain = try aggregate(
                    engine: engine, prompt: prompt, tokens: tokens, cache: cache,
                    adapters: Array(repeating: nil, count: 32))
                let own = try aggregate(
                    engine: engine, prompt: prompt, tokens: tokens, cache: cache, adapters: names.prefix(32).map { $0 })
                plains.append(plain.rate)
                plainCPU.append(plain.perCPUSecond)
                owns.append(own.rate)
                ownCPU.append(own.perCPUSecond)
            }
            let plainFigure = BenchFigure(
                bench: "lora_aggregate_decode", unit: .operationsPerSecond, value: plains.max()!,
                implementation: "openledger, no adapter",
                details: details.merging(["streams": "32", "rounds": format(plains), "per_cpu_s": format(plainCPU)]) {
                    $1
                })
            output.line(plainFigure.jsonLine(references: []))
            output.line(
                BenchFigure(
                    bench: "lora_aggregate_decode", unit: .operationsPerSecond, value: owns.max()!,
                    details: details.merging([
                        "streams": "32", "adapters": "32 distinct", "rounds": format(owns), "per_cpu_s": format(ownCPU),
                    ]) {
                        $1
                    }
                ).jsonLine(references: [plainFigure]))
            var random = SeededRandom(seed: 17)
            let weights = (1...names.count).map { 1 / Double($0) }
            let total = weights.reduce(0, +)
            let drawn: [String] = (0..<96).map { _ in
                var u = Double(random.nextUnitFloat()) * total
                for (index, weight) in weights.enumerated() {
                    u -= weight
                    if u <= 0 { return names[index] }
                }
                return names[names.count - 1]
            }
            var plainWalls: [Double] = []
            var zipfs: [Double] = []
            var coldLoads: [Int] = []
            var plainWallCPU: [Double] = []
            var zipfCPU: [Double] = []
            for _ in 0..<rounds {
                let plainWall = try aggregate(
                    engine: engine, prompt: prompt, tokens: tokens, cache: cache,
                    adapters: Array(repeating: nil, count: 96), wall: true)
                plainWalls.append(plainWall.rate)
                plainWallCPU.append(plainWall.perCPUSecond)
                // Each round starts from an empty cache of 64 adapters' bytes.
                let zipfCache = AdapterCache(
                    source: AdapterDirectory(path: directory), base: base, budget: 64 * adapterBytes)
                let zipf = try aggregate(
                    engine: engine, prompt: prompt, tokens: tokens, cache: zipfCache, adapters: drawn.map { $0 },
                    wall: true)
                zipfs.append(zipf.rate)
                zipfCPU.append(zipf.perCPUSecond)
                coldLoads.append(zipfCache.loads)
            }
            let plainWallFigure = BenchFigure(
                bench: "lora_zipf_throughput", unit: .operationsPerSecond, value: plainWalls.max()!,
                implementation: "openledger, no adapter",
                details: details.merging([
                    "streams": "32", "requests": "96", "clock": "first submit to last end",
                    "rounds": format(plainWalls), "per_cpu_s": format(plainWallCPU),
                ]) { $1 })
            output.line(plainWallFigure.jsonLine(references: []))
            output.line(
                BenchFigure(
                    bench: "lora_zipf_throughput", unit: .operationsPerSecond, value: zipfs.max()!,
                    details: details.merging([
                        "streams": "32", "adapters": "200 known, 64 cached, Zipf(1.0)", "requests": "96",
                        "cold_loads": coldLoads.map(String.init).joined(separator: " "),
                        "clock": "first submit to last end", "rounds": format(zipfs), "per_cpu_s": format(zipfCPU),
                    ]) { $1 }
                ).jsonLine(references: [plainWallFigure]))

            // One stream with one adapter against llama.cpp with an adapter of the same shape.
            let adapter: LoRAAdapter
            do { adapter = try AdapterDirectory(path: directory).load(first, base: base) } catch {
                throw .failure("\(error)")
            }
            var reference: [String: Double] = [:]
            var baseReference: [String: Double] = [:]
            if let python = arguments.string("python") {
                let made = try runScript(
                    python,
                    [
                        "make", "--model", modelPath, "--out", directory + "-ref", "--rank", "8", "--dtype", dtype,
                        "--name", "bench",
                    ])
                defer { try? FileManager.default.removeItem(atPath: directory + "-ref") }
                guard let gguf = made["gguf"] as? String else { throw .failure("the adapter script failed") }
                reference = try numbers(
                    runScript(
                        python, ["bench", "--model", modelPath, "--lora", gguf + ":1", "--threads", "\(threads)"]))
                baseReference = try numbers(
                    runScript(python, ["bench", "--model", modelPath, "--threads", "\(threads)"]))
            }
            let text = String(
                repeating: "The ledger records every inference, every payment and every attribution proof. ", count: 64)
            let long = Array(model.tokenizer.encode(text, parseSpecial: false).prefix(512))
            for (label, uses, theirs) in [
                ("no adapter", [LoRAUse](), baseReference), ("one adapter", [LoRAUse(adapter)], reference),
            ] {
                let session = InferenceSession(model: model, capacity: 1024, threads: threads)
                session.adapters = uses
                let (prefill, decode) = try BenchInference.bestPrefillAndDecode(session, long)
                for (name, value, key) in [
                    ("lora_prefill_512", 512 / prefill, "prefill_tok_s"),
                    ("lora_decode_128", 128 / decode, "decode_tok_s"),
                ] {
                    var references: [BenchFigure] = []
                    if let value = theirs[key] {
                        references.append(
                            BenchFigure(
                                bench: name, unit: .operationsPerSecond, value: value,
                                implementation: "llama.cpp, \(label)",
                                details: details.merging(["unit": "tok/s"]) { $1 }))
                        output.line(references[0].jsonLine(references: []))
                    }
                    output.line(
                        BenchFigure(
                            bench: name, unit: .operationsPerSecond, value: value,
                            implementation: "openledger, \(label)",
                            details: details.merging(["unit": "tok/s"]) { $1 }
                        ).jsonLine(references: references))
                }
            }
        })

    /// Aggregate decode tok/s of one request per entry (an adapter to lease, or none), 32 at a time.
    ///
    /// Decoded tokens over the time from the moment the last stream has its prompt evaluated to the last stream's
    /// end (as `bench inference` counts its batching figure); with `wall`, from the first submission. Requests are
    /// submitted as `serve` submits them: one without an adapter at once, one with an adapter from a global queue
    /// that first leases it (a cold load reads it there, overlapping the engine's decoding and other loads). The
    /// lease is held until the generation ends.
    static func aggregate(
        engine: InferenceEngine, prompt: [Int32], tokens: Int, cache: AdapterCache, adapters: [String?],
        wall: Bool = false
    ) throws(CLIError) -> (rate: Double, perCPUSecond: Double) {
        let cpuBefore = cpuSeconds()
        let submitted = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let done = DispatchSemaphore(value: 0)
        let finished = Mutex<[(tokens: Int, start: Double, end: Double)]>([])
        let failures = Mutex<[String]>([])
        @Sendable func submit(_ index: Int, _ lease: AdapterLease?) {
            let request = InferenceEngine.Request(
                prompt: prompt, maxTokens: tokens,
                sampler: Sampler(temperature: 1, topK: 0, topP: 1, minP: 0, seed: UInt64(index)),
                ignoreEndOfGeneration: true, adapters: lease.map { [LoRAUse($0.adapter)] } ?? [])
            do {
                try engine.submit(request) { event in
                    withExtendedLifetime(lease) {}
                    if case .finished(let result) = event {
                        let end = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                        finished.withLock { $0.append((result.tokens.count - 1, end - result.decodeSeconds, end)) }
                        done.signal()
                    } else if case .failed(let error) = event {
                        failures.withLock { $0.append("\(error)") }
                        done.signal()
                    }
                    return true
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
                done.signal()
            }
        }
        for (index, name) in adapters.enumerated() {
            guard let name else {
                submit(index, nil)
                continue
            }
            DispatchQueue.global().async {
                do throws(LoRAError) {
                    submit(index, try cache.acquire(name))
                } catch {
                    failures.withLock { $0.append("\(error)") }
                    done.signal()
                }
            }
        }
        for _ in adapters { done.wait() }
        if let failure = failures.withLock({ $0.first }) { throw .failure(failure) }
        let runs = finished.withLock { $0 }
        guard runs.count == adapters.count, let start = runs.map(\.start).max(), let end = runs.map(\.end).max() else {
            throw .failure("a stream failed")
        }
        let decoded = Double(runs.reduce(0) { $0 + $1.tokens })
        return (decoded / (end - (wall ? submitted : start)), decoded / max(1e-9, cpuSeconds() - cpuBefore))
    }

    /// User and system CPU seconds of the process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        return user + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// Writes `count` rank-8 PEFT folders adapting all seven linear maps of every block; returns the first name.
    ///
    /// One seeded safetensors file, hard-linked into every folder (the same bytes, separate adapters once loaded);
    /// F16 tensors when `half`, else F32.
    static func writeAdapters(directory: String, model: LlamaModel, count: Int, half: Bool) throws(CLIError)
        -> String
    {
        let config = model.config
        let rank = 8
        var random = SeededRandom(seed: 8)
        var header: [String: Any] = [:]
        var data = Data()
        let shapes: [(String, Int, Int)] = [
            ("self_attn.q_proj", config.embedding, config.embedding),
            ("self_attn.k_proj", config.embedding, config.kvDimension),
            ("self_attn.v_proj", config.embedding, config.kvDimension),
            ("self_attn.o_proj", config.embedding, config.embedding),
            ("mlp.gate_proj", config.embedding, config.feedForward),
            ("mlp.up_proj", config.embedding, config.feedForward),
            ("mlp.down_proj", config.feedForward, config.embedding),
        ]
        func add(_ name: String, rows: Int, columns: Int, sigma: Float) {
            let start = data.count
            var values = [Float](repeating: 0, count: rows * columns)
            for i in values.indices { values[i] = (random.nextUnitFloat() * 2 - 1) * sigma }
            if half {
                values.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
            } else {
                values.withUnsafeBytes { data.append(contentsOf: $0) }
            }
            header[name] = [
                "dtype": half ? "F16" : "F32", "shape": [rows, columns], "data_offsets": [start, data.count],
            ]
        }
        for layer in 0..<config.layers {
            for (module, inputs, outputs) in shapes {
                let prefix = "base_model.model.model.layers.\(layer).\(module)"
                add(prefix + ".lora_A.weight", rows: rank, columns: inputs, sigma: 1 / Float(inputs).squareRoot())
                add(prefix + ".lora_B.weight", rows: outputs, columns: rank, sigma: 0.05)
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var text = Array(try JSONSerialization.data(withJSONObject: header))
            while text.count % 8 != 0 { text.append(0x20) }
            var file = Data(withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init))
            file.append(contentsOf: text)
            file.append(data)
            let blob = directory + "/.adapter_model.safetensors"
            try file.write(to: URL(fileURLWithPath: blob))
            let json = try JSONSerialization.data(withJSONObject: [
                "peft_type": "LORA", "r": rank, "lora_alpha": 16,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            ])
            for index in 0..<count {
                let folder = directory + "/adapter-\(String(format: "%03d", index))"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try FileManager.default.linkItem(atPath: blob, toPath: folder + "/adapter_model.safetensors")
                try json.write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
            }
        } catch {
            throw .failure("cannot write the bench adapters: \(error)")
        }
        return "adapter-000"
    }

    /// The process's resident set, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    static func runScript(_ python: String, _ arguments: [String]) throws(CLIError) -> [String: Any] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                "tools/interop/lora_parity.py")
        let path = FileManager.default.fileExists(atPath: script.path) ? script.path : "tools/interop/lora_parity.py"
        return try BenchFigure.runForJSON(python, [path] + arguments, what: "lora_parity.py \(arguments.first ?? "")")
    }

    static func numbers(_ object: [String: Any]) -> [String: Double] {
        object.compactMapValues { $0 as? Double }
    }
}
