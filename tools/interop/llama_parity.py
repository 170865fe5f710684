#!/usr/bin/env python3
"""Parity of `openledger` with llama.cpp (llama-cpp-python) on the same GGUF file.

  llama_parity.py --model PATH --openledger BIN [--max-tokens 64] [--threads 2]

1. Tokenization: every string of tokenizer_corpus.json (English, other scripts, code, emoji, whitespace runs,
   special tokens) through `openledger tokenize --stdin` and llama.cpp, with special tokens parsed and not.
2. Generation: for each chat prompt below, `openledger infer --chat … --json` greedy against llama.cpp's greedy
   decoding of the same rendered prompt; tokens must agree one for one. A divergence is reported with its
   position and llama.cpp's logit gap there (best minus runner-up).

Prints a JSON summary as its last line; exits 1 on any difference.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = [sys.executable, os.path.join(HERE, "llama_reference.py")]

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a blockchain is in two sentences.",
    "List three prime numbers greater than 100.",
    "How do I reverse a list in Python?",
    "Translate 'good morning' into Spanish and German.",
    "What is 17 times 23?",
    "Give me a recipe for pancakes.",
    "Why is the sky blue?",
    "Summarize the plot of Romeo and Juliet.",
    "What are the benefits of regular exercise?",
    "Write a short poem about autumn leaves.",
    "What does a compiler do?",
    "Name the planets of the solar system.",
    "How does photosynthesis work?",
    "Tell me a joke about computers.",
    "What is the difference between TCP and UDP?",
    "Describe a cat to someone who has never seen one.",
    "What is machine learning?",
    "Write a Swift function that adds two integers.",
    "Who wrote 'Pride and Prejudice'?",
    "How many continents are there, and which is the largest?",
]


def run(command, stdin=None):
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--openledger", required=True)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    corpus = json.load(open(os.path.join(HERE, "tokenizer_corpus.json"), encoding="utf-8"))
    stdin = json.dumps(corpus).encode()
    ours = run([args.openledger, "tokenize", "--model", args.model, "--stdin"], stdin)
    reference = run(REFERENCE + ["tokenize", "--model", args.model], stdin)
    token_mismatches = []
    for mode in ("special", "plain"):
        for text, mine, theirs in zip(corpus, ours[mode], reference[mode]):
            if mine != theirs:
                token_mismatches.append({"mode": mode, "text": text, "openledger": mine, "llama.cpp": theirs})
    for mismatch in token_mismatches:
        print("tokenize mismatch:", json.dumps(mismatch, ensure_ascii=False), file=sys.stderr)

    eog = set(run(REFERENCE + ["info", "--model", args.model])["effective"]["eog_ids"])
    references = run(REFERENCE + ["generate", "--model", args.model, "--max-tokens", str(args.max_tokens),
                                  "--threads", str(args.threads)], json.dumps(PROMPTS).encode())
    divergences = []
    for message, ref in zip(PROMPTS, references):
        mine = run([args.openledger, "infer", "--model", args.model, "--chat", message, "--max-tokens",
                    str(args.max_tokens), "--temperature", "0", "--threads", str(args.threads), "--json"])
        # llama.cpp's list ends with the end-of-generation token when there is one; ours stops before it.
        expected = ref["tokens"][:-1] if ref["tokens"] and ref["tokens"][-1] in eog else ref["tokens"]
        if mine["prompt_tokens"] != len(ref["prompt_tokens"]) or mine["tokens"] != expected:
            position = next((i for i, (a, b) in enumerate(zip(mine["tokens"], expected)) if a != b),
                            min(len(mine["tokens"]), len(expected)))
            gap = ref["gaps"][position] if position < len(ref["gaps"]) else None
            divergences.append({"prompt": message, "position": position, "logit_gap": gap,
                                "prompt_tokens": [mine["prompt_tokens"], len(ref["prompt_tokens"])],
                                "openledger": mine["tokens"][position:position + 5],
                                "llama.cpp": expected[position:position + 5]})
    for divergence in divergences:
        print("generation divergence:", json.dumps(divergence, ensure_ascii=False), file=sys.stderr)

    summary = {"tokenize_strings": len(corpus), "tokenize_mismatches": len(token_mismatches),
               "prompts": len(PROMPTS), "max_tokens": args.max_tokens,
               "identical_generations": len(PROMPTS) - len(divergences), "divergences": divergences}
    print(json.dumps(summary, ensure_ascii=False))
    sys.exit(0 if not token_mismatches and not divergences else 1)


if __name__ == "__main__":
    main()
