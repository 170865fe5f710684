/// The pure protocol state machines, re-exported so that `import P2P` brings the whole libp2p stack.
@_exported import P2PProtocols
