#!/usr/bin/env python3
"""A real wallet against a running devnet: web3.py and eth-account, nothing of openledger's.

Usage: wallet_devnet.py --rpc http://127.0.0.1:PORT
Checks chain id and balances, an EIP-1559 transfer, Datanet creation/contribution/approval and adapter
publication through ABI-encoded transactions, their events through eth_getLogs, a payment channel redeemed with
an eth-account EIP-712 voucher, and eth_getProof of module storage verified with py-trie. Exits 1 on failure.
"""
import argparse, sys

import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie
from web3 import Web3

MNEMONIC = "test test test test test test test test test test test junk"
DATANETS = "0x4200000000000000000000000000000000000101"
MODELS = "0x4200000000000000000000000000000000000102"
CHANNELS = "0x4200000000000000000000000000000000000103"


def fn(name, inputs, outputs=(), mutability="nonpayable"):
    return {"type": "function", "name": name, "stateMutability": mutability,
            "inputs": [{"name": n, "type": t} for n, t in inputs], "outputs": [{"name": "", "type": t} for t in outputs]}


def event(name, inputs):
    return {"type": "event", "name": name, "anonymous": False,
            "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs]}


DATANET_ABI = [
    fn("createDatanet", [("name", "string"), ("metadataCID", "bytes"), ("curated", "bool"), ("curators", "address[]")], ["uint256"]),
    fn("contribute", [("datanetId", "uint256"), ("count", "uint64"), ("batchCID", "bytes"), ("leavesRoot", "bytes32"),
                      ("recordHashes", "bytes32[]")], ["uint256"]),
    fn("approveBatch", [("datanetId", "uint256"), ("batchId", "uint256")]),
    fn("snapshotRoot", [("datanetId", "uint256")], ["bytes32"], "view"),
    fn("snapshotSize", [("datanetId", "uint256")], ["uint64"], "view"),
    fn("batchStatus", [("datanetId", "uint256"), ("batchId", "uint256")], ["uint8"], "view"),
    event("DatanetCreated", [("datanetId", "uint256", True), ("owner", "address", True), ("name", "string", False),
                             ("metadataCID", "bytes", False), ("curated", "bool", False)]),
    event("BatchContributed", [("datanetId", "uint256", True), ("batchId", "uint256", True), ("contributor", "address", True),
                               ("count", "uint64", False), ("batchCID", "bytes", False), ("leavesRoot", "bytes32", False)]),
    event("BatchApproved", [("datanetId", "uint256", True), ("batchId", "uint256", True), ("firstLeaf", "uint64", False),
                            ("snapshotRoot", "bytes32", False)]),
]
MODEL_ABI = [
    fn("registerBaseModel", [("ggufHash", "bytes32"), ("architecture", "string"), ("tokenizerHash", "bytes32")], ["uint256"]),
    fn("publishAdapter", [("cid", "bytes"), ("baseModelId", "uint256"), ("datanetRoots", "bytes32[]"),
                          ("pricePer1kTokens", "uint256")], ["uint256"]),
    event("AdapterPublished", [("adapterId", "uint256", True), ("baseModelId", "uint256", True), ("owner", "address", True),
                               ("cid", "bytes", False), ("pricePer1kTokens", "uint256", False), ("datanetRoots", "bytes32[]", False)]),
]
CHANNEL_ABI = [
    fn("open", [("payee", "address"), ("settleDelay", "uint64")], ["bytes32"], "payable"),
    fn("redeem", [("channelId", "bytes32"), ("cumulativeAmount", "uint256"), ("requestHash", "bytes32"), ("signature", "bytes")]),
    fn("getChannel", [("channelId", "bytes32")], ["address", "address", "uint256", "uint256", "uint64", "uint64", "uint8"], "view"),
    event("ChannelOpened", [("channelId", "bytes32", True), ("payer", "address", True), ("payee", "address", True),
                            ("deposit", "uint256", False), ("settleDelay", "uint64", False)]),
]


def snapshot_root(leaves):
    """PoA-SA v1 snapshot root, written from DESIGN.md §8 independently of the Swift code."""
    zero = [bytes(32)]
    for _ in range(32):
        zero.append(keccak(b"\x01" + zero[-1] + zero[-1]))
    level = list(leaves)
    for depth in range(32):
        if len(level) % 2:
            level.append(zero[depth])
        level = [keccak(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)] or [zero[depth + 1]]
    return keccak(b"\x02" + level[0] + len(leaves).to_bytes(8, "big"))


class Wallet:
    def __init__(self, w3, account):
        self.w3, self.account = w3, account

    def send(self, tx):
        tx = dict(tx)
        tx.setdefault("value", 0)
        tx.update({"chainId": self.w3.eth.chain_id, "from": self.account.address,
                   "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                   "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9})
        tx["gas"] = self.w3.eth.estimate_gas(tx) + 50_000
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)
        check(receipt["status"] == 1, f"transaction {tx_hash.hex()} succeeded")
        return receipt

    def call(self, function, value=0):
        """Sends an ABI-encoded call of a contract function."""
        return self.send({"to": function.address, "data": function._encode_transaction_data(), "value": value, "type": 2})


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rpc", required=True)
    args = parser.parse_args()
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
    Account.enable_unaudited_hdwallet_features()
    accounts = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(4)]
    alice, bob, carol, dave = (Wallet(w3, a) for a in accounts)

    check(w3.eth.chain_id == 16120033, "chain id 16120033")
    check(accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "dev account 0 from the test mnemonic")
    check(w3.eth.get_balance(accounts[0].address) >= 999_000 * 10**18, "dev account 0 is funded")

    # A plain EIP-1559 transfer.
    stranger = to_checksum_address(keccak(b"stranger")[12:])
    receipt = alice.send({"to": stranger, "value": 12345, "type": 2})
    check(w3.eth.get_balance(stranger) == 12345, "EIP-1559 transfer arrived")
    check(receipt["type"] == 2 and receipt["gasUsed"] == 21000, "receipt of the transfer")

    # A curated Datanet: create, contribute, approve.
    datanets = w3.eth.contract(address=DATANETS, abi=DATANET_ABI)
    receipt = alice.call(datanets.functions.createDatanet("wallet-test", b"bafy-meta", True, [carol.account.address]))
    created = datanets.events.DatanetCreated().process_receipt(receipt)
    check(len(created) == 1, "DatanetCreated event")
    datanet_id = created[0]["args"]["datanetId"]
    records = [b"first record text", b"second record text", b"third record text"]
    hashes = [keccak(r) for r in records]
    leaves = [keccak(b"\x00" + bytes.fromhex(bob.account.address[2:]) + h) for h in hashes]
    receipt = bob.call(datanets.functions.contribute(datanet_id, 3, b"bafy-batch", snapshot_root(leaves), hashes))
    batch_id = datanets.events.BatchContributed().process_receipt(receipt)[0]["args"]["batchId"]
    check(datanets.functions.batchStatus(datanet_id, batch_id).call() == 1, "batch pending in a curated Datanet")
    carol.call(datanets.functions.approveBatch(datanet_id, batch_id))
    check(datanets.functions.snapshotSize(datanet_id).call() == 3, "approved batch appended")
    check(datanets.functions.snapshotRoot(datanet_id).call() == snapshot_root(leaves),
          "snapshot root equals an independent PoA-SA v1 tree")

    # A base model and an adapter trained on the Datanet.
    models = w3.eth.contract(address=MODELS, abi=MODEL_ABI)
    alice.call(models.functions.registerBaseModel(keccak(b"gguf"), "llama", keccak(b"tokenizer")))
    receipt = dave.call(models.functions.publishAdapter(b"bafy-adapter", 1, [snapshot_root(leaves)], 2000))
    check(len(models.events.AdapterPublished().process_receipt(receipt)) == 1, "AdapterPublished event")

    # The events again, through eth_getLogs.
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": DATANETS})
    topics = {log["topics"][0] for log in logs}
    for name in ("DatanetCreated", "BatchContributed", "BatchApproved"):
        signature = next(e for e in DATANET_ABI if e.get("name") == name)
        text = f"{name}({','.join(i['type'] for i in signature['inputs'])})"
        check(keccak(text=text) in topics, f"eth_getLogs returns {name}")
    approved = datanets.events.BatchApproved().get_logs(from_block=0)
    check(len(approved) == 1 and approved[0]["args"]["snapshotRoot"] == snapshot_root(leaves), "BatchApproved decoded")

    # A payment channel, redeemed with a voucher signed by eth-account's EIP-712 signing.
    channels = w3.eth.contract(address=CHANNELS, abi=CHANNEL_ABI)
    receipt = alice.call(channels.functions.open(bob.account.address, 60), value=10**18)
    channel_id = channels.events.ChannelOpened().process_receipt(receipt)[0]["args"]["channelId"]
    domain = {"name": "OpenLedger PaymentChannels", "version": "1", "chainId": 16120033, "verifyingContract": CHANNELS}
    types = {"Voucher": [{"name": "channelId", "type": "bytes32"}, {"name": "cumulativeAmount", "type": "uint256"},
                         {"name": "requestHash", "type": "bytes32"}]}
    message = {"channelId": channel_id, "cumulativeAmount": 3 * 10**17, "requestHash": keccak(b"request 1")}
    voucher = Account.sign_typed_data(accounts[0].key, domain, types, message)
    before = w3.eth.get_balance(bob.account.address)
    receipt = bob.call(channels.functions.redeem(channel_id, 3 * 10**17, keccak(b"request 1"), voucher.signature))
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    check(w3.eth.get_balance(bob.account.address) == before + 3 * 10**17 - fee, "voucher paid the payee")
    check(channels.functions.getChannel(channel_id).call()[3] == 3 * 10**17, "channel records the redemption")

    # eth_getProof of the channel's storage, verified with py-trie against the block's state root.
    block = w3.eth.get_block("latest")
    base = int.from_bytes(keccak(channel_id + (1).to_bytes(32, "big")), "big")
    slot = base + 3  # redeemed
    proof = w3.eth.get_proof(CHANNELS, [slot], block["number"])
    account_rlp = HexaryTrie.get_from_proof(block["stateRoot"], keccak(bytes.fromhex(CHANNELS[2:])),
                                            [rlp.decode(bytes(node)) for node in proof["accountProof"]])
    nonce, balance, storage_root, code_hash = rlp.decode(account_rlp)
    check(storage_root == bytes(proof["storageHash"]), "account proof verified by py-trie")
    value = HexaryTrie.get_from_proof(storage_root, keccak(slot.to_bytes(32, "big")),
                                      [rlp.decode(bytes(node)) for node in proof["storageProof"][0]["proof"]])
    check(int.from_bytes(rlp.decode(value), "big") == 3 * 10**17, "storage proof of the redeemed amount verified by py-trie")
    print("wallet checks passed")


if __name__ == "__main__":
    main()
