#!/usr/bin/env python3
"""gen_st_ref.py — a safetensors file written by the reference library, with the expected values.

Pinned: safetensors==0.8.0 (PyPI), torch from Debian's python3-torch. Run with a Python that has
both, e.g. a venv made with `/usr/bin/python3 -m venv --system-site-packages V` and
`V/bin/pip install safetensors==0.8.0`, then `V/bin/python tools/gen_st_ref.py`.

Writes tests/fixtures/st/ref/ref.safetensors and ref_expected.json: per tensor the dtype, the
shape, and the values converted to float32 by torch, as IEEE bit patterns (integers, so NaN,
infinities and -0 survive JSON), or null for dtypes that do not convert to f32 in tsasr.
"""
import json
import os
import sys

import safetensors
import torch
from safetensors.torch import save_file

assert safetensors.__version__ == "0.8.0", safetensors.__version__

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "st", "ref")

FLOATS = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64",
         torch.int64: "I64", torch.bool: "BOOL", torch.int32: "I32", torch.uint8: "U8"}


def main():
    g = torch.Generator().manual_seed(1234)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, 1e-5, 3.0e38, float("inf"),
                            float("-inf"), float("nan"), 1.0 / 3.0], dtype=torch.float32)
    ts = {
        "encoder.conv.weight": torch.randn(4, 1, 3, generator=g) * 0.1,
        "llm.embed_tokens.weight": (torch.randn(5, 6, generator=g) * 2).to(torch.bfloat16),
        "llm.layers.0.mlp.up_proj.weight": torch.randn(2, 3, 2, 2, generator=g).to(torch.float16),
        "f32.special": special.clone(),
        "bf16.special": special.to(torch.bfloat16),
        "f16.special": special.to(torch.float16),
        "f64.values": torch.tensor([1.0 / 3.0, -1e-40, 1e300, 2.0 ** -130, 123456789.123],
                                   dtype=torch.float64),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, dtype=torch.float32),
        "empty2d.bf16": torch.zeros(2, 0, dtype=torch.bfloat16),
        "odd.bf16": torch.randn(3, generator=g).to(torch.bfloat16),
        "ids": torch.tensor([1, -2, 3, 2**40], dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }
    meta = {"format": "pt", "producer": "tools/gen_st_ref.py", "quote\"and\\slash": "ü €"}
    os.makedirs(OUT, exist_ok=True)
    save_file(ts, os.path.join(OUT, "ref.safetensors"), metadata=meta)

    exp = {"metadata": meta, "tensors": {}}
    for name, t in ts.items():
        e = {"dtype": NAMES[t.dtype], "shape": list(t.shape)}
        if t.dtype in FLOATS:
            f = t.to(torch.float32).reshape(-1).contiguous()
            e["f32_bits"] = [int(v) & 0xFFFFFFFF for v in f.view(torch.int32).tolist()]
        else:
            e["f32_bits"] = None
        exp["tensors"][name] = e
    with open(os.path.join(OUT, "ref_expected.json"), "w") as fp:
        json.dump(exp, fp, indent=1, ensure_ascii=False)
        fp.write("\n")
    print(f"{len(ts)} tensors in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
