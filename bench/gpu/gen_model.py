#!/usr/bin/env python3
"""Write a random-weight GGUF of a realistic Llama shape (default: Llama-3-8B-like, Q4_0) whose
tokenizer metadata (tokenizer.* keys, chat template if any) is copied from another GGUF file
(prepare.sh carries Llama 3's: vocab 128,256, so the output layer and sampling cost what they
would on the real model).

Weights: Q4_0 blocks with random nibbles and one small f16 scale (--scale) per block, taken at
random offsets from one shared random pool (fast: the file is written at disk speed); norms are
F32 ones. Random weights give nonsense text, which is fine for throughput measurements.

  gen_model.py --tok tok.gguf --out model.gguf                       # 8B-like, ~4.4 GB
  gen_model.py --tok tok.gguf --out tiny.gguf --layers 2 --embd 256 --heads 4 --kv-heads 2 --ff 512
  gen_model.py --extract-tok SmolLM2.gguf --out tok.gguf             # tokenizer-only GGUF
"""

import argparse
import sys
import time

import numpy as np
import gguf
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

QK = 32          # weights per Q4_0 block
BLOCK_BYTES = 18  # f16 scale + 16 bytes of nibbles


def copy_tokenizer(reader, writer):
    n = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        types = field.types
        if types[0] == GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), GGUFValueType.ARRAY, sub_type=types[-1])
        else:
            writer.add_key_value(key, field.contents(), types[0])
        n += 1
    return n


def vocab_size(reader):
    return len(reader.fields["tokenizer.ggml.tokens"].data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tok", help="GGUF file to take the tokenizer from")
    ap.add_argument("--extract-tok", help="write a tokenizer-only GGUF from this file to --out")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--embd", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--ff", type=int, default=14336)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--rope-base", type=float, default=500000.0)
    ap.add_argument("--scale", type=float, default=0.004,
                    help="Q4_0 block scale: weights are (nibble - 8) * scale")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    t0 = time.time()

    if args.extract_tok:
        reader = GGUFReader(args.extract_tok)
        writer = GGUFWriter(args.out, arch="llama")
        n = copy_tokenizer(reader, writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        print(f"wrote {args.out}: {n} tokenizer keys, vocab {vocab_size(reader)}")
        return

    reader = GGUFReader(args.tok)
    n_vocab = vocab_size(reader)
    E, F, H, KV, L = args.embd, args.ff, args.heads, args.kv_heads, args.layers
    head_dim = E // H
    E_kv = KV * head_dim
    for dim in (E, F, E_kv):
        assert dim % QK == 0, f"{dim} is not a multiple of {QK}"

    writer = GGUFWriter(args.out, arch="llama")
    writer.add_name(f"random-llama-{L}L-{E}d")
    writer.add_type("model")
    writer.add_block_count(L)
    writer.add_context_length(args.ctx)
    writer.add_embedding_length(E)
    writer.add_feed_forward_length(F)
    writer.add_head_count(H)
    writer.add_head_count_kv(KV)
    writer.add_rope_freq_base(args.rope_base)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    copy_tokenizer(reader, writer)

    # (name, rows = output features, cols = input features); ggml shape is [cols, rows].
    mats = [("token_embd.weight", n_vocab, E)]
    for i in range(L):
        p = f"blk.{i}."
        mats += [(p + "attn_q.weight", E, E), (p + "attn_k.weight", E_kv, E),
                 (p + "attn_v.weight", E_kv, E), (p + "attn_output.weight", E, E),
                 (p + "ffn_gate.weight", F, E), (p + "ffn_up.weight", F, E),
                 (p + "ffn_down.weight", E, F)]
    mats.append(("output.weight", n_vocab, E))

    rng = np.random.default_rng(args.seed)
    max_blocks = max(r * c // QK for _, r, c in mats)
    pool_blocks = max_blocks + max_blocks // 2
    pool = np.empty((pool_blocks, BLOCK_BYTES), dtype=np.uint8)
    pool[:, 2:] = rng.integers(0, 256, size=(pool_blocks, BLOCK_BYTES - 2), dtype=np.uint8)
    pool[:, :2] = np.array([args.scale], dtype="<f2").view(np.uint8)
    flat = pool.reshape(-1)

    total = 0
    ones_e = np.ones(E, dtype=np.float32)
    for name, rows, cols in mats:
        nblk = rows * cols // QK
        off = int(rng.integers(0, pool_blocks - nblk + 1))
        data = flat[off * BLOCK_BYTES:(off + nblk) * BLOCK_BYTES].reshape(rows, cols // QK * BLOCK_BYTES)
        writer.add_tensor(name, data, raw_dtype=GGMLQuantizationType.Q4_0)
        total += data.nbytes
        if name.endswith("attn_output.weight"):
            writer.add_tensor(name.replace("attn_output", "attn_norm"), ones_e)
        if name.endswith("ffn_down.weight"):
            writer.add_tensor(name.replace("ffn_down", "ffn_norm"), ones_e)
    writer.add_tensor("output_norm.weight", ones_e)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {args.out}: {L} layers, n_embd {E}, n_ff {F}, heads {H}/{KV}, vocab {n_vocab}, "
          f"{total / 2**30:.2f} GiB of Q4_0, {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
