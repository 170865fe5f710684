#!/usr/bin/env python3
"""A real wallet through a whole attribution claim's life on a running devnet: web3.py, eth-account and pyrlp only.

Usage: economy_wallet.py --rpc http://127.0.0.1:PORT
Contributes records to a Datanet, publishes an adapter, stakes a serving peer and two attesters, pays by an eth-account
EIP-712 voucher, signs the peer's EIP-712 receipt, builds the PoA-SA v1 proof of the answer itself (snapshot tree and
credit arithmetic written from DESIGN.md §8 and docs/economy.md, independently of the Swift code), submits the claim,
attests, finalizes and withdraws the rewards; then submits a second claim with one contributor's weight inflated,
challenges it with the wrong-arithmetic fraud proof and checks the slash. Every balance is checked to the wei.
Exits 1 on failure.
"""
import argparse

import rlp
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from wallet_devnet import CHANNELS, DATANETS, MNEMONIC, MODELS, Wallet, check, event, fn, snapshot_root

STAKING = "0x4200000000000000000000000000000000000104"
CLAIMS = "0x4200000000000000000000000000000000000105"
CHAIN_ID = 16120033
OPEN = 10**18
SCALE = 10**18
L, K = 32, 4
SPLIT = {"burn": 1000, "servingPeer": 3000, "adapterOwner": 2000, "dataContributors": 4000}
BOND = 100 * OPEN
PENALTY_BPS = 1000

STAKING_ABI = [
    fn("stake", [("role", "uint8")], ["uint256"], "payable"),
    fn("stakeOf", [("staker", "address"), ("role", "uint8")], ["uint256", "uint256", "uint256", "uint64"], "view"),
]
CLAIMS_ABI = [
    fn("submitClaim", [("claim", "bytes")], ["uint256"]),
    fn("attest", [("claimId", "uint256")]),
    fn("challenge", [("claimId", "uint256"), ("item", "uint64"), ("kind", "uint8"), ("itemData", "bytes"),
                     ("evidence", "bytes")]),
    fn("finalize", [("claimId", "uint256")]),
    fn("withdrawRewards", [], ["uint256"]),
    fn("rewardsOf", [("owner", "address")], ["uint256"], "view"),
    fn("getClaim", [("claimId", "uint256")],
       ["address", "uint8", "uint64", "uint64", "uint256", "uint64", "uint256", "uint256", "uint256", "uint64"], "view"),
    event("ClaimSubmitted", [("claimId", "uint256", True), ("claimant", "address", True), ("items", "uint64", False),
                             ("fees", "uint256", False), ("windowEnds", "uint64", False)]),
]
DATANET_ABI = [
    fn("createDatanet", [("name", "string"), ("metadataCID", "bytes"), ("curated", "bool"), ("curators", "address[]")],
       ["uint256"]),
    fn("contribute", [("datanetId", "uint256"), ("count", "uint64"), ("batchCID", "bytes"), ("leavesRoot", "bytes32"),
                      ("recordHashes", "bytes32[]")], ["uint256"]),
    fn("snapshotRoot", [("datanetId", "uint256")], ["bytes32"], "view"),
    fn("committedRoot", [("snapshotRoot", "bytes32")], ["uint256"], "view"),
]
MODEL_ABI = [
    fn("registerBaseModel", [("ggufHash", "bytes32"), ("architecture", "string"), ("tokenizerHash", "bytes32")],
       ["uint256"]),
    fn("publishAdapter", [("cid", "bytes"), ("baseModelId", "uint256"), ("datanetRoots", "bytes32[]"),
                          ("pricePer1kTokens", "uint256")], ["uint256"]),
]
CHANNEL_ABI = [
    fn("open", [("payee", "address"), ("settleDelay", "uint64")], ["bytes32"], "payable"),
    fn("getChannel", [("channelId", "bytes32")], ["address", "address", "uint256", "uint256", "uint64", "uint64", "uint8"],
       "view"),
    event("ChannelOpened", [("channelId", "bytes32", True), ("payer", "address", True), ("payee", "address", True),
                            ("deposit", "uint256", False), ("settleDelay", "uint64", False)]),
]

ZERO = [bytes(32)]
for _ in range(32):
    ZERO.append(keccak(b"\x01" + ZERO[-1] + ZERO[-1]))


def u(n):
    """An RLP integer: minimal big-endian bytes, empty for zero."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def leaf(contributor, record):
    return keccak(b"\x00" + bytes.fromhex(contributor[2:]) + keccak(record))


def path(leaves, index):
    """The 32 siblings of leaf `index`, from the leaf up."""
    siblings, level = [], list(leaves)
    for depth in range(32):
        sibling = (index >> depth) ^ 1
        siblings.append(level[sibling] if sibling < len(level) else ZERO[depth])
        if len(level) % 2:
            level.append(ZERO[depth])
        level = [keccak(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return siblings


def text(seed, count):
    """Lower-case letters only: answers join record stretches with upper-case filler no record holds."""
    out = b""
    while len(out) < count:
        out += bytes(97 + b % 26 for b in keccak(seed + len(out).to_bytes(4, "big")))
    return out[:count]


def proof(records, response, chunks, inflate=0):
    """The PoA-SA v1 proof of `response` whose spans are the record stretches `chunks` (disjoint, one record each):
    w_r = floor(SCALE·len/n), W = floor(SCALE·covered/n), the remainder to the lowest credited record. Paths are in the
    claim's compact form (empty-subtree nodes as empty strings)."""
    leaves = [leaf(c, r) for c, r in records]
    n = len(response)
    spans, weights, covered = [], {}, 0
    for index, start, length in chunks:
        contributor, record = records[index]
        offset = record.find(response[start:start + length])
        compact = [b"" if node == ZERO[d] else node for d, node in enumerate(path(leaves, index))]
        spans.append([u(start), u(length), [[u(index), u(offset), bytes.fromhex(contributor[2:]), keccak(record), compact]]])
        weights[index] = SCALE * length // n
        covered += length
    weights[min(weights)] += SCALE * covered // n - sum(weights.values())
    by_contributor = {}
    for index, weight in weights.items():
        by_contributor[records[index][0].lower()] = by_contributor.get(records[index][0].lower(), 0) + weight
    ordered = sorted(by_contributor.items())
    if inflate:
        ordered[0] = (ordered[0][0], ordered[0][1] + inflate)
    root = snapshot_root(leaves)
    encoded = rlp.encode([u(1), root, u(len(records)), u(L), u(K), keccak(response), u(n), spans,
                          [[bytes.fromhex(a[2:]), u(w)] for a, w in ordered]])
    return encoded, dict(ordered), root


def sign_voucher(key, channel_id, cumulative, request_hash):
    domain = {"name": "OpenLedger PaymentChannels", "version": "1", "chainId": CHAIN_ID, "verifyingContract": CHANNELS}
    types = {"Voucher": [{"name": "channelId", "type": "bytes32"}, {"name": "cumulativeAmount", "type": "uint256"},
                         {"name": "requestHash", "type": "bytes32"}]}
    message = {"channelId": channel_id, "cumulativeAmount": cumulative, "requestHash": request_hash}
    return Account.sign_typed_data(key, domain, types, message).signature


RECEIPT_FIELDS = [("requestHash", "bytes32"), ("responseHash", "bytes32"), ("adapterId", "uint256"),
                  ("promptTokens", "uint64"), ("completionTokens", "uint64"), ("price", "uint256"),
                  ("temperatureMillis", "uint32"), ("topPMillis", "uint32"), ("topK", "uint32"), ("seed", "uint64"),
                  ("attributionRoot", "bytes32")]


def sign_receipt(key, receipt):
    domain = {"name": "OpenLedger AttributionClaims", "version": "1", "chainId": CHAIN_ID, "verifyingContract": CLAIMS}
    types = {"Receipt": [{"name": n, "type": t} for n, t in RECEIPT_FIELDS]}
    return Account.sign_typed_data(key, domain, types, receipt).signature


def item(payer, peer, channel_id, cumulative, receipt, response, proof_bytes):
    """An item's RLP fields: [channelId, cumulativeAmount, voucher signature, receipt, receipt signature, response,
    proof]. The receipt signs the proof it is claimed with: its attribution root is keccak256 of the proof bytes."""
    receipt = dict(receipt, attributionRoot=keccak(proof_bytes))
    fields = [receipt[n] if t == "bytes32" else u(receipt[n]) for n, t in RECEIPT_FIELDS]
    return [channel_id, u(cumulative), sign_voucher(payer.key, channel_id, cumulative, receipt["requestHash"]), fields,
            sign_receipt(peer.key, receipt), response, proof_bytes]


def send_refused(wallet, function):
    """Sends a call the chain refuses (no gas estimate, which would fail) and returns its receipt, status 0."""
    w3 = wallet.w3
    tx = {"to": function.address, "data": function._encode_transaction_data(), "value": 0, "type": 2, "gas": 2_000_000,
          "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(wallet.account.address, "pending"),
          "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
    tx_hash = w3.eth.send_raw_transaction(wallet.account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)
    check(receipt["status"] == 0, f"transaction {tx_hash.hex()} was refused")
    return receipt


def fee_of(receipt):
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rpc", required=True)
    args = parser.parse_args()
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
    wallets = [Wallet(w3, a) for a in keys]
    payer, peer, attester_a, attester_b = wallets[0], wallets[1], wallets[2], wallets[3]
    contributors, owner, challenger, anyone = wallets[4:7], wallets[7], wallets[8], wallets[9]
    staking = w3.eth.contract(address=STAKING, abi=STAKING_ABI)
    claims = w3.eth.contract(address=CLAIMS, abi=CLAIMS_ABI)
    datanets = w3.eth.contract(address=DATANETS, abi=DATANET_ABI)
    models = w3.eth.contract(address=MODELS, abi=MODEL_ABI)
    channels = w3.eth.contract(address=CHANNELS, abi=CHANNEL_ABI)

    # The snapshot: two records from each of three contributors, in an open Datanet.
    contributors[0].call(datanets.functions.createDatanet("economy", b"bafy-meta", False, []))
    records = []
    for number, contributor in enumerate(contributors):
        batch = [(contributor.account.address, text(b"economy record %d" % (2 * number + i), 200)) for i in range(2)]
        hashes = [keccak(r) for _, r in batch]
        contributor.call(datanets.functions.contribute(1, 2, b"bafy-batch", snapshot_root([leaf(c, r) for c, r in batch]),
                                                       hashes))
        records += batch
    root = snapshot_root([leaf(c, r) for c, r in records])
    check(datanets.functions.snapshotRoot(1).call() == root, "snapshot root equals the independent tree")
    check(datanets.functions.committedRoot(root).call() == 1, "the snapshot root is committed")

    owner.call(models.functions.registerBaseModel(keccak(b"gguf"), "llama", keccak(b"tokenizer")))
    owner.call(models.functions.publishAdapter(b"bafy-adapter", 1, [root], OPEN))

    # Stakes: the serving peer and two attesters.
    peer.call(staking.functions.stake(0), value=10_000 * OPEN)
    for attester in (attester_a, attester_b):
        attester.call(staking.functions.stake(1), value=5_000 * OPEN)
    check(staking.functions.stakeOf(peer.account.address, 0).call()[0] == 10_000 * OPEN, "serving peer staked")

    # Pay by voucher: a channel from the payer to the serving peer.
    receipt = payer.call(channels.functions.open(peer.account.address, 60), value=10 * OPEN)
    channel_id = channels.events.ChannelOpened().process_receipt(receipt)[0]["args"]["channelId"]

    # The answer: two record stretches (records 0 and 3: contributors 4 and 5) in upper-case filler.
    response = b"ANSWER-" + records[0][1][30:110] + b"-FILLER-" * 8 + records[3][1][50:130] + b"-END-" * 4
    start_a = 7
    start_b = start_a + 80 + 64
    check(response[start_b:start_b + 80] == records[3][1][50:130], "the answer's layout")
    chunks = [(0, start_a, 80), (3, start_b, 80)]
    honest_proof, weights, _ = proof(records, response, chunks)
    price = OPEN + 7
    receipt_fields = {"requestHash": keccak(b"economy request 1"), "responseHash": keccak(response), "adapterId": 1,
                      "promptTokens": 12, "completionTokens": 40, "price": price, "temperatureMillis": 700,
                      "topPMillis": 950, "topK": 40, "seed": 1}
    first = item(keys[0], keys[1], channel_id, price, receipt_fields, response, honest_proof)
    receipt = peer.call(claims.functions.submitClaim(rlp.encode([first])))
    claim_id = claims.events.ClaimSubmitted().process_receipt(receipt)[0]["args"]["claimId"]
    check(claims.functions.getClaim(claim_id).call()[6] == price, "the claim escrows the voucher's increment")
    check(w3.eth.get_balance(CLAIMS) == price, "the escrow holds it")

    # The correct claim survives a wrong-arithmetic challenge: the challenger pays its gas and nothing else moves.
    challenger_before = w3.eth.get_balance(challenger.account.address)
    stake_before = staking.functions.stakeOf(peer.account.address, 0).call()
    receipt = send_refused(challenger, claims.functions.challenge(claim_id, 0, 3, rlp.encode(first), rlp.encode([])))
    check(w3.eth.get_balance(challenger.account.address) == challenger_before - fee_of(receipt),
          "a failed challenge costs only the challenger's gas")
    check(claims.functions.getClaim(claim_id).call()[1] == 1, "the correct claim is still pending")
    check(staking.functions.stakeOf(peer.account.address, 0).call() == stake_before, "and its bond untouched")

    attester_a.call(claims.functions.attest(claim_id))
    attester_b.call(claims.functions.attest(claim_id))
    anyone.call(claims.functions.finalize(claim_id))
    check(claims.functions.getClaim(claim_id).call()[1] == 2, "quorum finalized the claim")

    # The split, every floor's remainder to its named recipient.
    burn = price * SPLIT["burn"] // 10_000
    serving = price * SPLIT["servingPeer"] // 10_000
    adapter = price * SPLIT["adapterOwner"] // 10_000
    data = price - burn - serving - adapter
    shares = {address: data * weight // SCALE for address, weight in weights.items()}
    adapter += data - sum(shares.values())
    expected = dict(shares)
    expected[peer.account.address.lower()] = serving
    expected[owner.account.address.lower()] = adapter
    for wallet in [peer, owner] + contributors[:2]:
        address = wallet.account.address
        check(claims.functions.rewardsOf(address).call() == expected[address.lower()], f"reward of {address} to the wei")
    check(w3.eth.get_balance(CLAIMS) == price - burn, "finalization burned the burn share")
    for wallet in contributors[:2] + [owner]:
        address = wallet.account.address
        before = w3.eth.get_balance(address)
        receipt = wallet.call(claims.functions.withdrawRewards())
        check(w3.eth.get_balance(address) == before + expected[address.lower()] - fee_of(receipt),
              f"{address} withdrew its reward to the wei")
    check(claims.functions.rewardsOf(contributors[2].account.address).call() == 0, "an uncredited contributor gets nothing")

    # A second claim inflates contributor 4's weight; the wrong-arithmetic fraud proof slashes it.
    inflated_proof, _, _ = proof(records, response, chunks, inflate=10**16)
    price2 = OPEN // 2
    receipt_fields = dict(receipt_fields, requestHash=keccak(b"economy request 2"), price=price2, seed=2)
    second = item(keys[0], keys[1], channel_id, price + price2, receipt_fields, response, inflated_proof)
    receipt = peer.call(claims.functions.submitClaim(rlp.encode([second])))
    wrong_id = claims.events.ClaimSubmitted().process_receipt(receipt)[0]["args"]["claimId"]
    attester_a.call(claims.functions.attest(wrong_id))
    stake_before = staking.functions.stakeOf(peer.account.address, 0).call()
    attester_before = staking.functions.stakeOf(attester_a.account.address, 1).call()
    challenger_before = w3.eth.get_balance(challenger.account.address)
    receipt = challenger.call(claims.functions.challenge(wrong_id, 0, 3, rlp.encode(second), rlp.encode([])))
    check(claims.functions.getClaim(wrong_id).call()[1] == 3, "the challenge voided the claim")
    check(w3.eth.get_balance(challenger.account.address) == challenger_before + BOND // 2 - fee_of(receipt),
          "the challenger got half the bond, to the wei")
    stake_after = staking.functions.stakeOf(peer.account.address, 0).call()
    check(stake_after[0] == stake_before[0] - BOND and stake_after[1] == stake_before[1] - BOND,
          "the bond was slashed and released")
    check(staking.functions.stakeOf(attester_a.account.address, 1).call()[0]
          == attester_before[0] - 5_000 * OPEN * PENALTY_BPS // 10_000, "the attester lost its share")
    channel = channels.functions.getChannel(channel_id).call()
    check(channel[2] == 10 * OPEN + price2 and channel[3] == price + price2, "the fee went back to the payer's channel")
    check(w3.eth.get_balance(CLAIMS) == price - burn - sum(expected[w.account.address.lower()]
                                                           for w in contributors[:2] + [owner]),
          "the escrow holds only the rewards not yet withdrawn")
    print("economy wallet checks passed")


if __name__ == "__main__":
    main()
