#!/usr/bin/env python3
"""The stock OpenAI Python client paying a serving peer through `openledger pay-proxy`.

  openai_paid_client.py BASE_URL PAYEE CHAIN_ID     (BASE_URL e.g. http://127.0.0.1:8090/v1)

Chats whole and streamed through the proxy, which adds the vouchers. Each answer must carry a serving receipt
(the X-OpenLedger-Receipt header and `openledger.receipt` in the body; the last streamed chunk before [DONE] when
streaming). eth-account, not our code, recovers each receipt's EIP-712 signature, which must be the payee's, and
the response hash must be keccak256 of the answer. Prints a JSON summary as its last line; exits 1 on any failure.
"""
import json
import sys

import openai
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

RECEIPT_FIELDS = [
    ("requestHash", "bytes32"), ("responseHash", "bytes32"), ("adapterId", "uint256"), ("promptTokens", "uint64"),
    ("completionTokens", "uint64"), ("price", "uint256"), ("temperatureMillis", "uint32"), ("topPMillis", "uint32"),
    ("topK", "uint32"), ("seed", "uint64"), ("attributionRoot", "bytes32"),
]


def signer(receipt, chain_id):
    message = {}
    for name, kind in RECEIPT_FIELDS:
        value = receipt[name]
        message[name] = bytes.fromhex(value[2:]) if kind == "bytes32" else int(value)
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Receipt": [{"name": n, "type": t} for n, t in RECEIPT_FIELDS],
        },
        "primaryType": "Receipt",
        "domain": {"name": "OpenLedger AttributionClaims", "version": "1", "chainId": chain_id,
                   "verifyingContract": receipt["verifyingContract"]},
        "message": message,
    }
    signature = bytes.fromhex(receipt["signature"][2:])
    return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)


def main():
    base_url, payee, chain_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    failures = []
    models = [m.id for m in client.models.list().data]
    model = models[0] if models else "default"
    messages = [{"role": "user", "content": "Write a haiku about the sea."}]

    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=24,
                                                           temperature=0.8, seed=5)
    whole = raw.parse()
    answer = whole.choices[0].message.content
    header = json.loads(raw.headers.get("x-openledger-receipt", "{}"))
    body_receipt = (whole.model_extra or {}).get("openledger", {}).get("receipt", {})
    if not header or header != body_receipt:
        failures.append("the header and body receipts are missing or differ")
    elif signer(header, chain_id).lower() != payee.lower():
        failures.append(f"receipt signed by {signer(header, chain_id)}, not the payee {payee}")
    elif header["responseHash"] != "0x" + keccak(text=answer).hex():
        failures.append("the receipt's response hash is not keccak256 of the answer")

    streamed = ""
    last = None
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0.8,
                                                seed=5, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            streamed += chunk.choices[0].delta.content
        last = chunk
    stream_receipt = (last.model_extra or {}).get("openledger", {}).get("receipt", {}) if last else {}
    if not stream_receipt:
        failures.append("the last streamed chunk carries no receipt")
    elif signer(stream_receipt, chain_id).lower() != payee.lower():
        failures.append("the streamed receipt is not the payee's")
    elif stream_receipt["responseHash"] != "0x" + keccak(text=streamed).hex():
        failures.append("the streamed receipt's response hash is not keccak256 of the streamed text")
    if streamed != answer:
        failures.append(f"streamed {streamed!r} differs from {answer!r} (same seed)")

    summary = {"model": model, "answer": answer, "price_whole": header.get("price"),
               "price_streamed": stream_receipt.get("price"), "failures": failures}
    print(json.dumps(summary))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
