// swift-tools-version:6.0
import PackageDescription

// Builds on Linux only: the event loop is epoll, and the C libraries come from Debian -dev packages.
let package = Package(
    name: "openledger",
    products: [
        .executable(name: "openledger", targets: ["openledger"]),
        .library(name: "Crypto", targets: ["Crypto"]),
        .library(name: "Codec", targets: ["Codec"]),
        .library(name: "Chain", targets: ["Chain"]),
    ],
    targets: [
        // C libraries from Debian -dev packages, each declared once.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        .systemLibrary(
            name: "CDivSufSort",
            pkgConfig: "libdivsufsort",
            providers: [.apt(["libdivsufsort-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),

        // Time, seeded randomness and structured logs, injected into everything above. No dependencies.
        .target(name: "Runtime"),
        // The one memory-mapped file type and the one atomic file writer.
        .target(name: "FileIO"),
        // Hashes, keys, signatures, AEAD.
        .target(name: "Crypto", dependencies: ["CSodium", "CSecp256k1", "COpenSSL"]),
        // epoll and sockets for the event loops (Glibc does not export epoll).
        .target(name: "CEventLoop"),
        // The one epoll event loop (readiness handlers, timers, cross-thread jobs) and the one syscall helper.
        .target(name: "EventLoop", dependencies: ["CEventLoop", "Runtime"]),
        // HTTP/1.1 server on one epoll loop thread, with bounded buffers and timeouts.
        .target(name: "HTTP", dependencies: ["EventLoop", "Runtime"]),
        // SQLite behind Swift types that own their handles.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // Hex, RLP, ABI, EIP-712, protobuf wire, multiformats.
        .target(name: "Codec", dependencies: ["Crypto"]),

        // The Proof of Attribution rules (PoA-SA v1): snapshot Merkle tree, proof format, credit arithmetic,
        // verifier and the one-witness fraud checks. Pure: no files, clocks, randomness or threads.
        .target(name: "AttributionRules", dependencies: ["Crypto", "Codec"]),

        // Pure L2 rules: trie, blocks, transactions, state transition, predeploys. No IO.
        .target(name: "Chain", dependencies: ["Crypto", "Codec", "AttributionRules"]),

        // The devnet sequencer: SQLite persistence, mempool, block production, Ethereum JSON-RPC.
        .target(name: "ChainNode", dependencies: ["Chain", "Codec", "Crypto", "SQLite", "HTTP", "Runtime"]),

        // Proof of Attribution (PoA-SA v1): the suffix-array index, its shard files, and the search for spans.
        .target(
            name: "Attribution",
            dependencies: ["AttributionRules", "Codec", "Crypto", "FileIO", "CDivSufSort", "CAttributionKernels"]),
        // Batched suffix-array searches with prefetching, and the index checksum (XXH64).
        .target(name: "CAttributionKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // libp2p protocols as pure state machines: multistream-select, Noise, Yamux, identify, ping, and the
        // connection upgrade that sequences them. No sockets, threads, clocks or randomness: all are inputs.
        // Compiled optimized even in debug builds: its tests move megabytes through Noise and Yamux.
        .target(
            name: "P2PProtocols", dependencies: ["Crypto", "Codec", "Runtime"], swiftSettings: [.unsafeFlags(["-O"])]),
        // libp2p's socket host: the IO shell over P2PProtocols (which it re-exports).
        // Compiled optimized even in debug builds: its tests move tens of megabytes through real sockets.
        .target(
            name: "P2P", dependencies: ["P2PProtocols", "EventLoop", "Crypto", "Codec"],
            swiftSettings: [.unsafeFlags(["-O"])]),
        // LLM inference: GGUF models, BPE tokenizer, llama-family forward pass, samplers.
        // Its kernels are compiled optimized even in debug builds, so that tests run the real model in seconds.
        .target(
            name: "Inference", dependencies: ["CInferenceKernels", "Runtime", "FileIO"],
            swiftSettings: [.unsafeFlags(["-O"])]),
        // Quantized dot products (AVX2 with a portable twin giving identical results).
        .target(name: "CInferenceKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // LoRA fine-tuning on the CPU: forward and backward through the frozen, quantized base model, AdamW,
        // checkpoints, adapters written as GGUF-LoRA and PEFT, gradient attribution.
        // Compiled optimized even in debug builds, so that tests train the real model in seconds.
        .target(
            name: "Training",
            dependencies: ["CTrainingKernels", "CInferenceKernels", "Inference", "Runtime", "FileIO", "Crypto"],
            swiftSettings: [.unsafeFlags(["-O"])]),
        // f32 and f64 matrix products for training, and products with quantized weight blocks (AVX-512 and portable).
        .target(name: "CTrainingKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // A light client of the L2: verified heads, proofs, receipts; never trusts the server.
        .target(name: "LightClient", dependencies: ["Chain", "Codec", "Crypto", "HTTP", "SQLite", "Runtime"]),

        // The simulator's one C helper: a cache prefetch hint.
        .target(name: "CSimulatorKernels"),
        // The deterministic discrete-event simulator: thousands of real gossipsub routers on a seeded simulated
        // network (latency, bandwidth, loss, partitions, churn, byzantine peers). Pure: no clocks, threads or IO.
        // Compiled optimized even in debug builds: its tests run hundreds of routers.
        .target(
            name: "Simulator", dependencies: ["P2PProtocols", "Runtime", "Codec", "Crypto", "CSimulatorKernels"],
            // One thread owns a simulation: the engine's class state needs no dynamic exclusivity checks.
            swiftSettings: [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]),

        // The content store: UnixFS blobs as verified blocks (LZ4 where it pays) indexed in SQLite, pins, quota, GC.
        .target(name: "Content", dependencies: ["Codec", "Crypto", "SQLite", "FileIO", "Runtime", "CLZ4"]),

        // The composition root: data directory, configuration, logging setup, the service lifecycle, and the
        // OpenAI-compatible API over the inference engine (Sources/Node/OpenAI).
        .target(
            name: "Node",
            dependencies: [
                "Runtime", "FileIO", "Chain", "ChainNode", "LightClient", "P2P", "HTTP", "Codec", "Crypto", "Inference",
                "Content", "Attribution", "AttributionRules",
            ]),

        .executableTarget(
            name: "openledger",
            dependencies: [
                "Node", "Runtime", "FileIO", "Crypto", "Codec", "Chain", "ChainNode", "HTTP", "LightClient",
                "Attribution", "P2P", "Inference", "Simulator", "Content", "Training", "EventLoop",
            ]),

        // Locates shared vectors and interop fixtures; used by tests only.
        .target(name: "TestSupport", dependencies: ["Runtime"], path: "Tests/TestSupport"),
        .testTarget(name: "ArchitectureTests", dependencies: ["TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"]),
        .testTarget(name: "FileIOTests", dependencies: ["FileIO", "TestSupport"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "Codec", "TestSupport"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Crypto", "TestSupport"]),
        .testTarget(
            name: "ChainTests",
            dependencies: ["Chain", "AttributionRules", "Attribution", "Codec", "Crypto", "TestSupport"]),
        .testTarget(
            name: "ChainNodeTests",
            dependencies: ["ChainNode", "Chain", "Codec", "Crypto", "HTTP", "Runtime", "TestSupport"]),
        .testTarget(
            name: "LightClientTests",
            dependencies: ["LightClient", "ChainNode", "Chain", "Codec", "Crypto", "HTTP", "Runtime", "TestSupport"]),
        .testTarget(
            name: "AttributionRulesTests",
            dependencies: ["AttributionRules", "Attribution", "Codec", "Crypto", "TestSupport"]),
        .testTarget(
            name: "AttributionTests",
            dependencies: ["Attribution", "AttributionRules", "CAttributionKernels", "Codec", "TestSupport"]),
        .testTarget(
            name: "P2PProtocolsTests", dependencies: ["P2PProtocols", "Crypto", "Codec", "Runtime", "TestSupport"]),
        .testTarget(
            name: "P2PTests", dependencies: ["P2P", "P2PProtocols", "Crypto", "Codec", "Runtime", "TestSupport"]),
        .testTarget(
            name: "SimulatorTests", dependencies: ["Simulator", "P2PProtocols", "Codec", "Runtime", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "CInferenceKernels", "TestSupport"]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "CTrainingKernels", "Inference", "TestSupport"]),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "Runtime", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Runtime", "TestSupport"]),
        .testTarget(name: "ContentTests", dependencies: ["Content", "Codec", "SQLite", "Runtime", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["openledger", "P2P", "TestSupport"]),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "Node", "Runtime", "FileIO", "Chain", "Codec", "Crypto", "LightClient", "P2P", "Inference", "HTTP",
                "Attribution", "AttributionRules", "TestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
