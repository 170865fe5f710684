import Chain
import Codec
import Crypto
import Foundation
import LightClient
import Runtime

/// Paid serving put together: the wallet key, the serving ledger, the light client following the ledger, the proven
/// channel cache kept fresh by the head follower, and the gate over them.
public enum PaidServingSetup {
    /// The pieces a paid `serve` runs: the gate the API consults and the service that keeps channels proven.
    public struct Parts: Sendable {
        /// The payment gate.
        public let gate: PaymentGate
        /// Follows the head and proves the cached channels again at each new one; start it before serving.
        public let follower: HeadFollowService
        /// Claims the receipts (nil when claiming is off).
        public let claims: ClaimService?
        /// The light client the gate, the follower and the claims read the ledger through.
        public let light: LightClient
    }

    /// Builds paid serving on `directory` (its `wallet.key` and `serving.sqlite`) against the ledger at `rpcURL`, verified with `configuration`'s trust root.
    ///
    /// Fails with the reason when the key is missing or the ledger cannot be reached and verified. The ledger is read
    /// through `light` when given (a node shares one light client), else through a new client of `rpcURL`; each new
    /// head the follower verifies also goes to `onHead`.
    public static func make(
        configuration: NodeConfiguration, rpcURL: String, directory: DataDirectory, defaultPrice: ServingPrice,
        prices: [String: ServingPrice], adapterIDs: [String: UInt256], claimPolicy: ClaimService.Policy?,
        logger: Logger, clock: any Clock = SystemClock(), light: LightClient? = nil,
        onHead: @escaping @Sendable (VerifiedHeader) -> Void = { _ in }
    ) throws(NodeError) -> Parts {
        let key = try WalletKeyFile.load(at: directory.walletKey)
        let payee = WalletKeyFile.address(of: key)
        let client: LightClient
        if let light {
            client = light
        } else {
            client = try LightClientFactory.client(configuration: configuration, rpcURL: rpcURL)
        }
        do {
            _ = try client.syncHead()
        } catch {
            throw .lightClientUnavailable(reason: PaymentSetupError.ledgerUnavailable("\(rpcURL): \(error)"))
        }
        let ledger: ServingLedger
        do {
            try directory.create()
            ledger = try ServingLedger(path: directory.servingStore)
        } catch {
            throw .serviceFailed(service: "payments", reason: error)
        }
        let cache = ChannelCache(reader: client, clock: clock)
        let gate: PaymentGate
        do {
            gate = try PaymentGate(
                terms: .init(
                    payee: payee, chainId: configuration.network.chainId, defaultPrice: defaultPrice, prices: prices,
                    adapterIDs: adapterIDs),
                key: key, ledger: ledger, channels: cache, clock: clock)
        } catch {
            throw .serviceFailed(service: "payments", reason: error)
        }
        let follower = HeadFollowService(client: client, intervalMilliseconds: 1_000, logger: logger) { head in
            onHead(head)
            let failed = cache.refresh()
            if failed > 0 { logger.warning("channels not proven again", ["failed": "\(failed)"]) }
        }
        let claims = claimPolicy.map {
            ClaimService(
                ledger: ledger, light: client, key: key, policy: $0, logger: logger.with(["service": "claims"]),
                clock: clock)
        }
        return Parts(gate: gate, follower: follower, claims: claims, light: client)
    }
}
