#!/usr/bin/env python3
# gen_text_tok_fixtures.py — fixtures for tests/text/test_tok_qwen2.c and test_chat.c, made
# with Hugging Face `tokenizers` from the shared Qwen2 vocabulary (../shared/data/qwen2-tokenizer).
#
# Pinned reference versions:  tokenizers==0.23.3  jinja2==3.1.6
#   pip install tokenizers==0.23.3 jinja2==3.1.6
# Usage: python3 tools/gen_text_tok_fixtures.py [--shared ../shared] [--out tests/fixtures/text]
#        python3 tools/gen_text_tok_fixtures.py --save-json /tmp/qwen2-tokenizer.json   (bench)
import argparse
import json
import os
import random
import sys

import jinja2
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

assert tokenizers.__version__ == "0.23.3", tokenizers.__version__
assert jinja2.__version__ == "3.1.6", jinja2.__version__

QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Qwen2.5-Instruct chat template, non-tool branch (reference/model-specs.md §2.2).
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


def build_qwen2(shared):
    d = os.path.join(shared, "data", "qwen2-tokenizer")
    bpe = models.BPE.from_file(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
    tk = Tokenizer(bpe)
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    added = json.load(open(os.path.join(d, "added_tokens.json")))
    for sid in sorted(added, key=int):
        a = added[sid]
        t = AddedToken(a["content"], special=a["special"], normalized=False)
        if a["special"]:
            tk.add_special_tokens([t])
        else:
            tk.add_tokens([t])
        got = tk.token_to_id(a["content"])
        assert got == int(sid), (a, got)
    # our audio placeholder, next free id (as tok_load does)
    tk.add_special_tokens([AddedToken("<|audio|>", special=True, normalized=False)])
    assert tk.token_to_id("<|audio|>") == 151665
    return tk


def check_goldens(tk, shared):
    d = os.path.join(shared, "data", "qwen2-tokenizer")
    inp = open(os.path.join(d, "golden-llamacpp.inp"), encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    out = open(os.path.join(d, "golden-llamacpp.out"), encoding="utf-8").read().split("\n")
    for i, s in enumerate(inp[:-1]):
        want = [int(x) for x in out[i].split()]
        assert tk.encode(s, add_special_tokens=False).ids == want, (i, s)
    for c in json.load(open(os.path.join(d, "golden-transformers.json"), encoding="utf-8")):
        assert tk.encode(c["text"], add_special_tokens=False).ids == c["ids"]


def rand_text(rng):
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789", "     ", "\n\n\r\t", ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
        "'s'S't're've'M'll'D",
        "àéîõüçñÀÉÎÕÜÇÑßøå", "\u0301\u0308\u0327\u0323",  # combining marks (NFC)
        "\u00a0\u0085\u1680\u2000\u2003\u2028\u2029\u202f\u205f\u3000\u200b\u180e\x0b\x0c\x1c",
        "нещоаБългарскиΑλφαβητοעבריתالعربية", "我想在工作天提供了可以轻松地下载", "ကាន់តែពិសេសអាច",
        "😀🦙🚀✅👍🏽‍♀️🤗", "½¼²³①⑫ⅣⅫ٣٤५६",
    ]
    parts = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.15:  # any scalar value (no surrogates)
            cp = rng.randint(0, 0x10FFFF)
            while 0xD800 <= cp <= 0xDFFF:
                cp = rng.randint(0, 0x10FFFF)
            parts.append(chr(cp))
        elif r < 0.25:
            parts.append(chr(rng.randint(0x20, 0x2FFF)))
        else:
            p = rng.choice(pools)
            parts.append("".join(rng.choice(p) for _ in range(rng.randint(1, 8))))
    return "".join(parts)


def chat_render(messages, add_generation_prompt):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(CHAT_TEMPLATE).render(messages=messages,
                                                 add_generation_prompt=add_generation_prompt)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "text"))
    ap.add_argument("--save-json", help="only write the HF tokenizer.json (for bench/)")
    a = ap.parse_args()
    tk = build_qwen2(a.shared)
    if a.save_json:
        tk.save(a.save_json)
        return
    check_goldens(tk, a.shared)

    rng = random.Random(20261126)
    cases = []
    for _ in range(400):
        s = rand_text(rng)
        cases.append({"text": s, "ids": tk.encode(s, add_special_tokens=False).ids})
    with open(os.path.join(a.out, "qwen2_random_hf.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tokenizers " + tokenizers.__version__, "cases": cases}, f,
                  ensure_ascii=True, separators=(",", ":"))

    instr = "Transcribe the speech of the target speaker."
    chats = [
        {"system": None, "instruction": "What is the capital of France?", "audio": 0, "response": None},
        {"system": "You are a helpful assistant.", "instruction": instr, "audio": 1,
         "response": "<think></think><answer>THIRTY OR FORTY MILES EASTWARD FROM SEATTLE</answer>"},
        {"system": "You are a speech recognition model.", "instruction": instr, "audio": 3,
         "response": "<think>Audio information: 0-3s is enrollment speech; 3-6s is silence. Target speaker: "
                     "Speaker1.</think><answer>HE'S THERE</answer>"},
        {"system": None, "instruction": "Say  hi\n", "audio": 0, "response": " hello there"},
    ]
    out = []
    for c in chats:
        msgs = []
        if c["system"] is not None:
            msgs.append({"role": "system", "content": c["system"]})
        msgs.append({"role": "user", "content": c["instruction"] + "<|audio|>" * c["audio"]})
        prompt = chat_render(msgs, True)
        full = prompt
        if c["response"] is not None:
            full = chat_render(msgs + [{"role": "assistant", "content": c["response"]}], False)
            assert full.startswith(prompt)
        ids = tk.encode(full, add_special_tokens=False).ids
        pids = tk.encode(prompt, add_special_tokens=False).ids
        out.append(dict(c, text=full, ids=ids, prompt_ids=len(pids)))
    with open(os.path.join(a.out, "qwen2_chat_hf.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tokenizers %s + jinja2 %s" % (tokenizers.__version__, jinja2.__version__),
                   "chats": out}, f, ensure_ascii=False, indent=1)
    print("wrote", len(cases), "random cases and", len(out), "chats", file=sys.stderr)


if __name__ == "__main__":
    main()
