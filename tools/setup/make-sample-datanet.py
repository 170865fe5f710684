#!/usr/bin/env python3
"""Builds the sample Datanet: the prose paragraphs of this package's docs as text records.

  tools/setup/make-sample-datanet.py [--docs docs] [--out netconfig/sample-datanet/records.jsonl]

Each paragraph of 120 to 900 characters (not code, not a table, not a heading) of docs/*.md, in file order, becomes
{"contributor": "0x…", "text": "…"}. The contributors are the devnet's dev accounts 3 to 8 (from the test
mnemonic), one per source file in turn, so a Datanet has several contributors whose records differ in topic. The
records are dedicated to the public domain (CC0-1.0, netconfig/sample-datanet/LICENSE). The output is committed;
this script records how it was made.
"""
import argparse
import glob
import json
import os

CONTRIBUTORS = [
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
]


def paragraphs(text):
    block, fenced = [], False
    for line in text.split("\n") + [""]:
        if line.startswith("```"):
            fenced = not fenced
            block = []
            continue
        if fenced:
            continue
        if line.strip() == "":
            if block:
                yield " ".join(part.strip() for part in block)
            block = []
        elif line.lstrip().startswith(("#", "|")):
            block = []
        else:
            block.append(line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", default="docs")
    parser.add_argument("--out", default="netconfig/sample-datanet/records.jsonl")
    args = parser.parse_args()
    records = []
    for index, path in enumerate(sorted(glob.glob(os.path.join(args.docs, "*.md")))):
        contributor = CONTRIBUTORS[index % len(CONTRIBUTORS)]
        with open(path, encoding="utf-8") as handle:
            for paragraph in paragraphs(handle.read()):
                if 120 <= len(paragraph) <= 900 and not paragraph.lstrip().startswith(("-", "*", ">")):
                    records.append({"contributor": contributor, "text": paragraph})
    with open(args.out, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(json.dumps({"records": len(records), "out": args.out}))


if __name__ == "__main__":
    main()
