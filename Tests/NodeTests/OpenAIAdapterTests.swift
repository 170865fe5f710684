import Foundation
import Inference
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import HTTP
@testable import Node

/// A PEFT folder adapting q_proj and v_proj of every block of the default model (rank 2, seeded), large enough to
/// change greedy text.
private func writePEFT(_ folder: String, model: LlamaModel, seed: UInt64) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var random = SeededRandom(seed: seed)
    let d = model.config.embedding
    let kv = model.config.kvDimension
    var header: [String: Any] = [:]
    var data: [UInt8] = []
    func add(_ name: String, _ shape: [Int], sigma: Float) {
        let start = data.count
        for _ in 0..<(shape[0] * shape[1]) {
            let value = (random.nextUnitFloat() * 2 - 1) * sigma
            data += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
        }
        header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [start, data.count]]
    }
    for layer in 0..<model.config.layers {
        for (module, outputs) in [("q_proj", d), ("v_proj", kv)] {
            let prefix = "base_model.model.model.layers.\(layer).self_attn.\(module)"
            add(prefix + ".lora_A.weight", [2, d], sigma: 0.1)
            add(prefix + ".lora_B.weight", [outputs, 2], sigma: 0.3)
        }
    }
    var text = Array(try JSONSerialization.data(withJSONObject: header))
    while text.count % 8 != 0 { text.append(0x20) }
    let bytes = withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init) + text + data
    try Data(bytes).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
    try JSONSerialization.data(withJSONObject: ["r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]])
        .write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
}

private final class Recorder: OpenAIReplyWriter {
    let response = Mutex<HTTPResponse?>(nil)
    let ended = DispatchSemaphore(value: 0)
    var isClientGone: Bool { false }
    func respond(_ response: HTTPResponse) {
        self.response.withLock { $0 = response }
        ended.signal()
    }
    func start(status: Int, headers: [(name: String, value: String)]) {}
    func write(_ bytes: [UInt8]) -> Bool { true }
    func finish() { ended.signal() }
    func wait() -> [String: Any] {
        ended.wait()
        let body = response.withLock { $0?.body } ?? []
        return (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

/// Serving adapters: /v1/models lists them after the base, `model` naming one (or the `lora` field stacking some)
/// answers with the adapter's text — the text the session gives with the same adapter — and an unknown name is
/// a 404 naming it.
@Test(.timeLimit(.minutes(3))) func requestsNameAdaptersByModelOrByTheLoraField() throws {
    guard let path = ProcessInfo.processInfo.environment["OPENLEDGER_MODEL"],
        FileManager.default.fileExists(atPath: path)
    else {
        Fixtures.reportMissing(
            "missing the default model (set OPENLEDGER_MODEL; `make test` fetches it)", sourceLocation: #_sourceLocation
        )
        return
    }
    let model = try LlamaModel(path: path)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openledger-serve-lora-\(getpid())")
        .path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try writePEFT(directory + "/poet", model: model, seed: 1)
    try writePEFT(directory + "/critic", model: model, seed: 2)
    let cache = AdapterCache(source: AdapterDirectory(path: directory), base: LoRABase(model: model), budget: 64 << 20)
    let engine = InferenceEngine(model: model, slots: 2, contextLength: 256, threads: 2)
    let api = OpenAIAPI(engine: engine, modelName: "base", clock: ManualClock(), logger: .discarding, adapters: cache)

    guard case .response(let list) = api.handle(HTTPRequest(method: "GET", target: "/v1/models", headers: [], body: []))
    else {
        Issue.record("no model list")
        return
    }
    let ids =
        ((try JSONSerialization.jsonObject(with: Data(list.body)) as? [String: Any])?["data"] as? [[String: Any]])?
        .compactMap { $0["id"] as? String }
    #expect(ids == ["base", "critic", "poet"])

    for body in [
        #"{"model": "nobody", "prompt": "x", "max_tokens": 4}"#,
        #"{"prompt": "x", "max_tokens": 4, "lora": [{"name": "nobody", "scale": 1}]}"#,
    ] {
        guard
            case .response(let response) = api.handle(
                HTTPRequest(method: "POST", target: "/v1/completions", headers: [], body: Array(body.utf8)))
        else {
            Issue.record("\(body): no immediate error")
            continue
        }
        let error =
            (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["error"]
            as? [String: Any]
        #expect(response.status == 404)
        #expect((error?["message"] as? String)?.contains("'nobody'") == true)
        #expect(error?["code"] as? String == "model_not_found")
    }
    #expect(cache.loads == 0)

    let prompt = "Once upon a time"
    func complete(_ extra: String) throws -> [String: Any] {
        let body = #"{"prompt": "\#(prompt)", "max_tokens": 16, "temperature": 0\#(extra)}"#
        let completion = try api.prepare(Array(body.utf8), chat: false)
        let recorder = Recorder()
        api.run(completion, writer: recorder)
        return recorder.wait()
    }
    func text(_ reply: [String: Any]) -> String? {
        (reply["choices"] as? [[String: Any]])?.first?["text"] as? String
    }
    let plain = try complete("")
    let poet = try complete(#", "model": "poet""#)
    let stacked = try complete(#", "lora": [{"name": "poet", "scale": 0.5}, {"name": "critic"}]"#)
    #expect(plain["model"] as? String == "base" && poet["model"] as? String == "poet")
    #expect(text(poet) != nil && text(poet) != text(plain))
    #expect(text(stacked) != nil && text(stacked) != text(poet))
    #expect(cache.loads == 2)
    // The served text is the session's with the same adapters.
    let session = InferenceSession(model: model, capacity: 256, threads: 2)
    let tokens = model.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
    let alone = try session.generate(
        GenerationRequest(
            prompt: tokens, maxTokens: 16, sampler: Sampler(temperature: 0),
            adapters: [LoRAUse(try cache.acquire("poet").adapter)]))
    #expect(alone.text == text(poet))
    let both = try session.generate(
        GenerationRequest(
            prompt: tokens, maxTokens: 16, sampler: Sampler(temperature: 0),
            adapters: [
                LoRAUse(try cache.acquire("poet").adapter, scale: 0.5), LoRAUse(try cache.acquire("critic").adapter),
            ]))
    #expect(both.text == text(stacked))
}
