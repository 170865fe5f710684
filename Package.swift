// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "openledger",
    platforms: [.macOS(.v15)],
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
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),

        // Hashes, keys, signatures, AEAD.
        .target(name: "Crypto", dependencies: ["CSodium", "CSecp256k1"]),
        // Hex, RLP, ABI, EIP-712, protobuf wire, multiformats.
        .target(name: "Codec", dependencies: ["Crypto"]),

        // Pure L2 rules: trie, blocks, transactions, state transition, predeploys. No IO.
        .target(name: "Chain", dependencies: ["Crypto", "Codec"]),

        .executableTarget(name: "openledger", dependencies: ["Crypto", "Codec", "Chain"]),

        // Locates shared vectors and interop fixtures; used by tests only.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "Codec", "TestSupport"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Crypto", "TestSupport"]),
        .testTarget(name: "ChainTests", dependencies: ["Chain", "Codec", "Crypto", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["openledger"]),
    ],
    swiftLanguageModes: [.v6]
)
