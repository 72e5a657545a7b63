#!/usr/bin/env python3
# gen_text_wer_fixture.py — random reference/hypothesis pairs scored by jiwer, for
# tests/text/test_wer.c (S/D/I counts, per-word alignment, corpus and per-set WER).
#
# Pinned reference versions:  jiwer==4.0.0 (rapidfuzz==3.14.6)
#   pip install jiwer==4.0.0 rapidfuzz==3.14.6
# Usage: python3 tools/gen_text_wer_fixture.py [--out tests/fixtures/text/wer_jiwer.json]
import argparse
import json
import os
import random

import jiwer
import rapidfuzz

from importlib.metadata import version

assert version("jiwer") == "4.0.0", version("jiwer")
assert rapidfuzz.__version__ == "3.14.6", rapidfuzz.__version__

VOCAB = ["THE", "A", "OF", "AND", "TO", "HE", "SHE", "IT", "WAS", "IS", "IN", "THAT", "DON'T",
         "SEATTLE", "MILES", "FORTY", "THIRTY", "EASTWARD", "FROM", "OR", "CAT", "HAT"]
TAGS = {"equal": "E", "substitute": "S", "delete": "D", "insert": "I"}


def rand_sentence(rng, n):
    k = rng.randint(2, len(VOCAB))  # sometimes a tiny vocabulary: many repeats and ties
    words = [rng.choice(VOCAB[:k]) for _ in range(n)]
    seps = [rng.choice([" ", " ", " ", "  ", "   "]) for _ in range(max(0, n - 1))]
    s = "".join(w + sep for w, sep in zip(words, seps + [""]))
    return rng.choice(["", " ", "  "]) + s + rng.choice(["", " "])


def mutate(rng, ref_words):
    out = list(ref_words)
    for _ in range(rng.randint(0, 6)):
        op = rng.random()
        if op < 0.3 and out:
            out[rng.randrange(len(out))] = rng.choice(VOCAB)
        elif op < 0.6 and out:
            del out[rng.randrange(len(out))]
        else:
            out.insert(rng.randint(0, len(out)), rng.choice(VOCAB))
    return " ".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "text", "wer_jiwer.json"))
    a = ap.parse_args()
    rng = random.Random(4242)
    pairs = []
    for i in range(1200):
        kind = rng.random()
        if kind < 0.04:
            ref, hyp = "", rand_sentence(rng, rng.randint(0, 5))
        elif kind < 0.08:
            ref, hyp = rand_sentence(rng, rng.randint(1, 8)), ""
        elif kind < 0.10:
            ref, hyp = "", ""
        elif kind < 0.45:  # unrelated sentences: many equal-cost alignments
            ref, hyp = rand_sentence(rng, rng.randint(1, 12)), rand_sentence(rng, rng.randint(0, 12))
        else:
            ref = rand_sentence(rng, rng.randint(1, 30))
            hyp = mutate(rng, ref.split())
        o = jiwer.process_words(ref, hyp)
        ops = "".join(TAGS[c.type] * max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx)
                      for c in o.alignments[0])
        pairs.append({"ref": ref, "hyp": hyp, "S": o.substitutions, "D": o.deletions,
                      "I": o.insertions, "H": o.hits, "wer": o.wer, "ops": ops})
    # three sets and the whole corpus, scored by jiwer on lists (Σ errors / Σ ref words)
    sets = [pairs[0:400], pairs[400:900], pairs[900:]]
    set_wer = [jiwer.process_words([p["ref"] for p in s], [p["hyp"] for p in s]).wer for s in sets]
    corpus = jiwer.process_words([p["ref"] for p in pairs], [p["hyp"] for p in pairs]).wer
    with open(a.out, "w") as f:
        json.dump({"generator": "jiwer 4.0.0 / rapidfuzz 3.14.6", "pairs": pairs,
                   "sets": [400, 500, 300], "set_wer": set_wer, "corpus_wer": corpus}, f,
                  separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
