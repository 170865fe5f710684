#!/usr/bin/env python3
"""LoRA parity of `openledger` with llama.cpp (llama-cpp-python 0.3.36), the gguf package and numpy.

  lora_parity.py make --model PATH --out DIR [--seed N] [--rank R] [--alpha A] [--dtype f32|f16] [--name NAME]
      Writes a seeded random GGUF-LoRA adapter for the model's seven per-layer linear maps in every block
      (A ~ N(0, 1/n_in), B ~ N(0, 0.08²): large enough that greedy outputs change), DIR/NAME.gguf, and the same
      adapter as a PEFT folder DIR/NAME-peft/ (adapter_config.json, adapter_model.safetensors written by hand),
      where lora_B of q_proj and k_proj carries the inverse of convert_hf_to_gguf.py's LlamaModel.permute.
      Prints {"gguf": path, "peft": path}.
  lora_parity.py reference --model PATH [--lora FILE:SCALE ...] [--max-tokens 48] [--threads 2]
      stdin: JSON array of prompts, each a list of token ids. Greedy decoding by llama.cpp with the adapters
      set through llama_adapter_lora_init + llama_set_adapters_lora (the KV cache is not invalidated when
      adapters change, so every prompt starts from reset()). It does not stop at end-of-generation tokens.
      Prints [{"tokens": [...], "gaps": [...]}...] (gap: best minus runner-up logit at each step).
  lora_parity.py bench --model PATH [--lora FILE:SCALE ...] [--threads 2]
      Prefill tok/s (512 tokens) and decode tok/s (128) of llama.cpp with the adapters, best of three.
  lora_parity.py dequantize --model PATH --out FILE
      Writes an F32 copy of the model (every tensor dequantized with gguf.quants).
  lora_parity.py peft --model PATH --lora FILE --out DIR
      Reads a GGUF-LoRA file with gguf's reader and writes its PEFT tensors, DIR/adapter_model.safetensors (F32):
      A and B as they are, except lora_B of q_proj and k_proj through numpy's inverse of LlamaModel.permute with
      the model's head counts. Prints {"safetensors": path, "alpha": value, "alpha_type": gguf's type name}.
"""
import argparse
import ctypes
import json
import os
import struct
import sys

import numpy as np

TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
PEFT_MODULES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                "ffn_down": "mlp.down_proj"}


def model_shape(path):
    import gguf
    reader = gguf.GGUFReader(path)
    fields = {f.name: f for f in reader.fields.values()}

    def scalar(key):
        field = fields[key]
        return field.parts[field.data[0]][0].item()

    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}  # ggml ne order
    return {"layers": scalar("llama.block_count"), "heads": scalar("llama.attention.head_count"),
            "kv_heads": scalar("llama.attention.head_count_kv"), "shapes": shapes}


def unpermute(w, n_head):
    """The inverse of LlamaModel.permute on the rows of w (GGUF order back to Hugging Face order)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_safetensors(path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def make(args):
    import gguf
    shape = model_shape(args.model)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.name + ".gguf")
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(args.alpha))
    dtype = np.float16 if args.dtype == "f16" else np.float32
    peft = {}
    for layer in range(shape["layers"]):
        for target in TARGETS:
            n_in, n_out = shape["shapes"][f"blk.{layer}.{target}.weight"]
            a = rng.normal(0, 1 / np.sqrt(n_in), size=(args.rank, n_in)).astype(np.float32)
            b = rng.normal(0, 0.08, size=(n_out, args.rank)).astype(np.float32)
            a = a.astype(dtype)
            b = b.astype(dtype)
            writer.add_tensor(f"blk.{layer}.{target}.weight.lora_a", a)
            writer.add_tensor(f"blk.{layer}.{target}.weight.lora_b", b)
            hf_b = b.astype(np.float32)
            if target == "attn_q":
                hf_b = unpermute(hf_b, shape["heads"])
            elif target == "attn_k":
                hf_b = unpermute(hf_b, shape["kv_heads"])
            prefix = f"base_model.model.model.layers.{layer}.{PEFT_MODULES[target]}"
            peft[prefix + ".lora_A.weight"] = a.astype(np.float32)
            peft[prefix + ".lora_B.weight"] = hf_b
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    folder = os.path.join(args.out, args.name + "-peft")
    os.makedirs(folder, exist_ok=True)
    config = {"peft_type": "LORA", "r": args.rank, "lora_alpha": args.alpha, "lora_dropout": 0.0, "bias": "none",
              "fan_in_fan_out": False, "use_rslora": False, "use_dora": False, "task_type": "CAUSAL_LM",
              "target_modules": sorted(m.split(".")[1] for m in PEFT_MODULES.values())}
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config, f)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), peft)
    print(json.dumps({"gguf": path, "peft": folder}))


def plain_cpu_buffers(llama_cpp):
    """Loads weights into plain CPU buffers: on CPUs with AMX, llama.cpp repacks them into an AMX buffer type that
    its LoRA path cannot use (it warns "cannot use buft 'AMX'", falls back, and then crashes in decode). The bench
    loads both its runs, with and without adapters, this way, so they compare like with like."""
    default = llama_cpp.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    llama_cpp.llama_model_default_params = params


def reference(args):
    import llama_cpp
    from llama_cpp import Llama
    plain_cpu_buffers(llama_cpp.llama_cpp)
    prompts = json.load(sys.stdin)
    llm = Llama(model_path=args.model, n_ctx=512, seed=0, verbose=False, logits_all=True, n_threads=args.threads,
                n_threads_batch=args.threads)
    adapters, scales = [], []
    for spec in args.lora or []:
        path, _, scale = spec.rpartition(":")
        handle = llama_cpp.llama_adapter_lora_init(llm._model.model, path.encode())
        if not handle:  # a failed load is a NULL pointer, not None
            raise SystemExit(f"llama.cpp could not load {path}")
        adapters.append(handle)
        scales.append(float(scale))
    n = len(adapters)
    if n:
        array = (llama_cpp.llama_adapter_lora_p_ctypes * n)(*adapters)
        llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, array, n, (ctypes.c_float * n)(*scales))
    out = []
    for prompt in prompts:
        llm.reset()
        llm.eval(prompt)
        tokens, gaps = [], []
        for _ in range(args.max_tokens):
            logits = np.asarray(llm.scores[llm.n_tokens - 1])
            best = int(np.argmax(logits))
            top = np.partition(logits, -2)[-2:]
            tokens.append(best)
            gaps.append(float(top[1] - top[0]))
            llm.eval([best])
        out.append({"tokens": tokens, "gaps": gaps})
    if args.logits:
        llm.reset()
        llm.eval(prompts[0])
        np.save(args.logits, np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32))
    print(json.dumps(out))


def bench(args, prompt_len=512, decode_len=128, repeats=3):
    """Prefill and decode tok/s of llama.cpp with the adapters set (as llama_reference.py bench, best of three)."""
    import time
    import llama_cpp
    from llama_cpp import Llama
    plain_cpu_buffers(llama_cpp.llama_cpp)
    llm = Llama(model_path=args.model, n_ctx=2048, seed=0, verbose=False, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=prompt_len, n_ubatch=prompt_len, logits_all=False)
    adapters, scales = [], []
    for spec in args.lora or []:
        path, _, scale = spec.rpartition(":")
        handle = llama_cpp.llama_adapter_lora_init(llm._model.model, path.encode())
        if not handle:
            raise SystemExit(f"llama.cpp could not load {path}")
        adapters.append(handle)
        scales.append(float(scale))
    if adapters:
        n = len(adapters)
        llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, (llama_cpp.llama_adapter_lora_p_ctypes * n)(*adapters), n,
                                          (ctypes.c_float * n)(*scales))
    text = "The ledger records every inference, every payment and every attribution proof. " * 64
    prompt = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:prompt_len]
    best_prefill = best_decode = float("inf")
    for _ in range(repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        best_prefill = min(best_prefill, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(decode_len):
            llm.eval([prompt[i]])
        best_decode = min(best_decode, time.perf_counter() - start)
    print(json.dumps({"prefill_tok_s": round(prompt_len / best_prefill, 2),
                      "decode_tok_s": round(decode_len / best_decode, 2), "threads": args.threads}))


def dequantize(args):
    import gguf
    reader = gguf.GGUFReader(args.model)
    writer = gguf.GGUFWriter(args.out, "llama")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
            else:
                value = [field.parts[i][0].item() for i in field.data]
            writer.add_array(field.name, value)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_string(field.name, bytes(field.parts[field.data[0]]).decode("utf-8"))
        else:
            writer.add_key_value(field.name, field.parts[field.data[0]][0].item(), vtype)
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, values.reshape([int(x) for x in reversed(tensor.shape)]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(json.dumps({"f32": args.out}))


def peft(args):
    import gguf
    shape = model_shape(args.model)
    reader = gguf.GGUFReader(args.lora)
    field = reader.fields["adapter.lora.alpha"]
    tensors = {}
    for tensor in reader.tensors:
        base, _, half = tensor.name.rpartition(".")
        _, layer, target, _ = base.split(".")
        w = np.asarray(tensor.data, dtype=np.float32).reshape([int(x) for x in reversed(tensor.shape)])
        if half == "lora_b" and target == "attn_q":
            w = unpermute(w, shape["heads"])
        elif half == "lora_b" and target == "attn_k":
            w = unpermute(w, shape["kv_heads"])
        side = "A" if half == "lora_a" else "B"
        tensors[f"base_model.model.model.layers.{layer}.{PEFT_MODULES[target]}.lora_{side}.weight"] = w
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "adapter_model.safetensors")
    write_safetensors(path, tensors)
    print(json.dumps({"safetensors": path, "alpha": float(field.parts[field.data[0]][0]),
                      "alpha_type": field.types[0].name}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--model", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=1234)
    m.add_argument("--rank", type=int, default=8)
    m.add_argument("--alpha", type=float, default=16)
    m.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    m.add_argument("--name", default="lora")
    r = sub.add_parser("reference")
    r.add_argument("--model", required=True)
    r.add_argument("--lora", action="append")
    r.add_argument("--max-tokens", type=int, default=48)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--logits", help="also save the first prompt's next-token logits (.npy) here")
    b = sub.add_parser("bench")
    b.add_argument("--model", required=True)
    b.add_argument("--lora", action="append")
    b.add_argument("--threads", type=int, default=2)
    d = sub.add_parser("dequantize")
    d.add_argument("--model", required=True)
    d.add_argument("--out", required=True)
    p = sub.add_parser("peft")
    p.add_argument("--model", required=True)
    p.add_argument("--lora", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    {"make": make, "reference": reference, "bench": bench, "dequantize": dequantize, "peft": peft}[args.command](args)


if __name__ == "__main__":
    main()
