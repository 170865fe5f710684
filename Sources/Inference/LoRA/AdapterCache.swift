import Foundation

/// Where adapters come from, by name: a directory today; the content network (an adapter's CID resolved from its
/// on-chain `ModelRegistry` record) is another conformance of the same seam.
public protocol AdapterSource: Sendable {
    /// The names this source can load, sorted.
    func names() -> [String]
    /// Reads the adapter called `name` and checks it against `base`.
    func load(_ name: String, base: LoRABase) throws(LoRAError) -> LoRAAdapter
    /// Whether a request may name `name` (it may still fail to load): a source that resolves names on demand
    /// accepts names it does not list.
    func accepts(_ name: String) -> Bool
}

extension AdapterSource {
    /// The listed names.
    public func accepts(_ name: String) -> Bool { names().contains(name) }
}

/// Every `*.gguf` GGUF-LoRA file and every PEFT folder (a folder holding `adapter_config.json`) of a directory,
/// named by file name without `.gguf`, or by folder name.
public struct AdapterDirectory: AdapterSource {
    /// The directory.
    public let path: String

    /// The adapters of the directory at `path`.
    public init(path: String) { self.path = path }

    /// The names of the directory's adapters (read each time, so files added later are found).
    public func names() -> [String] { entries().keys.sorted() }

    /// Reads the adapter `name` of the directory.
    public func load(_ name: String, base: LoRABase) throws(LoRAError) -> LoRAAdapter {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/") else { throw .unknownAdapter(name) }
        let folder = (path as NSString).appendingPathComponent(name)
        let file = folder + ".gguf"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue {
            return try LoRAAdapter.load(path: file, name: name, base: base)
        }
        let config = (folder as NSString).appendingPathComponent("adapter_config.json")
        guard FileManager.default.fileExists(atPath: config) else { throw .unknownAdapter(name) }
        return try LoRAAdapter.load(path: folder, name: name, base: base)
    }

    private func entries() -> [String: String] {
        let items = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var found: [String: String] = [:]
        for item in items where !item.hasPrefix(".") {
            let full = (path as NSString).appendingPathComponent(item)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                let config = (full as NSString).appendingPathComponent("adapter_config.json")
                if FileManager.default.fileExists(atPath: config) { found[item] = full }
            } else if item.hasSuffix(".gguf") {
                found[String(item.dropLast(5))] = full
            }
        }
        return found
    }
}

/// An adapter held for a running sequence: while a lease lives, the cache does not evict its adapter.
public final class AdapterLease: Sendable {
    /// The adapter.
    public let adapter: LoRAAdapter
    private let cache: AdapterCache

    init(adapter: LoRAAdapter, cache: AdapterCache) {
        self.adapter = adapter
        self.cache = cache
    }

    deinit { cache.release(adapter.name) }
}

/// Adapters loaded on first use into a byte budget, least recently used evicted first, never one a lease holds.
///
/// Concurrent requests for a cold adapter wait for one load.
///
/// When every cached adapter is in use, a new one is admitted over the budget (a running sequence is never
/// refused or broken for the cache's sake) and the excess is evicted as leases end.
public final class AdapterCache: @unchecked Sendable {
    /// Where adapters are loaded from.
    public let source: any AdapterSource
    /// The base model they are checked against.
    public let base: LoRABase
    /// The byte budget of the loaded adapters.
    public let budget: Int

    private struct Entry {
        let adapter: LoRAAdapter
        var users: Int
        var lastUse: UInt64
    }

    private let condition = NSCondition()
    private var entries: [String: Entry] = [:]
    private var loading: Set<String> = []
    private var clock: UInt64 = 0
    private var loadCount = 0
    private var hitCount = 0
    private var heldBytes = 0
    private var waiting = 0

    /// A cache over `source` for `base` holding at most `budget` bytes of adapters.
    public init(source: any AdapterSource, base: LoRABase, budget: Int) {
        self.source = source
        self.base = base
        self.budget = max(0, budget)
    }

    /// The adapter `name`, loaded if it is not cached, held until the lease is released.
    public func acquire(_ name: String) throws(LoRAError) -> AdapterLease {
        condition.lock()
        while true {
            if var entry = entries[name] {
                clock += 1
                entry.users += 1
                entry.lastUse = clock
                entries[name] = entry
                hitCount += 1
                condition.unlock()
                return AdapterLease(adapter: entry.adapter, cache: self)
            }
            if loading.contains(name) {
                waiting += 1
                condition.wait()
                waiting -= 1
                continue
            }
            break
        }
        loading.insert(name)
        condition.unlock()
        let result: Result<LoRAAdapter, LoRAError>
        do throws(LoRAError) {
            let adapter = try source.load(name, base: base)
            guard adapter.byteCount <= budget else { throw .tooLarge(name, adapter.byteCount, budget) }
            result = .success(adapter)
        } catch {
            result = .failure(error)
        }
        condition.lock()
        defer {
            loading.remove(name)
            condition.broadcast()
            condition.unlock()
        }
        switch result {
        case .failure(let error): throw error
        case .success(let adapter):
            loadCount += 1
            clock += 1
            entries[name] = Entry(adapter: adapter, users: 1, lastUse: clock)
            heldBytes += adapter.byteCount
            evict()
            return AdapterLease(adapter: adapter, cache: self)
        }
    }

    func release(_ name: String) {
        condition.lock()
        defer { condition.unlock() }
        guard var entry = entries[name] else { return }
        entry.users -= 1
        entries[name] = entry
        evict()
    }

    /// Drops least recently used adapters that no lease holds until the held bytes fit the budget.
    private func evict() {
        while heldBytes > budget {
            guard let victim = entries.filter({ $0.value.users == 0 }).min(by: { $0.value.lastUse < $1.value.lastUse })
            else { return }
            heldBytes -= victim.value.adapter.byteCount
            entries[victim.key] = nil
        }
    }

    /// The names the source knows.
    public var known: [String] { source.names() }

    /// Whether a request may name `name` (listed, or resolvable by the source on demand).
    public func accepts(_ name: String) -> Bool { source.accepts(name) }

    /// The names cached now, sorted.
    public var cached: [String] { condition.withLock { entries.keys.sorted() } }

    /// Bytes of the cached adapters.
    public var bytes: Int { condition.withLock { heldBytes } }

    /// Requests waiting for another request's load of the same adapter.
    var waiters: Int { condition.withLock { waiting } }

    /// Requests answered from the cache without a load.
    public var hits: Int { condition.withLock { hitCount } }

    /// Adapters loaded from the source so far (a cold load counts once, however many waited for it).
    public var loads: Int { condition.withLock { loadCount } }
}
