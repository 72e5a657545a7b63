#!/usr/bin/env python3
# gen_text_bpe_fixture.py — checks our BPE trainer's tokenizer.json with Hugging Face
# `tokenizers`: loads it, encodes test texts, and commits the trainer output together with the
# expected ids (tests/text/test_bpe_train.c).
#
# Pinned reference version:  tokenizers==0.23.3
#   pip install tokenizers==0.23.3
# Usage: first build and run the test once so the trainer writes its output:
#   cmake --build build --target test_bpe_train && ./build/tests/test_bpe_train
#   python3 tools/gen_text_bpe_fixture.py [--trained build/text_bpe_trained.json]
import argparse
import json
import os
import shutil

import tokenizers
from tokenizers import Tokenizer

assert tokenizers.__version__ == "0.23.3", tokenizers.__version__

TEXTS = [
    "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE",
    "The tokenizer loads Hugging Face files; the trainer makes small vocabularies.",
    "<|im_start|>user\nTranscribe.<|audio|><|im_end|>\n<|im_start|>assistant\n<think></think><answer>HE'S THERE</answer><|im_end|>",
    "Unseen words: zygote quixotic, numbers 1234567 and 3.14, spaces   and\ttabs\n\n",
    "Привет, мир! 你好，世界！ Ça va? Größe naïve café 😀🚀 ✅",
    "  leading and trailing   ",
    "e\u0301 composed by NFC, \u212b too",
    "",
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..")
    ap = argparse.ArgumentParser()
    ap.add_argument("--trained", default=os.path.join(root, "build", "text_bpe_trained.json"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "text"))
    a = ap.parse_args()
    dst = os.path.join(a.out, "bpe_trained.json")
    shutil.copyfile(a.trained, dst)
    tk = Tokenizer.from_file(dst)
    cases = []
    for t in TEXTS:
        enc = tk.encode(t, add_special_tokens=False)
        cases.append({"text": t, "ids": enc.ids, "decoded": tk.decode(enc.ids, skip_special_tokens=False)})
    with open(os.path.join(a.out, "bpe_hf_ids.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tokenizers " + tokenizers.__version__, "vocab_size": tk.get_vocab_size(),
                   "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("vocab size", tk.get_vocab_size(), "; ids of case 0:", cases[0]["ids"])


if __name__ == "__main__":
    main()
