import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import LightClient
import Runtime
import SQLite
import Synchronization

/// An attester: follows the verified chain, finds the claims each block submitted (`ClaimWatch`), judges them against
/// its own copies of the snapshots (`ClaimVerifier`), and attests the correct ones or challenges the first fraud with
/// its proof; a claim it cannot verify (a snapshot it does not hold) is logged and left alone.
///
/// The last block it judged and what it did are kept in SQLite (`DIR/attester.sqlite`), so a restart goes on where it
/// stopped and never acts twice on one claim; the ledger refuses a second attestation anyway.
public final class ClaimAttester: Service {
    /// What the attester did about one claim.
    public struct Decision: Sendable, Equatable {
        /// The claim.
        public var claimID: UInt256
        /// "attested", "challenged", "abstained" or "failed".
        public var action: String
        /// Why, for a challenge, abstention or failure.
        public var detail: String
    }

    /// "attester".
    public let name = "attester"
    private let light: LightClient
    private let key: Secp256k1PrivateKey
    private let snapshots: [[UInt8]: AnswerAttribution.Snapshot]
    private let parameters: AttributionParameters
    private let database: Database
    private let logger: Logger
    private let pollSeconds: Double
    private let caller: ContractCaller
    private let reexecution: Reexecution?
    private let loop = Mutex<PeriodicThread?>(nil)
    private let busy = Mutex<Void>(())
    private let counts = Mutex<(attested: Int, challenged: Int)>((0, 0))

    /// Claims attested and challenged since the attester was made.
    public var decided: (attested: Int, challenged: Int) { counts.withLock { $0 } }

    /// An attester signing with `key` (staked as an attester), judging against `snapshots` under `parameters`, with
    /// its state at `path`.
    public init(
        light: LightClient, key: Secp256k1PrivateKey, snapshots: [AnswerAttribution.Snapshot],
        parameters: AttributionParameters, path: String, logger: Logger, pollSeconds: Double = 1,
        reexecution: Reexecution? = nil
    ) throws(SQLiteError) {
        self.reexecution = reexecution
        self.light = light
        self.key = key
        self.snapshots = Dictionary(snapshots.map { ($0.root, $0) }, uniquingKeysWith: { first, _ in first })
        self.parameters = parameters
        self.logger = logger
        self.pollSeconds = pollSeconds
        database = try Database(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS progress (id INTEGER PRIMARY KEY CHECK (id = 1), block INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS decisions (claim_id TEXT PRIMARY KEY, action TEXT NOT NULL, detail TEXT NOT NULL,
                block INTEGER NOT NULL);
            """)
        caller = ContractCaller(
            client: light, key: key, contract: AttributionClaims.defaultAddress,
            signature: { AttributionClaims.method(named: $0)?.signature })
    }

    /// Starts following the chain on a thread of its own, from the block after the last one judged (or from the
    /// current head on a first start).
    public func start() throws(NodeError) {
        let thread = PeriodicThread(name: "attester", every: pollSeconds, immediately: true) { [self] in _ = pass() }
        loop.withLock { $0 = thread }
    }

    /// Ends the thread after the block in progress.
    public func stop() {
        loop.withLock { $0 }?.stop()
    }

    /// Judges every verified block after the last one judged, up to the head; returns what it decided.
    @discardableResult
    public func pass(fromBlock first: UInt64? = nil) -> [Decision] {
        busy.withLock { _ in
            var decisions: [Decision] = []
            do {
                let head = try light.syncHead()
                let stored = try database.first("SELECT block FROM progress WHERE id = 1")?[0].integer.map(UInt64.init)
                var number = first ?? stored.map { $0 + 1 } ?? head.number
                while number <= head.number, !(loop.withLock { $0 }?.isStopping ?? false) {
                    decisions += try judge(block: number)
                    try database.query(
                        "INSERT OR REPLACE INTO progress (id, block) VALUES (1, ?)", [.integer(Int64(number))])
                    number += 1
                }
            } catch {
                logger.warning("attester pass failed", ["error": "\(error)"])
            }
            return decisions
        }
    }

    private func judge(block number: UInt64) throws -> [Decision] {
        let (block, _) = try light.block(number)
        let (receipts, _) = try light.receipts(ofBlock: number)
        var decisions: [Decision] = []
        let me = WalletKeyFile.address(of: key)
        for submitted in ClaimWatch.submittedClaims(in: block, receipts: receipts) where submitted.claimant != me {
            let id = submitted.claimId
            guard
                try database.first("SELECT 1 FROM decisions WHERE claim_id = ?", [.text(id.description)]) == nil
            else { continue }
            let decision: Decision
            switch ClaimVerifier.judge(claim: submitted.items, snapshots: snapshots, parameters: parameters) {
            case .attest:
                var identical = 0
                var unavailable = 0
                var mismatch: Int?
                if let reexecution {
                    for (index, item) in submitted.items.enumerated() where mismatch == nil {
                        switch reexecution.run(item, claimant: submitted.claimant) {
                        case .identical: identical += 1
                        case .unavailable(let why):
                            unavailable += 1
                            logger.debug("not re-executed", ["claim": "\(id)", "item": "\(index)", "reason": why])
                        case .mismatch(let expected, let recomputed):
                            mismatch = index
                            logger.error(
                                "inference mismatch",
                                [
                                    "claim": "\(id)", "item": "\(index)", "claimant": "\(submitted.claimant)",
                                    "receipt_response_hash": Hex.encode(expected),
                                    "recomputed_response_hash": Hex.encode(recomputed),
                                ])
                        }
                    }
                }
                if let mismatch {
                    decision = Decision(
                        claimID: id, action: "mismatch",
                        detail: "item \(mismatch): the re-executed answer differs from the receipt's")
                } else {
                    let replayed =
                        reexecution == nil ? "" : "; re-executed \(identical) identical, \(unavailable) unavailable"
                    decision = act(id, "attested", "every answer's attribution recomputed and equal\(replayed)") {
                        () throws(NodeError) in
                        _ = try caller.submit("attest", data: try caller.calldata("attest", [.uint(id)]))
                    }
                }
            case .challenge(let item, let kind, let evidence):
                let itemData = submitted.items[item].encoded
                decision = act(id, "challenged", "item \(item): \(kind)") { () throws(NodeError) in
                    _ = try caller.submit(
                        "challenge",
                        data: try caller.calldata(
                            "challenge",
                            [
                                .uint(id), .uint(UInt256(item)), .uint(UInt256(kind.rawValue)), .bytes(itemData),
                                .bytes(evidence.encoded),
                            ]))
                }
            case .abstain(let item, let reason):
                decision = Decision(claimID: id, action: "abstained", detail: "item \(item): \(reason)")
            }
            try database.query(
                "INSERT OR REPLACE INTO decisions (claim_id, action, detail, block) VALUES (?, ?, ?, ?)",
                [.text(id.description), .text(decision.action), .text(decision.detail), .integer(Int64(number))])
            counts.withLock {
                if decision.action == "attested" { $0.attested += 1 }
                if decision.action == "challenged" { $0.challenged += 1 }
            }
            logger.info(
                "claim judged", ["claim": "\(id)", "action": decision.action, "detail": decision.detail])
            decisions.append(decision)
        }
        return decisions
    }

    /// Sends the attestation or challenge; its failure is a decision too (logged, not retried).
    private func act(_ id: UInt256, _ action: String, _ detail: String, _ send: () throws(NodeError) -> Void)
        -> Decision
    {
        do {
            try send()
            return Decision(claimID: id, action: action, detail: detail)
        } catch {
            logger.warning("\(action) failed", ["claim": "\(id)", "error": error.description])
            return Decision(claimID: id, action: "failed", detail: "\(action): \(error.description)")
        }
    }
}
