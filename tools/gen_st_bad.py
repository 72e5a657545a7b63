#!/usr/bin/env python3
"""gen_st_bad.py — writes the malformed safetensors files of tests/fixtures/st/bad/.

Each case NAME gives NAME.safetensors (the file) and NAME.txt (one line: a substring that the
reader's error message must contain). Plain struct/json, no reference library: the files are
broken on purpose, one problem each, the rest of the file valid.
Usage: python3 tools/gen_st_bad.py [OUT_DIR]
"""
import json
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "st", "bad")


def header_bytes(h):
    if isinstance(h, bytes):
        return h
    return json.dumps(h, separators=(",", ":")).encode()


def st(h, data=b"", pad=True, hlen=None):
    """8-byte little-endian length, header (space-padded to 8 bytes), data."""
    hb = header_bytes(h)
    if pad:
        hb += b" " * ((8 - len(hb) % 8) % 8)
    n = len(hb) if hlen is None else hlen
    return struct.pack("<Q", n) + hb + data


def t(dtype="F32", shape=(2,), offs=(0, 8)):
    aslist = lambda v: list(v) if isinstance(v, (tuple, list)) else v
    return {"dtype": dtype, "shape": aslist(shape), "data_offsets": aslist(offs)}


CASES = {}


def case(name, blob, expect):
    CASES[name] = (blob, expect)


# --- the 8-byte length and the header bytes
case("empty", b"", "shorter than the 8-byte header length")
case("short", b"\x10\x00\x00\x00\x00", "shorter than the 8-byte header length")
case("hlen_huge", struct.pack("<Q", 2**64 - 1) + b"{}      ", "exceeds the limit")
case("hlen_over_cap", struct.pack("<Q", 100_000_001) + b"{}      ", "exceeds the limit")
case("hlen_past_eof", st({"a": t()}, b"\0" * 8, hlen=4096), "runs past the end of the file")
case("not_json", st(b"hello, world"), "not valid JSON")
case("json_truncated", st(b'{"a":{"dtype":"F32"'), "not valid JSON")
case("json_trailing", st(b'{}  {}'), "trailing bytes after the JSON value")
case("not_object", st(b"[1,2,3]"), "not a JSON object")
case("string_header", st(b'"abc"'), "not a JSON object")
case("bad_utf8", st(b'{"a\xff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 8),
     "not valid UTF-8")
case("nul_in_header", st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}\0', b"\0" * 8),
     "contains a NUL byte")
# --- metadata
case("meta_not_object", st({"__metadata__": ["x"], "a": t()}, b"\0" * 8),
     "\"__metadata__\" is not an object")
case("meta_value_not_string", st({"__metadata__": {"step": 3}, "a": t()}, b"\0" * 8),
     "value of \"step\" is not a string")
case("meta_duplicate",
     st(b'{"__metadata__":{},"__metadata__":{},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        b"\0" * 8), "duplicate \"__metadata__\"")
# --- one entry
case("entry_not_object", st({"a": 5}), "tensor \"a\": entry is not an object")
case("dtype_missing", st({"a": {"shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
     "tensor \"a\": missing \"dtype\"")
case("dtype_not_string", st({"a": t(dtype=32)}, b"\0" * 8), "\"dtype\" is not a string")
case("dtype_unknown", st({"a": t(dtype="F33")}, b"\0" * 8), "unknown dtype \"F33\"")
case("dtype_lowercase", st({"a": t(dtype="f32")}, b"\0" * 8), "unknown dtype \"f32\"")
case("shape_missing", st({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, b"\0" * 8),
     "missing \"shape\"")
case("shape_not_list", st({"a": t(shape=2)}, b"\0" * 8), "\"shape\" is not a list")
case("shape_negative", st({"a": t(shape=(-2,))}, b"\0" * 8), "shape entry 0 is not a non-negative integer")
case("shape_float", st({"a": t(shape=(2, 1.5))}, b"\0" * 8), "shape entry 1 is not a non-negative integer")
case("shape_string", st({"a": t(shape=("2",))}, b"\0" * 8), "shape entry 0 is not a non-negative integer")
case("shape_huge_int", st({"a": t(shape=(2**64,))}, b"\0" * 8), "shape entry 0 is not a non-negative integer")
case("shape_overflow", st({"a": t(shape=(2**40, 2**40, 2**40))}, b"\0" * 8),
     "element count overflows")
case("shape_bytes_overflow", st({"a": t(dtype="F64", shape=(2**31, 2**31))}, b"\0" * 8),
     "byte size overflows")
case("shape_too_many_dims", st({"a": t(dtype="U8", shape=(1,) * 9, offs=(0, 1))}, b"\0"),
     "9 dimensions")
case("subbyte_partial", st({"a": t(dtype="F4", shape=(3,), offs=(0, 2))}, b"\0" * 2),
     "do not fill whole bytes")
case("offsets_missing", st({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
     "missing \"data_offsets\"")
case("offsets_one", st({"a": t(offs=(0,))}, b"\0" * 8), "\"data_offsets\" is not a list of two")
case("offsets_three", st({"a": t(offs=(0, 8, 8))}, b"\0" * 8), "\"data_offsets\" is not a list of two")
case("offsets_not_int", st({"a": t(offs=("0", 8))}, b"\0" * 8), "\"data_offsets\" is not a list of two")
case("offsets_negative", st({"a": t(offs=(-8, 0))}, b"\0" * 8), "\"data_offsets\" is not a list of two")
case("offsets_object", st({"a": t(offs={"b": 0})}, b"\0" * 8), "\"data_offsets\" is not a list of two")
case("begin_after_end", st({"a": t(offs=(8, 0))}, b"\0" * 8), "begin > end")
case("offsets_out_of_range", st({"a": t(offs=(0, 8))}, b"\0" * 4), "out of range")
case("offsets_far_out", st({"a": t(shape=(2**50,), offs=(2**52, 2**52 + 2**52))}, b"\0" * 8),
     "out of range")
case("size_mismatch", st({"a": t(shape=(3,), offs=(0, 8))}, b"\0" * 8), "size mismatch")
case("size_mismatch_bf16", st({"a": t(dtype="BF16", shape=(2, 2), offs=(0, 4))}, b"\0" * 4),
     "size mismatch")
# --- the layout of several entries
case("overlap", st({"a": t(offs=(0, 8)), "b": t(offs=(4, 12))}, b"\0" * 12), "overlap")
case("overlap_same", st({"a": t(offs=(0, 8)), "b": t(offs=(0, 8))}, b"\0" * 8), "overlap")
case("overlap_empty_inside", st({"a": t(offs=(0, 8)), "e": t(shape=(0,), offs=(4, 4))}, b"\0" * 8),
     "overlap")
case("gap", st({"a": t(offs=(0, 8)), "b": t(offs=(12, 20))}, b"\0" * 20), "gap of 4 unused bytes")
case("trailing_data", st({"a": t(offs=(0, 8))}, b"\0" * 12), "4 trailing bytes")
case("no_tensors_trailing", st({}, b"\0" * 8), "8 trailing bytes")
case("duplicate_name",
     st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', b"\0" * 16),
     "duplicate tensor name \"a\"")
case("empty_name", st({"": t()}, b"\0" * 8), "empty tensor name")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors") or f.endswith(".txt"):
            os.remove(os.path.join(OUT, f))
    for name, (blob, expect) in sorted(CASES.items()):
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(blob)
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write(expect + "\n")
    print(f"{len(CASES)} cases in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
