#!/usr/bin/env python3
"""Reference side of the Swift LLM engine's parity tests, driven by llama.cpp through llama-cpp-python.

Subcommands (each prints one JSON document on stdout; llama.cpp may still log a line or two on stderr):

  info     --model PATH                   GGUF metadata that matters (architecture, llama.* hyper-parameters,
                                          tokenizer ids/flags, chat template, vocab size, number of merges)
  tokenize --model PATH                   stdin: JSON array of strings
                                          out:   {"special": [[ids]...], "plain": [[ids]...]}
                                          add_bos=False; special=True resp. special=False
  generate --model PATH [--max-tokens 64] [--threads 2]
                                          stdin: JSON array of user messages
                                          out:   [{"prompt", "prompt_tokens", "tokens", "gaps"}...]
  bench    --model PATH [--threads N]     {"prefill_tok_s", "decode_tok_s", "threads"}

generate renders the model's own chat template (tokenizer.chat_template, Jinja, one user message,
add_generation_prompt=True) with llama-cpp-python's Jinja2ChatFormatter, the formatter its chat completion uses
for this model; llama.cpp's own server/CLI (--jinja, the default) render the same template. It tokenizes with
add_special=True (BOS/EOS only if the GGUF says so) and special=True, then decodes greedily with its own argmax
over the logits (no sampler chain, so no repetition penalty, temperature or top-k): the token with the highest
logit wins, ties go to the lowest id. It stops after max-tokens tokens or after an end-of-generation token
(llama_vocab_is_eog: <|im_end|> or <|endoftext|> for SmolLM2), which is included in "tokens".
gaps[i] = logit(tokens[i]) - second-highest logit at that step: a small gap marks a step where a from-scratch
implementation may legitimately pick another token because of float rounding.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

N_CTX = 2048
SEED = 0


def read_gguf_array_lengths(path):
    """Returns {key: length} for the array-valued metadata keys, which llama.cpp's metadata API does not expose."""
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    lengths = {}
    with open(path, "rb") as f:
        def u32():
            return struct.unpack("<I", f.read(4))[0]

        def u64():
            return struct.unpack("<Q", f.read(8))[0]

        def skip_value(t):
            if t in scalar:
                f.seek(scalar[t], 1)
            elif t == 8:  # string
                f.seek(u64(), 1)
            elif t == 9:  # array
                at, n = u32(), u64()
                if at in scalar:
                    f.seek(scalar[at] * n, 1)
                else:
                    for _ in range(n):
                        skip_value(at)
            else:
                raise ValueError(f"unknown GGUF value type {t}")

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        u32()  # version
        u64()  # tensor count
        for _ in range(u64()):
            key = f.read(u64()).decode("utf-8")
            t = u32()
            if t == 9:
                pos = f.tell()
                u32()
                lengths[key] = u64()
                f.seek(pos)
            skip_value(t)
    return lengths


def plain_cpu_buffers():
    """Loads weights into plain CPU buffers: on CPUs with AMX, llama.cpp otherwise repacks them into its AMX buffer
    type, and then crashes in decode (exit -11) on this model."""
    default = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    llama_cpp.llama_cpp.llama_model_default_params = params


plain_cpu_buffers()


def load(model, **kwargs):
    return Llama(model_path=model, n_ctx=N_CTX, seed=SEED, verbose=False, **kwargs)


def parse_value(text):
    """llama.cpp returns every metadata value as a string; turn numbers and booleans back into JSON values."""
    if text in ("true", "false"):
        return text == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def cmd_info(args):
    llm = load(args.model, vocab_only=True)
    meta = llm.metadata
    keep = ("general.architecture", "general.name", "general.file_type", "general.quantization_version",
            "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.chat_template")
    info = {k: parse_value(v) if k != "tokenizer.chat_template" else v
            for k, v in sorted(meta.items())
            if k in keep or k.startswith("llama.") or k.endswith("_token_id") or k.startswith("tokenizer.ggml.add_")}
    lengths = read_gguf_array_lengths(args.model)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    info["vocab_size"] = llm.n_vocab()
    info["tokens_in_gguf"] = lengths.get("tokenizer.ggml.tokens")
    info["merges_count"] = lengths.get("tokenizer.ggml.merges")
    # What llama.cpp actually does after applying its own defaults for this tokenizer.ggml.pre:
    info["effective"] = {
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "eog_ids": [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)],
    }
    return info


def cmd_tokenize(args):
    texts = read_stdin_strings()
    llm = load(args.model, vocab_only=True)
    return {
        "special": [llm.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in texts],
        "plain": [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts],
    }


def chat_prompt(llm, message):
    """Renders one user message with the model's chat template, as llama-cpp-python's chat completion does."""
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    bos, eos = llama_cpp.llama_vocab_bos(vocab), llama_cpp.llama_vocab_eos(vocab)
    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        bos_token=llm._model.token_get_text(bos) if bos >= 0 else "",
        eos_token=llm._model.token_get_text(eos) if eos >= 0 else "",
        add_generation_prompt=True,
    )
    return formatter(messages=[{"role": "user", "content": message}]).prompt


def cmd_generate(args):
    messages = read_stdin_strings()
    llm = load(args.model, n_threads=args.threads, n_threads_batch=args.threads, logits_all=True)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    results = []
    for message in messages:
        prompt = chat_prompt(llm, message)
        # add_bos=True means add_special: BOS/EOS are added only when the GGUF asks for them.
        prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(prompt_tokens) + args.max_tokens > N_CTX:
            raise SystemExit(f"prompt of {len(prompt_tokens)} tokens + {args.max_tokens} does not fit n_ctx {N_CTX}")
        llm.reset()  # n_tokens = 0; the next eval drops the KV cache from position 0
        llm.eval(prompt_tokens)
        tokens, gaps = [], []
        for _ in range(args.max_tokens):
            logits = llm.scores[llm.n_tokens - 1]
            best = int(np.argmax(logits))
            runner_up = float(np.max(np.delete(logits, best)))
            tokens.append(best)
            gaps.append(float(logits[best]) - runner_up)
            if llama_cpp.llama_vocab_is_eog(vocab, best) or len(tokens) == args.max_tokens:
                break
            llm.eval([best])
        results.append({"prompt": prompt, "prompt_tokens": prompt_tokens, "tokens": tokens, "gaps": gaps})
    return results


def cmd_bench(args, prompt_len=512, decode_len=128, repeats=3):
    llm = load(args.model, n_threads=args.threads, n_threads_batch=args.threads,
               n_batch=prompt_len, n_ubatch=prompt_len, logits_all=False)
    text = "The ledger records every inference, every payment and every attribution proof. " * 64
    prompt = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:prompt_len]
    assert len(prompt) == prompt_len, "bench text is too short"
    best_prefill = best_decode = float("inf")
    for _ in range(repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)  # one batch of prompt_len tokens
        best_prefill = min(best_prefill, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(decode_len):  # single-token evals, each extending the KV cache
            llm.eval([prompt[i]])
        best_decode = min(best_decode, time.perf_counter() - start)
    return {"prefill_tok_s": round(prompt_len / best_prefill, 2),
            "decode_tok_s": round(decode_len / best_decode, 2), "threads": args.threads}


def read_stdin_strings():
    data = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
        raise SystemExit("stdin must be a JSON array of strings")
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("info", "tokenize", "generate", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True, help="path to the .gguf file")
        if name in ("generate", "bench"):
            p.add_argument("--threads", type=int, default=2)
        if name == "generate":
            p.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    handler = {"info": cmd_info, "tokenize": cmd_tokenize, "generate": cmd_generate, "bench": cmd_bench}
    result = handler[args.command](args)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
