import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Inference

/// A directory of tiny adapters: four GGUF-LoRA files (a, b, c, d) and one PEFT folder (p).
func tinyAdapterDirectory() throws -> String {
    let directory = temporaryFolder("adapters")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (index, name) in ["a", "b", "c", "d"].enumerated() {
        try Data(TinyLoRA(seed: UInt64(40 + index), rank: 2, alpha: 4).gguf()).write(
            to: URL(fileURLWithPath: directory + "/\(name).gguf"))
    }
    try TinyLoRA(seed: 50, rank: 2, alpha: 4).peft(in: directory + "/p")
    try Data("not an adapter".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
    return directory
}

/// A source that holds every load until the test opens its gate.
final class GatedSource: AdapterSource, @unchecked Sendable {
    let inner: AdapterDirectory
    let entered = DispatchSemaphore(value: 0)
    let gate = DispatchSemaphore(value: 0)
    init(_ inner: AdapterDirectory) { self.inner = inner }
    func names() -> [String] { inner.names() }
    func load(_ name: String, base: LoRABase) throws(LoRAError) -> LoRAAdapter {
        entered.signal()
        gate.wait()
        return try inner.load(name, base: base)
    }
}

@Test func theAdapterDirectoryNamesGGUFFilesAndPEFTFolders() throws {
    let (model, modelPath) = try tinyModel()
    let directory = try tinyAdapterDirectory()
    defer { for path in [modelPath, directory] { try? FileManager.default.removeItem(atPath: path) } }
    let source = AdapterDirectory(path: directory)
    #expect(source.names() == ["a", "b", "c", "d", "p"])
    let peft = try source.load("p", base: LoRABase(model: model))
    #expect(peft.format == .peft && peft.name == "p")
    #expect(throws: LoRAError.unknownAdapter("notes")) { try source.load("notes", base: LoRABase(model: model)) }
}

@Test func theCacheEvictsTheLeastRecentlyUsedAndNeverOneInUse() throws {
    let (model, modelPath) = try tinyModel()
    let directory = try tinyAdapterDirectory()
    defer { for path in [modelPath, directory] { try? FileManager.default.removeItem(atPath: path) } }
    let base = LoRABase(model: model)
    let size = try AdapterDirectory(path: directory).load("a", base: base).byteCount
    let cache = AdapterCache(source: AdapterDirectory(path: directory), base: base, budget: 2 * size)
    do { _ = try cache.acquire("a") }
    do { _ = try cache.acquire("b") }
    do { _ = try cache.acquire("a") }  // a is now the most recent
    #expect(cache.cached == ["a", "b"] && cache.loads == 2 && cache.bytes == 2 * size)
    do { _ = try cache.acquire("c") }
    #expect(cache.cached == ["a", "c"] && cache.loads == 3)
    // Held adapters stay, even past the budget; the excess goes as soon as a lease ends.
    let heldA = try cache.acquire("a")
    let heldC = try cache.acquire("c")
    let heldD = try cache.acquire("d")
    #expect(cache.cached == ["a", "c", "d"] && cache.bytes == 3 * size)
    #expect(heldA.adapter.name == "a" && heldD.adapter.name == "d")
    _ = heldC
    withExtendedLifetime(heldA) {}
    #expect(cache.cached.count == 3)
    withExtendedLifetime(heldD) {}
    #expect(throws: LoRAError.unknownAdapter("zz")) { try cache.acquire("zz") }
    let tiny = AdapterCache(source: AdapterDirectory(path: directory), base: base, budget: size - 1)
    #expect(throws: LoRAError.tooLarge("a", size, size - 1)) { try tiny.acquire("a") }
    #expect(tiny.cached.isEmpty)
}

@Test func leasesThatEndLetTheCacheShrinkBackToItsBudget() throws {
    let (model, modelPath) = try tinyModel()
    let directory = try tinyAdapterDirectory()
    defer { for path in [modelPath, directory] { try? FileManager.default.removeItem(atPath: path) } }
    let base = LoRABase(model: model)
    let size = try AdapterDirectory(path: directory).load("a", base: base).byteCount
    let cache = AdapterCache(source: AdapterDirectory(path: directory), base: base, budget: size)
    var leases = [try cache.acquire("a"), try cache.acquire("b")]
    #expect(cache.bytes == 2 * size)
    leases.removeFirst()
    #expect(cache.cached == ["b"] && cache.bytes == size)
    leases.removeAll()
    #expect(cache.cached == ["b"])
}

@Test func concurrentRequestsForAColdAdapterLoadItOnce() throws {
    let (model, modelPath) = try tinyModel()
    let directory = try tinyAdapterDirectory()
    defer { for path in [modelPath, directory] { try? FileManager.default.removeItem(atPath: path) } }
    let source = GatedSource(AdapterDirectory(path: directory))
    let cache = AdapterCache(source: source, base: LoRABase(model: model), budget: 1 << 30)
    let names = Mutex<[String]>([])
    let group = DispatchGroup()
    for _ in 0..<5 {
        group.enter()
        Thread {
            if let lease = try? cache.acquire("b") { names.withLock { $0.append(lease.adapter.name) } }
            group.leave()
        }.start()
    }
    source.entered.wait()
    // Every other request is parked on the first one's load before the load may finish.
    while cache.waiters < 4 { sched_yield() }
    source.gate.signal()
    group.wait()
    #expect(names.withLock { $0 } == Array(repeating: "b", count: 5))
    #expect(cache.loads == 1)
}
