#!/usr/bin/env python3
"""LoRA training throughput of the reference: torch with transformers (LlamaForCausalLM) and peft, on the CPU.

  torch_lora.py --model F32.gguf --batch 4 --length 256 [--compile] [--steps 6] [--warmup 2] [--rank 8]
                [--alpha 16] [--threads 2] [--tokens TOKENS.json] [--hf-dir DIR]

The model is an F32 GGUF (`tools/interop/lora_parity.py dequantize` writes one from the quantized model). Its
weights and metadata become a local Hugging Face directory (config.json and model.safetensors, with the q and k
rows put back into Hugging Face order), written once and reused while the GGUF is unchanged;
`LlamaForCausalLM.from_pretrained` reads it with the hub switched off. PEFT wraps it with LoRA (dropout 0, targets
q, k, v, o, gate, up, down) and AdamW (lr 1e-4) trains it on real text tokens with labels = input_ids: from --tokens
(a JSON array of token ids, or of rows of them), else the system's own docs (docs/*.md in name order) tokenized
with the GGUF's byte-level BPE vocabulary (the same ids as llama.cpp's tokenizer). The conversion and the
tokenizing run in child processes, so their memory stays out of this process's peak RSS.

A step is a full optimizer step: forward, backward and AdamW. The first --warmup steps are not timed (with
--compile the first one compiles, about two minutes, and the second is also slow); the figure is the median of
the --steps timed ones. Prints one JSON line: framework, compile, batch, length, tokens_per_second (batch·length
per step), seconds_per_step, peak_rss_bytes (ru_maxrss of this process), torch (its version), then details: among
them cpu_seconds_per_step (median process CPU time of the timed steps, all threads; on a shared machine it tells
a slow step from a starved one) and load_average at the end.

torch writes to the temporary directory even in eager mode, and inductor writes its cache and precompiled headers
there: both are kept under build/torch-tmp (TMPDIR and TORCHINDUCTOR_CACHE_DIR), reused between runs, and removed
with `rm -rf build/torch-tmp` (or `make clean`).
"""
import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TORCH_TMP = os.path.join(ROOT, "build", "torch-tmp")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# GGUF tensor names per block and their Hugging Face names.
BLOCK_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
               "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
               "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
               "ffn_down": "mlp.down_proj"}


def environment(threads):
    """Settings that must precede `import torch`: no hub, temporary files under build/, the thread count."""
    os.makedirs(os.path.join(TORCH_TMP, "inductor"), exist_ok=True)
    os.environ["TMPDIR"] = TORCH_TMP
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(TORCH_TMP, "inductor")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HOME"] = os.path.join(TORCH_TMP, "hf")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def gguf_fields(reader):
    """Scalar and string metadata of a GGUF (arrays are left out, except their lengths under `<key>#count`)."""
    import gguf
    out = {}
    for field in reader.fields.values():
        if not field.types:
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            out[field.name + "#count"] = len(field.data)
        elif kind == gguf.GGUFValueType.STRING:
            out[field.name] = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
        else:
            out[field.name] = field.parts[field.data[0]][0].item()
    return out


def source_stamp(path):
    stat = os.stat(path)
    return {"gguf": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def convert(model_path, out_dir):
    """Writes the Hugging Face directory for the F32 GGUF (run in a child process)."""
    import gguf
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "tools", "interop"))
    from lora_parity import unpermute, write_safetensors

    reader = gguf.GGUFReader(model_path)
    meta = gguf_fields(reader)
    if meta.get("general.architecture") != "llama":
        raise SystemExit(f"torch_lora: {model_path} is not a llama GGUF")
    heads = int(meta["llama.attention.head_count"])
    kv_heads = int(meta["llama.attention.head_count_kv"])
    hidden = int(meta["llama.embedding_length"])
    vocab = int(meta.get("llama.vocab_size", meta.get("tokenizer.ggml.tokens#count", 0)))
    names = {t.name for t in reader.tensors}
    tied = "output.weight" not in names
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "float32",
        "vocab_size": vocab, "hidden_size": hidden,
        "intermediate_size": int(meta["llama.feed_forward_length"]),
        "num_hidden_layers": int(meta["llama.block_count"]),
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": hidden // heads,
        "hidden_act": "silu", "max_position_embeddings": int(meta["llama.context_length"]),
        "rms_norm_eps": float(meta["llama.attention.layer_norm_rms_epsilon"]),
        "rope_parameters": {"rope_type": "default", "rope_theta": float(meta["llama.rope.freq_base"])},
        "tie_word_embeddings": tied, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "pad_token_id": meta.get("tokenizer.ggml.padding_token_id"),
    }
    tensors = {}
    for tensor in reader.tensors:
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32:
            raise SystemExit(f"torch_lora: {tensor.name} is {tensor.tensor_type.name}; give an F32 GGUF "
                             "(tools/interop/lora_parity.py dequantize --model Q.gguf --out F32.gguf)")
        values = np.asarray(tensor.data, dtype=np.float32).reshape([int(x) for x in reversed(tensor.shape)])
        parts = tensor.name.split(".")
        if tensor.name == "token_embd.weight":
            name = "model.embed_tokens.weight"
        elif tensor.name == "output_norm.weight":
            name = "model.norm.weight"
        elif tensor.name == "output.weight":
            name = "lm_head.weight"
        elif parts[0] == "blk" and len(parts) == 4 and parts[2] in BLOCK_NAMES:
            name = f"model.layers.{parts[1]}.{BLOCK_NAMES[parts[2]]}.{parts[3]}"
            if parts[2] == "attn_q":
                values = unpermute(values, heads)
            elif parts[2] == "attn_k":
                values = unpermute(values, kv_heads)
        else:
            raise SystemExit(f"torch_lora: unexpected tensor {tensor.name}")
        tensors[name] = values
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(out_dir, "source.json"), "w") as f:
        json.dump(source_stamp(model_path), f)


def hf_directory(model_path, out_dir):
    """The Hugging Face directory for the GGUF, converted by a child process unless it is current."""
    stamp_path = os.path.join(out_dir, "source.json")
    try:
        with open(stamp_path) as f:
            if json.load(f) == source_stamp(model_path):
                return out_dir
    except (OSError, ValueError):
        pass
    started = time.perf_counter()
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--convert-only", "--model", model_path,
                            "--hf-dir", out_dir])
    if child.returncode != 0:
        raise SystemExit(f"torch_lora: converting {model_path} failed")
    print(f"torch_lora: wrote {out_dir} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return out_dir


def gguf_tokenizer(model_path):
    """A byte-level BPE tokenizer (the `tokenizers` library) over the GGUF's vocabulary and merges."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    reader = gguf.GGUFReader(model_path)
    fields = {f.name: f for f in reader.fields.values()}
    if bytes(fields["tokenizer.ggml.model"].parts[fields["tokenizer.ggml.model"].data[0]]) != b"gpt2":
        raise SystemExit("torch_lora: the GGUF's tokenizer is not byte-level BPE; give --tokens")

    def strings(key):
        field = fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    vocab = {token: index for index, token in enumerate(strings("tokenizer.ggml.tokens"))}
    merges = [tuple(merge.split(" ", 1)) for merge in strings("tokenizer.ggml.merges")]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def docs_tokens(model_path, needed):
    """The first `needed` tokens (or all, if fewer) of docs/*.md in name order, tokenized with the GGUF's vocabulary."""
    tokenizer = gguf_tokenizer(model_path)
    flat = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(path, encoding="utf-8") as f:
            flat.extend(tokenizer.encode(f.read()).ids)
        if len(flat) >= needed:
            break
    return flat[:needed]


def token_rows(args):
    """batch rows of length tokens of real text."""
    needed = args.batch * args.length
    if args.tokens:
        try:
            with open(args.tokens) as f:
                data = json.load(f)
            if not isinstance(data, list):
                raise ValueError("not an array")
            flat = [t for row in data for t in (row if isinstance(row, list) else [row])]
            if not all(type(t) is int for t in flat):
                raise ValueError("an entry is not an integer")
        except (OSError, ValueError, TypeError) as error:
            raise SystemExit(f"torch_lora: {args.tokens} is not a JSON array of token ids ({error})")
        source = args.tokens
    else:
        # A child process tokenizes: the GGUF's vocabulary and the tokenizer stay out of this process's peak RSS.
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--tokenize-only", "--model", args.model,
                                "--batch", str(args.batch), "--length", str(args.length)],
                               stdout=subprocess.PIPE)
        if child.returncode != 0:
            raise SystemExit(f"torch_lora: tokenizing docs/*.md with {args.model}'s vocabulary failed")
        flat = json.loads(child.stdout)
        source = "docs/*.md"
    if any(t < 0 or t >= args.vocab for t in flat):
        raise SystemExit(f"torch_lora: {source} has token ids outside the vocabulary (0..<{args.vocab})")
    if len(flat) < needed:
        raise SystemExit(f"torch_lora: {source} has {len(flat)} tokens, {needed} needed")
    return [flat[i * args.length:(i + 1) * args.length] for i in range(args.batch)], source


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an F32 GGUF")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--compile", action="store_true", help="torch.compile (inductor) the PEFT model")
    parser.add_argument("--steps", type=int, default=6, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (with --compile, >= 1)")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", help="JSON array of token ids (or of rows of them)")
    parser.add_argument("--hf-dir", help="where the Hugging Face directory goes (default: next to the GGUF)")
    parser.add_argument("--convert-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tokenize-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch < 1 or args.length < 2 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("batch >= 1, length >= 2, steps >= 1, warmup >= 0, threads >= 1")
    if args.compile and args.warmup < 1:
        parser.error("--compile needs --warmup >= 1: the first step compiles")
    hf_dir = args.hf_dir or os.path.splitext(os.path.abspath(args.model))[0] + "-hf"

    environment(args.threads)
    if args.convert_only:
        convert(args.model, hf_dir)
        return
    if args.tokenize_only:
        print(json.dumps(docs_tokens(args.model, args.batch * args.length)))
        return
    hf_directory(args.model, hf_dir)
    with open(os.path.join(hf_dir, "config.json")) as f:
        args.vocab = int(json.load(f)["vocab_size"])
    rows, source = token_rows(args)

    # transformers' own deprecation notice, raised from inside peft's wrapping; not ours to act on.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = LlamaForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    lora = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, target_modules=TARGETS,
                      bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    step_model = torch.compile(model) if args.compile else model
    input_ids = torch.tensor(rows, dtype=torch.long)
    labels = input_ids.clone()

    times, cpu_times, losses = [], [], []
    for _ in range(args.warmup + args.steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        loss = step_model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        losses.append(loss.item())
        print(f"torch_lora: step {len(times)} {times[-1]:.2f} s (cpu {cpu_times[-1]:.2f} s) loss {losses[-1]:.4f}",
              file=sys.stderr)
    timed = times[args.warmup:]
    seconds = statistics.median(timed)
    tokens = args.batch * args.length
    print(json.dumps({
        "framework": "torch+peft", "compile": args.compile, "batch": args.batch, "length": args.length,
        "tokens_per_second": round(tokens / seconds, 2), "seconds_per_step": round(seconds, 4),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__, "threads": args.threads, "rank": args.rank, "alpha": args.alpha,
        "trainable_parameters": trainable, "steps": args.steps, "warmup": args.warmup,
        "warmup_seconds": [round(t, 3) for t in times[:args.warmup]],
        "step_seconds": [round(t, 3) for t in timed],
        "cpu_seconds_per_step": round(statistics.median(cpu_times[args.warmup:]), 4), "loss_first": round(losses[0], 6),
        "loss_last": round(losses[-1], 6), "tokens_source": source,
        "load_average": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
