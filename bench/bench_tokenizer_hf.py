#!/usr/bin/env python3
# bench_tokenizer_hf.py — the reference side of bench/run_tokenizer.sh: Hugging Face
# `tokenizers` (pinned 0.23.3) encoding the same text, single thread (TOKENIZERS_PARALLELISM
# and RAYON_NUM_THREADS set by the caller). Same output format as bench_tokenizer.
import sys
import time

import tokenizers
from tokenizers import Tokenizer


def main():
    path, text_path = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "--lines"
    repeat = 3
    t0 = time.perf_counter()
    tk = Tokenizer.from_file(path)
    load_s = time.perf_counter() - t0
    data = open(text_path, "rb").read()
    text = data.decode("utf-8")
    if mode == "--lines":  # split after each "\n" only, as bench_tokenizer does
        parts = text.split("\n")
        items = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    else:
        items = [text]

    def run():
        encs = tk.encode_batch(items, add_special_tokens=False)
        ntok, s = 0, 0
        for enc in encs:
            ntok += len(enc.ids)
            for i in enc.ids:
                s = (s * 1000003 + i) & 0xFFFFFFFFFFFFFFFF
        return ntok, s

    run()  # warm-up
    best = 1e30
    for _ in range(repeat):
        a = time.perf_counter()
        tk.encode_batch(items, add_special_tokens=False)
        best = min(best, time.perf_counter() - a)
    ntok, s = run()
    print("hf:   %.2f MB/s  (%d bytes, %d tokens, mode %s, best of %d: %.3f s, load %.2f s, checksum %016x, tokenizers %s)"
          % (len(data) / best / 1e6, len(data), ntok, mode[2:], repeat, best, load_s, s, tokenizers.__version__))


if __name__ == "__main__":
    main()
