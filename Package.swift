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

        // Time, seeded randomness and structured logs, injected into everything above. No dependencies.
        .target(name: "Runtime"),
        // The one memory-mapped file type and the one atomic file writer.
        .target(name: "FileIO"),
        // Hashes, keys, signatures, AEAD.
        .target(name: "Crypto", dependencies: ["CSodium", "CSecp256k1"]),
        // epoll and sockets for the event loops (Glibc does not export epoll).
        .target(name: "CEventLoop"),
        // HTTP/1.1 server on one epoll loop thread, with bounded buffers and timeouts.
        .target(name: "HTTP", dependencies: ["CEventLoop"]),
        // SQLite behind Swift types that own their handles.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // Hex, RLP, ABI, EIP-712, protobuf wire, multiformats.
        .target(name: "Codec", dependencies: ["Crypto"]),

        // Pure L2 rules: trie, blocks, transactions, state transition, predeploys. No IO.
        .target(name: "Chain", dependencies: ["Crypto", "Codec"]),

        // The devnet sequencer: SQLite persistence, mempool, block production, Ethereum JSON-RPC.
        .target(name: "ChainNode", dependencies: ["Chain", "Codec", "Crypto", "SQLite", "HTTP"]),

        // Proof of Attribution (PoA-SA v1): suffix-array index, spans, credits. Pure logic.
        .target(name: "Attribution", dependencies: ["Chain", "Codec", "Crypto", "CDivSufSort", "CAttributionKernels"]),
        // Batched suffix-array searches with prefetching, and the index checksum (XXH64).
        .target(name: "CAttributionKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // libp2p: protocol state machines (Noise, …) and their IO shells.
        // Compiled optimized even in debug builds: its tests move tens of megabytes through real sockets.
        .target(name: "P2P", dependencies: ["CEventLoop", "Crypto", "Codec"], swiftSettings: [.unsafeFlags(["-O"])]),
        // LLM inference: GGUF models, BPE tokenizer, llama-family forward pass, samplers.
        // Its kernels are compiled optimized even in debug builds, so that tests run the real model in seconds.
        .target(
            name: "Inference", dependencies: ["CInferenceKernels", "Runtime", "FileIO"],
            swiftSettings: [.unsafeFlags(["-O"])]),
        // Quantized dot products (AVX2 with a portable twin giving identical results).
        .target(name: "CInferenceKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // A light client of the L2: verified heads, proofs, receipts; never trusts the server.
        .target(name: "LightClient", dependencies: ["Chain", "Codec", "Crypto", "HTTP", "SQLite"]),

        // The node's composition root: the OpenAI-compatible API (Sources/Node/OpenAI) over the inference engine.
        .target(name: "Node", dependencies: ["Inference", "HTTP", "Runtime"]),

        .executableTarget(
            name: "openledger",
            dependencies: [
                "Crypto", "Codec", "Chain", "ChainNode", "HTTP", "LightClient", "Attribution", "P2P", "Inference", "Node",
            ]),

        // Locates shared vectors and interop fixtures; used by tests only.
        .target(name: "TestSupport", dependencies: ["Runtime"], path: "Tests/TestSupport"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"]),
        .testTarget(name: "FileIOTests", dependencies: ["FileIO", "TestSupport"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "Codec", "TestSupport"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Crypto", "TestSupport"]),
        .testTarget(name: "ChainTests", dependencies: ["Chain", "Codec", "Crypto", "TestSupport"]),
        .testTarget(
            name: "ChainNodeTests", dependencies: ["ChainNode", "Chain", "Codec", "Crypto", "HTTP", "TestSupport"]),
        .testTarget(
            name: "LightClientTests",
            dependencies: ["LightClient", "ChainNode", "Chain", "Codec", "Crypto", "HTTP", "TestSupport"]),
        .testTarget(name: "AttributionTests", dependencies: ["Attribution", "CAttributionKernels", "Chain", "Codec", "TestSupport"]),
        .testTarget(name: "P2PTests", dependencies: ["P2P", "Crypto", "Codec", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "CInferenceKernels", "TestSupport"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "Inference", "HTTP", "Runtime", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["openledger", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
