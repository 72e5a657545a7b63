#!/usr/bin/env python3
# gen_text_format_fixtures.py — small tokenizers in every file form our loader reads, made and
# scored by Hugging Face `tokenizers` (tests/text/test_tok_formats.c):
#   tiny_pairs.json    tokenizer.json, merges as ["a", "b"] pairs (tokenizers >= 0.20 default)
#   tiny_strings.json  the same with merges as "a b" strings (older files)
#   tiny_vm/           vocab.json + merges.txt + added_tokens.json ({"content": id})
#   tiny_gpt2.json     GPT-2 style: ByteLevel pre-tokenizer with its own regex, no normalizer,
#                      ignore_merges=true
#   tiny_cases.json    texts and the ids HF gives for each form
# Both tokenizers are trained by HF's BpeTrainer on tests/fixtures/text/bpe_corpus.txt.
#
# Pinned reference version:  tokenizers==0.23.3
# Usage: python3 tools/gen_text_format_fixtures.py
import json
import os

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

assert tokenizers.__version__ == "0.23.3", tokenizers.__version__

QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEXTS = [
    "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE",
    "<|im_start|>user\nHello<|im_end|> <tool> it's   fine\t\n\n",
    "Привет, мир! 你好 Ça va? naïve café 😀 12345",
    "e\u0301 and \u212b (NFC) I'll we've THEY'RE",
    "   spaces   everywhere   ",
]


def train(corpus, pre, norm, vocab_size):
    tk = Tokenizer(models.BPE())
    tk.normalizer = norm
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train([corpus], tr)
    tk.add_tokens([AddedToken("<tool>", special=False, normalized=False)])
    return tk


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "tests", "fixtures", "text")
    corpus = os.path.join(out, "bpe_corpus.txt")
    qwen_pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    a = train(corpus, qwen_pre, normalizers.NFC(), 420)
    a.save(os.path.join(out, "tiny_pairs.json"), pretty=False)
    j = json.load(open(os.path.join(out, "tiny_pairs.json"), encoding="utf-8"))
    assert isinstance(j["model"]["merges"][0], list)
    j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
    with open(os.path.join(out, "tiny_strings.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    vm = os.path.join(out, "tiny_vm")
    os.makedirs(vm, exist_ok=True)
    a.model.save(vm)  # vocab.json + merges.txt
    with open(os.path.join(vm, "added_tokens.json"), "w", encoding="utf-8") as f:
        json.dump({t: a.token_to_id(t) for t in SPECIALS + ["<tool>"]}, f)

    b = train(corpus, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), None, 380)
    jb = json.loads(b.to_str())
    jb["model"]["ignore_merges"] = True
    b = Tokenizer.from_str(json.dumps(jb))
    b.save(os.path.join(out, "tiny_gpt2.json"), pretty=False)

    # the vocab.json + merges.txt form as HF reads it, to score that form too
    c = Tokenizer(models.BPE.from_file(os.path.join(vm, "vocab.json"), os.path.join(vm, "merges.txt")))
    c.normalizer = normalizers.NFC()
    c.pre_tokenizer = qwen_pre
    for t in SPECIALS + ["<tool>"]:
        c.add_special_tokens([AddedToken(t, special=True, normalized=False)])
        assert c.token_to_id(t) == a.token_to_id(t)

    cases = []
    for t in TEXTS:
        ida = a.encode(t, add_special_tokens=False).ids
        assert Tokenizer.from_file(os.path.join(out, "tiny_strings.json")).encode(t, add_special_tokens=False).ids == ida
        assert c.encode(t, add_special_tokens=False).ids == ida
        cases.append({"text": t, "ids": ida, "gpt2_ids": b.encode(t, add_special_tokens=False).ids})
    with open(os.path.join(out, "tiny_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tokenizers " + tokenizers.__version__, "cases": cases}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
