#!/usr/bin/env python3
"""Commits a Datanet snapshot of a JSONL record file on a running devnet, with web3.py and eth-account only.

  datanet_devnet.py --rpc http://127.0.0.1:PORT --records FILE.jsonl [--adapter]

Each line is {"contributor": "0x…", "text": "…"}; every contributor must be one of the devnet's dev accounts (the
mnemonic's first ten). An open Datanet is created, and each run of consecutive records of one contributor is
contributed by that contributor as one batch, in file order, so the snapshot is the file's records in order — what
`openledger attribute index --records FILE.jsonl` indexes. The snapshot root is computed here from DESIGN.md §8,
checked against the registry's, and printed with the Datanet id as the last line:
{"datanet": N, "root": "0x…", "records": R}. With --adapter, dev account 7 also registers a base model and
publishes an adapter trained on that snapshot (`ModelRegistry`), and the line carries its "adapter" id.
"""
import argparse
import json
import sys

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from economy_wallet import DATANET_ABI, MODEL_ABI, leaf
from wallet_devnet import DATANETS, MNEMONIC, MODELS, Wallet, snapshot_root


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--adapter", action="store_true")
    args = parser.parse_args()
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
    Account.enable_unaudited_hdwallet_features()
    keys = {}
    for i in range(10):
        account = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        keys[account.address.lower()] = Wallet(w3, account)
    records = []
    with open(args.records, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                entry = json.loads(line)
                records.append((entry["contributor"].lower(), entry["text"].encode("utf-8")))
    if not records or any(c not in keys for c, _ in records):
        print("every record needs a dev account as contributor", file=sys.stderr)
        sys.exit(1)
    datanets = w3.eth.contract(address=DATANETS, abi=DATANET_ABI)
    first = keys[records[0][0]]
    receipt = first.call(datanets.functions.createDatanet("datanet", b"bafy-meta", False, []))
    created = keccak(text="DatanetCreated(uint256,address,string,bytes,bool)")
    datanet = next(int.from_bytes(bytes(log["topics"][1]), "big") for log in receipt["logs"]
                   if bytes(log["topics"][0]) == created)
    batches = []
    for contributor, record in records:
        if batches and batches[-1][0] == contributor:
            batches[-1][1].append(record)
        else:
            batches.append((contributor, [record]))
    for contributor, batch in batches:
        checksummed = Web3.to_checksum_address(contributor)
        keys[contributor].call(datanets.functions.contribute(
            datanet, len(batch), b"bafy-batch", snapshot_root([leaf(checksummed, r) for r in batch]),
            [keccak(r) for r in batch]))
    root = snapshot_root([leaf(Web3.to_checksum_address(c), r) for c, r in records])
    if datanets.functions.snapshotRoot(datanet).call() != root:
        print("the registry's snapshot root differs from the independent tree", file=sys.stderr)
        sys.exit(1)
    if datanets.functions.committedRoot(root).call() != datanet:
        print("the snapshot root is not committed", file=sys.stderr)
        sys.exit(1)
    summary = {"datanet": datanet, "root": "0x" + root.hex(), "records": len(records)}
    if args.adapter:
        owner = Wallet(w3, Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/7"))
        models = w3.eth.contract(address=MODELS, abi=MODEL_ABI)
        registered = owner.call(models.functions.registerBaseModel(keccak(b"gguf"), "llama", keccak(b"tokenizer")))
        base = int.from_bytes(bytes(registered["logs"][0]["topics"][1]), "big")
        published = owner.call(models.functions.publishAdapter(b"bafy-adapter", base, [root], 10**18))
        summary["adapter"] = int.from_bytes(bytes(published["logs"][0]["topics"][1]), "big")
        summary["owner"] = owner.account.address
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
