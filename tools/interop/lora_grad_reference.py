#!/usr/bin/env python3
"""An independent reference for the LoRA gradients of a llama-family GGUF model: a plain Hugging Face-layout
llama forward pass written in JAX, differentiated by JAX, in float64.

  lora_grad_reference.py fixture --model F32.gguf --tokens TOKENS.json --out FIXTURE.safetensors
                                 [--rank 8] [--alpha 16] [--seed 1234] [--targets q,k,v,o,gate,up,down]
                                 [--dtype f64|f32]
      The masked cross-entropy of one batch under a seeded nonzero LoRA and its gradient with respect to every
      LoRA tensor. Prints {"loss", "seconds", "compile_seconds", "tensors", "parameters", ...}.
  lora_grad_reference.py logits --model F32.gguf --tokens TOKENS.json --out LOGITS.json|LOGITS.npy
                                [--row 0] [--dtype f32|f64] [--tolerance 2e-4] [--threads 2]
      A self-check of the forward pass (no LoRA): its logits at every position of one row against llama.cpp's
      (llama-cpp-python 0.3.36, F32 KV cache, no flash attention) on the same F32 GGUF. Prints
      {"max_abs_diff", "argmax_agree", ...} and exits 1 when max_abs_diff exceeds the tolerance. LOGITS.json
      holds the summary with per-position maxima and both argmaxes; LOGITS.npy a float32 [2, T, vocab] array
      (0: JAX, 1: llama.cpp).

The model must be the F32 copy of the GGUF (`lora_parity.py dequantize --model Q.gguf --out F32.gguf`); any
other tensor type is refused. The architecture is read from the GGUF metadata (block count, widths, head and KV
head counts, rope base, RMS epsilon, both float32 in the file and used as float64). Embeddings may be tied: with
no `output.weight`, the lm_head is `token_embd.weight`.

TOKENS.json: {"tokens": [[int, ...], ...], "mask": [[0|1, ...], ...]}, B rows of T tokens and a mask of the
same shape. mask[b][t] = 1 makes token t of row b a target, predicted from the tokens before it, so mask[b][0]
must be 0 and at least one entry must be 1. The loss is
    L = sum over masked (b, t) of -log softmax(logits[b, t-1])[tokens[b][t]] / sum(mask),
computed in float64 with a max-shifted log-sum-exp (in --dtype f32 the logits are widened to float64 first).

The forward pass, in Hugging Face layout: the GGUF attn_q and attn_k rows are un-permuted back to HF order
(the inverse of convert_hf_to_gguf.py's LlamaModel.permute: rows.reshape(n_head, rows/n_head/2, 2, cols)
.swapaxes(1, 2), with the head count for q and the KV head count for k); rotate_half RoPE with
inv_freq = base^(-2i/head_dim) and angles in float64; RMSNorm x / sqrt(mean(x^2) + eps) * w; causal grouped-query
attention (query head h reads KV head h // (heads / kv_heads)), scores scaled by 1/sqrt(head_dim); a SwiGLU MLP
down(silu(gate(x)) * up(x)); the final norm and the lm_head. The layers run under lax.scan over stacked
weights, so compilation stays short; the loss and gradient are one jax.jit(jax.value_and_grad(...)).

LoRA: every adapted linear map computes y = W x + (alpha / rank) * B (A x), for the targets q, k, v, o, gate,
up, down (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down). Shapes follow GGUF-LoRA and PEFT
(numpy order): A is [rank, in], B is [out, rank]. The initialization is fixed and nonzero (a zero B would make
every A gradient vanish): numpy default_rng(seed), drawn layer by layer, then target by target in the order
above (only the chosen targets), A before B, every value N(0, 0.02^2); the float64 draws are rounded to float32
and those float32 values are the ones used (as float64) in the forward pass. The file's B of attn_q and attn_k is
in GGUF row order; the forward pass un-permutes it like the weights (A is unchanged), and the gradient of B is
mapped back with the forward permutation, so every tensor and gradient in the output is in GGUF layout, as a
GGUF-LoRA adapter stores it.

FIXTURE.safetensors (little-endian, data in this order):
  loss                                      F64 [1]
  grad.blk.N.<target>.weight.lora_a         F64 [rank, in]    dL/dA
  grad.blk.N.<target>.weight.lora_b         F64 [out, rank]   dL/dB
  blk.N.<target>.weight.lora_a              F32 [rank, in]    the initialization
  blk.N.<target>.weight.lora_b              F32 [out, rank]
  tokens                                    I32 [B, T]
  mask                                      I32 [B, T]
  __metadata__: rank, alpha, seed, targets (comma-separated GGUF names), dtype (of the forward pass).

On 2 CPU cores a 4 x 256 batch of SmolLM2-135M with rank 8 on all seven targets takes about 8 s to compile and
45-50 s for the loss and gradient in float64 (about 25 s in float32), with a peak RSS of about 7 GB.

Errors (unreadable or malformed inputs, a non-F32 model, a failed check) go to stderr with exit status 1.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

TARGETS = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
           "down": "ffn_down"}
INIT_STD = 0.02


class ReferenceInputError(Exception):
    """An input the reference cannot use; its message goes to stderr."""


def permute(w, n_head):
    """LlamaModel.permute on the rows of w: Hugging Face order to GGUF order."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    """The inverse of LlamaModel.permute on the rows of w: GGUF order back to Hugging Face order."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def load_model(path, dtype):
    """The F32 GGUF at path as a config and stacked HF-layout weights of the given numpy dtype."""
    import gguf
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as error:
        raise ReferenceInputError(f"{path}: not a readable GGUF file ({error})")
    fields = {f.name: f for f in reader.fields.values()}

    def scalar(key):
        if key not in fields:
            raise ReferenceInputError(f"{path}: metadata {key} is missing")
        field = fields[key]
        return field.parts[field.data[0]][0].item()

    arch = bytes(fields["general.architecture"].parts[fields["general.architecture"].data[0]]).decode() \
        if "general.architecture" in fields else "?"
    if arch != "llama":
        raise ReferenceInputError(f"{path}: architecture {arch!r}, expected 'llama'")
    cfg = {"layers": int(scalar("llama.block_count")), "embd": int(scalar("llama.embedding_length")),
           "ff": int(scalar("llama.feed_forward_length")), "heads": int(scalar("llama.attention.head_count")),
           "kv_heads": int(scalar("llama.attention.head_count_kv")),
           "eps": float(scalar("llama.attention.layer_norm_rms_epsilon")),
           "rope_base": float(scalar("llama.rope.freq_base")) if "llama.rope.freq_base" in fields else 10000.0,
           "context": int(scalar("llama.context_length"))}
    if cfg["heads"] <= 0 or cfg["kv_heads"] <= 0 or cfg["heads"] % cfg["kv_heads"] or cfg["embd"] % cfg["heads"]:
        raise ReferenceInputError(f"{path}: {cfg['heads']} heads, {cfg['kv_heads']} KV heads, width {cfg['embd']}")
    cfg["head_dim"] = cfg["embd"] // cfg["heads"]
    if cfg["head_dim"] % 2:
        raise ReferenceInputError(f"{path}: odd head dimension {cfg['head_dim']}")
    if "llama.rope.dimension_count" in fields and int(scalar("llama.rope.dimension_count")) != cfg["head_dim"]:
        raise ReferenceInputError(f"{path}: partial rotary embedding is not supported")
    cfg["kv_dim"] = cfg["head_dim"] * cfg["kv_heads"]

    tensors = {}
    for t in reader.tensors:
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            raise ReferenceInputError(f"{path}: tensor {t.name} is {t.tensor_type.name}, not F32 "
                                 "(make an F32 copy with lora_parity.py dequantize)")
        tensors[t.name] = t.data.reshape([int(x) for x in reversed(t.shape)])
    embd, ff, kv = cfg["embd"], cfg["ff"], cfg["kv_dim"]

    def get(name, shape):
        if name not in tensors:
            raise ReferenceInputError(f"{path}: tensor {name} is missing")
        array = tensors[name]
        if tuple(array.shape) != tuple(shape):
            raise ReferenceInputError(f"{path}: tensor {name} has shape {list(array.shape)}, expected {list(shape)}")
        return np.asarray(array, dtype=dtype)

    vocab = tensors.get("token_embd.weight", np.zeros((0, 0))).shape[0]
    cfg["vocab"] = int(vocab)
    shapes = {"attn_q": (embd, embd), "attn_k": (kv, embd), "attn_v": (kv, embd), "attn_output": (embd, embd),
              "ffn_gate": (ff, embd), "ffn_up": (ff, embd), "ffn_down": (embd, ff)}
    cfg["shapes"] = shapes
    layers = {name: [] for name in list(shapes) + ["attn_norm", "ffn_norm"]}
    for n in range(cfg["layers"]):
        for name, shape in shapes.items():
            w = get(f"blk.{n}.{name}.weight", shape)
            if name == "attn_q":
                w = unpermute(w, cfg["heads"])
            elif name == "attn_k":
                w = unpermute(w, cfg["kv_heads"])
            layers[name].append(w)
        layers["attn_norm"].append(get(f"blk.{n}.attn_norm.weight", (embd,)))
        layers["ffn_norm"].append(get(f"blk.{n}.ffn_norm.weight", (embd,)))
    weights = {"layers": {name: np.stack(ws) for name, ws in layers.items()},
               "embed": get("token_embd.weight", (vocab, embd)),
               "output_norm": get("output_norm.weight", (embd,))}
    weights["lm_head"] = get("output.weight", (vocab, embd)) if "output.weight" in tensors else None
    cfg["tied"] = weights["lm_head"] is None
    return cfg, weights


def load_tokens(path, vocab, context):
    """TOKENS.json as int32 arrays tokens [B, T] and mask [B, T], checked against the vocabulary and context."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as error:
        raise ReferenceInputError(f"{path}: not a readable JSON file ({error})")
    if not isinstance(doc, dict) or "tokens" not in doc or "mask" not in doc:
        raise ReferenceInputError(f"{path}: expected an object with 'tokens' and 'mask'")

    def matrix(key):
        rows = doc[key]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise ReferenceInputError(f"{path}: {key} is not a non-empty list of rows")
        width = len(rows[0])
        if width < 2 or any(len(r) != width for r in rows):
            raise ReferenceInputError(f"{path}: {key} rows must share one length of at least 2")
        if not all(isinstance(x, int) and not isinstance(x, bool) for r in rows for x in r):
            raise ReferenceInputError(f"{path}: {key} holds a value that is not an integer")
        return np.asarray(rows, dtype=np.int64)

    tokens, mask = matrix("tokens"), matrix("mask")
    if tokens.shape != mask.shape:
        raise ReferenceInputError(f"{path}: tokens {list(tokens.shape)} and mask {list(mask.shape)} differ in shape")
    if tokens.shape[1] > context:
        raise ReferenceInputError(f"{path}: rows of {tokens.shape[1]} tokens exceed the model's context of {context}")
    if tokens.min() < 0 or tokens.max() >= vocab:
        raise ReferenceInputError(f"{path}: a token id lies outside [0, {vocab})")
    if not np.isin(mask, (0, 1)).all():
        raise ReferenceInputError(f"{path}: mask values must be 0 or 1")
    if mask[:, 0].any():
        raise ReferenceInputError(f"{path}: mask[b][0] must be 0 (the first token has no context)")
    if not mask.any():
        raise ReferenceInputError(f"{path}: the mask selects no target token")
    return tokens.astype(np.int32), mask.astype(np.int32)


def parse_targets(text):
    """--targets as short names in the canonical order."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TARGETS]
    if unknown or not names or len(set(names)) != len(names):
        raise ReferenceInputError(f"--targets {text!r}: a comma-separated subset of {','.join(TARGETS)}")
    return [t for t in TARGETS if t in names]


def init_lora(cfg, targets, rank, seed):
    """The seeded nonzero initialization, GGUF layout, float32: {(layer, gguf_name): (A, B)}."""
    rng = np.random.default_rng(seed)
    lora = {}
    for n in range(cfg["layers"]):
        for t in targets:
            out_dim, in_dim = cfg["shapes"][TARGETS[t]]
            a = rng.normal(0, INIT_STD, size=(rank, in_dim)).astype(np.float32)
            b = rng.normal(0, INIT_STD, size=(out_dim, rank)).astype(np.float32)
            lora[(n, TARGETS[t])] = (a, b)
    return lora


def lora_to_hf(cfg, targets, lora, dtype):
    """The GGUF-layout LoRA stacked per target in HF layout: {gguf_name: {"a": [L, r, in], "b": [L, out, r]}}."""
    stacked = {}
    for t in targets:
        name = TARGETS[t]
        a = np.stack([lora[(n, name)][0] for n in range(cfg["layers"])]).astype(dtype)
        bs = []
        for n in range(cfg["layers"]):
            b = lora[(n, name)][1].astype(dtype)
            if name == "attn_q":
                b = unpermute(b, cfg["heads"])
            elif name == "attn_k":
                b = unpermute(b, cfg["kv_heads"])
            bs.append(b)
        stacked[name] = {"a": a, "b": np.stack(bs)}
    return stacked


def grads_to_gguf(cfg, grads):
    """HF-layout stacked gradients back to GGUF layout: {(layer, gguf_name): (dA, dB)} as float64."""
    out = {}
    for name, g in grads.items():
        ga, gb = np.asarray(g["a"], dtype=np.float64), np.asarray(g["b"], dtype=np.float64)
        for n in range(ga.shape[0]):
            b = gb[n]
            if name == "attn_q":
                b = permute(b, cfg["heads"])
            elif name == "attn_k":
                b = permute(b, cfg["kv_heads"])
            out[(n, name)] = (ga[n], np.ascontiguousarray(b))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The forward pass


def setup_jax():
    """Imports JAX with float64 enabled (needed for the f64 forward and the f64 loss in either mode)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


def rope_tables(cfg, length, dtype):
    """cos and sin [T, head_dim] of HF's rotate_half RoPE, computed in float64."""
    d = cfg["head_dim"]
    inv_freq = 1.0 / (cfg["rope_base"] ** (np.arange(0, d, 2, dtype=np.float64) / d))
    freqs = np.outer(np.arange(length, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(dtype), np.sin(emb).astype(dtype)


def make_forward(cfg, scale):
    """hidden(weights, lora, tokens, cos, sin) -> final-normed hidden states [B, T, embd]."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    heads, kv_heads, hd, eps = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["eps"]
    group = heads // kv_heads

    def rmsnorm(x, w):
        return x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * w

    def linear(x, w, ab):
        y = x @ w.T
        if ab is not None:
            y = y + scale * ((x @ ab["a"].T) @ ab["b"].T)
        return y

    def rotate_half(x):
        half = x.shape[-1] // 2
        return jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)

    def hidden(weights, lora, tokens, cos, sin):
        b, t = tokens.shape
        x = weights["embed"][tokens]
        causal = jnp.tril(jnp.ones((t, t), dtype=bool))

        def layer(x, inputs):
            w, l = inputs
            h = rmsnorm(x, w["attn_norm"])
            q = linear(h, w["attn_q"], l.get("attn_q")).reshape(b, t, heads, hd)
            k = linear(h, w["attn_k"], l.get("attn_k")).reshape(b, t, kv_heads, hd)
            v = linear(h, w["attn_v"], l.get("attn_v")).reshape(b, t, kv_heads, hd)
            c, s = cos[None, :, None, :], sin[None, :, None, :]
            q = q * c + rotate_half(q) * s
            k = k * c + rotate_half(k) * s
            q = q.reshape(b, t, kv_heads, group, hd)
            scores = jnp.einsum("btkgd,bskd->bkgts", q, k) * (1.0 / float(np.sqrt(hd)))
            scores = jnp.where(causal, scores, -jnp.inf)
            probs = jax.nn.softmax(scores, axis=-1)
            attn = jnp.einsum("bkgts,bskd->btkgd", probs, v).reshape(b, t, heads * hd)
            x = x + linear(attn, w["attn_output"], l.get("attn_output"))
            h = rmsnorm(x, w["ffn_norm"])
            gate = linear(h, w["ffn_gate"], l.get("ffn_gate"))
            up = linear(h, w["ffn_up"], l.get("ffn_up"))
            x = x + linear(jax.nn.silu(gate) * up, w["ffn_down"], l.get("ffn_down"))
            return x, None

        x, _ = lax.scan(layer, x, (weights["layers"], lora))
        return rmsnorm(x, weights["output_norm"])

    return hidden


def make_loss(cfg, scale):
    """loss(lora, weights, tokens, cos, sin, rows, cols, targets): the masked mean cross-entropy in float64."""
    import jax
    import jax.numpy as jnp

    hidden = make_forward(cfg, scale)

    def loss(lora, weights, tokens, cos, sin, rows, cols, targets):
        h = hidden(weights, lora, tokens, cos, sin)[rows, cols]  # the positions that predict a target
        head = weights["embed"] if weights["lm_head"] is None else weights["lm_head"]
        logits = (h @ head.T).astype(jnp.float64)
        lse = jax.nn.logsumexp(logits, axis=-1)
        picked = jnp.take_along_axis(logits, targets[:, None], axis=-1)[:, 0]
        return jnp.sum(lse - picked) / targets.shape[0]

    return loss


class Reference:
    """The model, one batch and a LoRA initialization, with a compiled loss and loss-and-gradient."""

    def __init__(self, model, tokens_path, rank, alpha, seed, targets, dtype):
        np_dtype = np.float64 if dtype == "f64" else np.float32
        self.jax = jax = setup_jax()
        import jax.numpy as jnp
        if rank <= 0:
            raise ReferenceInputError(f"--rank {rank}: must be positive")
        self.cfg, weights = load_model(model, np_dtype)
        self.tokens, self.mask = load_tokens(tokens_path, self.cfg["vocab"], self.cfg["context"])
        self.rank, self.alpha, self.seed, self.targets, self.dtype = rank, alpha, seed, targets, dtype
        self.np_dtype = np_dtype
        self.lora = init_lora(self.cfg, targets, rank, seed)
        rows, cols = np.nonzero(self.mask)
        self.args = (jax.device_put(weights), jnp.asarray(self.tokens),
                     *map(jnp.asarray, rope_tables(self.cfg, self.tokens.shape[1], np_dtype)),
                     jnp.asarray(rows.astype(np.int32)), jnp.asarray((cols - 1).astype(np.int32)),
                     jnp.asarray(self.tokens[rows, cols].astype(np.int32)))
        del weights
        loss = make_loss(self.cfg, alpha / rank)
        self.loss_fn = jax.jit(loss)
        self.value_and_grad_fn = jax.jit(jax.value_and_grad(loss))

    def hf_lora(self, lora=None):
        """A GGUF-layout LoRA (default: the initialization) as the forward pass's stacked HF-layout pytree."""
        return self.jax.device_put(lora_to_hf(self.cfg, self.targets, self.lora if lora is None else lora,
                                                self.np_dtype))

    def loss(self, lora=None):
        """The loss under a GGUF-layout LoRA, as a float."""
        return float(self.loss_fn(self.hf_lora(lora), *self.args))

    def value_and_grad(self):
        """The loss and the GGUF-layout gradients at the initialization, and the compile and run times."""
        lora = self.hf_lora()
        start = time.perf_counter()
        compiled = self.value_and_grad_fn.lower(lora, *self.args).compile()
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        value, grads = compiled(lora, *self.args)
        value = float(value)
        grads = grads_to_gguf(self.cfg, self.jax.device_get(grads))
        return value, grads, compile_seconds, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------------
# Output


def write_safetensors(path, tensors, metadata):
    """A little-endian safetensors file; tensors is a list of (name, numpy array, dtype tag) written in order."""
    codes = {"F64": "<f8", "F32": "<f4", "I32": "<i4"}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, array, tag in tensors:
        data = np.ascontiguousarray(array, dtype=codes[tag]).tobytes()
        header[name] = {"dtype": tag, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def fixture(args):
    targets = parse_targets(args.targets)
    ref = Reference(args.model, args.tokens, args.rank, args.alpha, args.seed, targets, args.dtype)
    loss, grads, compile_seconds, seconds = ref.value_and_grad()
    if not np.isfinite(loss) or not all(np.isfinite(g).all() for pair in grads.values() for g in pair):
        raise ReferenceInputError("the loss or a gradient is not finite")
    keys = [(n, TARGETS[t]) for n in range(ref.cfg["layers"]) for t in targets]
    tensors = [("loss", np.array([loss], dtype=np.float64), "F64")]
    for n, name in keys:
        tensors.append((f"grad.blk.{n}.{name}.weight.lora_a", grads[(n, name)][0], "F64"))
        tensors.append((f"grad.blk.{n}.{name}.weight.lora_b", grads[(n, name)][1], "F64"))
    for n, name in keys:
        tensors.append((f"blk.{n}.{name}.weight.lora_a", ref.lora[(n, name)][0], "F32"))
        tensors.append((f"blk.{n}.{name}.weight.lora_b", ref.lora[(n, name)][1], "F32"))
    tensors.append(("tokens", ref.tokens, "I32"))
    tensors.append(("mask", ref.mask, "I32"))
    metadata = {"rank": str(args.rank), "alpha": f"{args.alpha:g}", "seed": str(args.seed),
                "targets": ",".join(TARGETS[t] for t in targets), "dtype": args.dtype}
    write_safetensors(args.out, tensors, metadata)
    flat = np.concatenate([g.ravel() for n, name in keys for g in grads[(n, name)]])
    print(json.dumps({"out": args.out, "loss": loss, "batch": list(ref.tokens.shape), "targets": int(ref.mask.sum()),
                      "tensors": 2 * len(keys), "parameters": int(flat.size), "grad_l2": float(np.linalg.norm(flat)),
                      "grad_max_abs": float(np.abs(flat).max()), "compile_seconds": round(compile_seconds, 2),
                      "seconds": round(seconds, 2), "dtype": args.dtype}))


def llama_cpp_logits(model, tokens, threads):
    """llama.cpp's logits [T, vocab] at every position of one row (F32 KV cache, no flash attention)."""
    import llama_cpp
    from llama_cpp import Llama
    # Plain CPU buffers: on CPUs with AMX, llama.cpp's AMX buffer type crashes in decode on this model.
    default = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    llama_cpp.llama_cpp.llama_model_default_params = params
    n = len(tokens)
    llm = Llama(model_path=model, n_ctx=max(n, 64), n_batch=max(n, 64), n_ubatch=max(n, 64), seed=0, verbose=False,
                logits_all=True, n_threads=threads, n_threads_batch=threads, flash_attn=False,
                type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.reset()
    llm.eval([int(t) for t in tokens])
    return np.array(llm.scores[:n], dtype=np.float32)


def logits(args):
    np_dtype = np.float64 if args.dtype == "f64" else np.float32
    jax = setup_jax()
    import jax.numpy as jnp
    cfg, weights = load_model(args.model, np_dtype)
    tokens, _ = load_tokens(args.tokens, cfg["vocab"], cfg["context"])
    if not 0 <= args.row < tokens.shape[0]:
        raise ReferenceInputError(f"--row {args.row}: the batch has {tokens.shape[0]} rows")
    row = tokens[args.row:args.row + 1]
    hidden = make_forward(cfg, 0.0)
    head = weights["embed"] if weights["lm_head"] is None else weights["lm_head"]
    cos, sin = rope_tables(cfg, row.shape[1], np_dtype)
    fn = jax.jit(lambda w, h, t, c, s: hidden(w, {}, t, c, s)[0] @ h.T)
    ours = np.asarray(fn(jax.device_put(weights), jnp.asarray(head), jnp.asarray(row), jnp.asarray(cos),
                         jnp.asarray(sin)), dtype=np.float64)
    del weights
    theirs = llama_cpp_logits(args.model, row[0], args.threads).astype(np.float64)
    diff = np.abs(ours - theirs)
    per_position = diff.max(axis=-1)
    ours_top, theirs_top = ours.argmax(axis=-1), theirs.argmax(axis=-1)
    summary = {"max_abs_diff": float(diff.max()), "argmax_agree": float(np.mean(ours_top == theirs_top)),
               "row": args.row, "positions": int(row.shape[1]), "max_abs_logit": float(np.abs(theirs).max()),
               "dtype": args.dtype, "tolerance": args.tolerance}
    if args.out.endswith(".npy"):
        np.save(args.out, np.stack([ours, theirs]).astype(np.float32))
    else:
        with open(args.out, "w") as f:
            json.dump(dict(summary, per_position_max_abs_diff=per_position.tolist(), jax_argmax=ours_top.tolist(),
                           llama_argmax=theirs_top.tolist()), f)
    print(json.dumps(summary))
    if not diff.max() <= args.tolerance:
        raise ReferenceInputError(f"max |JAX - llama.cpp| logit difference {diff.max():.3g} exceeds {args.tolerance:g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("--model", required=True)
    f.add_argument("--tokens", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--rank", type=int, default=8)
    f.add_argument("--alpha", type=float, default=16)
    f.add_argument("--seed", type=int, default=1234)
    f.add_argument("--targets", default=",".join(TARGETS))
    f.add_argument("--dtype", choices=["f64", "f32"], default="f64")
    g = sub.add_parser("logits")
    g.add_argument("--model", required=True)
    g.add_argument("--tokens", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--row", type=int, default=0)
    g.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    g.add_argument("--tolerance", type=float, default=2e-4)
    g.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        {"fixture": fixture, "logits": logits}[args.command](args)
    except ReferenceInputError as error:
        print(f"lora_grad_reference.py {args.command}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
