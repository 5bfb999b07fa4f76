#!/usr/bin/env python3
"""Writes the fuzz seed corpus under tests/fuzz/seeds/ (small valid captures, .npy and .npz files laid out
like numpy and safetensors write them) and hand-made hostile inputs under tests/fuzz/regressions/ (limits
and overflows the parsers must refuse cleanly). Standard library only; rerun after changing the format:
    python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8}


def values(n, fmt):
    if fmt == "F32":
        return struct.pack(f"<{n}f", *[(i % 7 - 3) * 0.25 for i in range(n)])
    if fmt == "F16":
        return struct.pack(f"<{n}e", *[(i % 7 - 3) * 0.25 for i in range(n)])
    if fmt == "BF16":
        return b"".join(struct.pack("<f", (i % 7 - 3) * 0.25)[2:] for i in range(n))
    if fmt == "I32":
        return struct.pack(f"<{n}i", *range(n))
    if fmt == "I64":
        return struct.pack(f"<{n}q", *range(n))
    raise ValueError(fmt)


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        blob = values(n, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


def npy(descr, shape, payload):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    total = (10 + len(d) + 1 + 63) // 64 * 64
    d = d + " " * (total - 10 - len(d) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode("latin1") + payload


def npz(path, arrays, compressed):
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as zf:
        for name, blob in arrays:
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            info.compress_type = mode
            with zf.open(info, "w", force_zip64=True) as f:  # as numpy's savez does
                f.write(blob)


def layer_tensors(ids, dtype, hq=2, hkv=1, L=4, D=2, drift=True, prefix=True):
    out = []
    for l in ids:
        p = f"layers.{l}." if prefix else ""
        out += [(p + "q", dtype, [hq, L, D]), (p + "k", dtype, [hkv, L, D]), (p + "v", dtype, [hkv, L, D])]
        if drift:
            out.append((p + "drift", "F32", [L]))
    return out


def write(sub, name, blob):
    os.makedirs(os.path.join(SEEDS, sub), exist_ok=True)
    with open(os.path.join(SEEDS, sub, name), "wb") as f:
        f.write(blob)


def main():
    meta = {"format": "tsa-qkv/1", "model": "seed", "num_layers": "3",
            "token_strings": json.dumps(["a", "b", "c", "d"])}
    write("safetensors", "two_layers_f32.safetensors",
          safetensors([("tokens", "I32", [4])] + layer_tensors([0, 2], "F32"), meta))
    write("safetensors", "single_f16_lhd.safetensors",
          safetensors([("q", "F16", [1, 4, 2, 2]), ("k", "F16", [4, 1, 2]), ("v", "F16", [4, 1, 2])],
                      {"layout": "LHD"}))
    write("safetensors", "bf16_gqa.safetensors", safetensors(layer_tensors([1], "BF16", hq=4, hkv=2, drift=False)))
    write("safetensors", "header_only.safetensors", safetensors([]))

    write("npy", "f4_3d.npy", npy("<f4", [2, 4, 2], values(16, "F32")))
    write("npy", "f2_1d.npy", npy("<f2", [5], values(5, "F16")))
    write("npy", "i8_scalar.npy", npy("<i8", [], values(1, "I64")))
    write("npy", "unicode.npy", npy("<U4", [], "abcd".encode("utf-32-le")))

    arrays = [(f"layers.{l}.{t}", npy("<f4", [2 if t == "q" else 1, 4, 2], values(16 if t == "q" else 8, "F32")))
              for l in (0, 1) for t in "qkv"]
    arrays.append(("tokens", npy("<i8", [4], values(4, "I64"))))
    text = json.dumps({"format": "tsa-qkv/1", "model": "seed-npz"})
    arrays.append(("__metadata__", npy(f"<U{len(text)}", [], text.encode("utf-32-le"))))
    os.makedirs(os.path.join(SEEDS, "npz"), exist_ok=True)
    npz(os.path.join(SEEDS, "npz", "stored.npz"), arrays, False)
    npz(os.path.join(SEEDS, "npz", "deflated.npz"), arrays, True)


def write_regression(name, blob):
    with open(os.path.join(HERE, "regressions", name), "wb") as f:
        f.write(blob)


def regressions():
    raw = lambda text: struct.pack("<Q", len(text)) + text.encode()
    write_regression("st_header_length_max.safetensors", b"\xff" * 8 + b"{}")
    write_regression("st_deep_json.safetensors", raw("[" * 5000 + "]" * 5000))
    write_regression("st_shape_overflow.safetensors",
                     raw('{"q":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}'))
    write_regression("st_offsets_wrap.safetensors",
                     raw('{"q":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}}'))
    write_regression("st_zero_heads.safetensors",
                     safetensors([("q", "F32", [0, 4, 2]), ("k", "F32", [0, 4, 2]), ("v", "F32", [0, 4, 2])]))
    write_regression("npy_deep_tuple.npy", npy("<f4", [], b"")[:10] + b"(" * 3000)
    write_regression("npy_v2_huge_header.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{}")
    # Zip: an end record that asks for zip64 with a locator pointing far outside the file.
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    locator = struct.pack("<IIQI", 0x07064B50, 0, 0xFFFFFFFFFFFF, 1)
    write_regression("npz_zip64_locator_outside.npz", b"PK\x03\x04" + locator + eocd)
    # A deflated member whose central directory claims 2 GB from a few bytes.
    with open(os.path.join(SEEDS, "npz", "deflated.npz"), "rb") as f:
        blob = bytearray(f.read())
    cd = blob.find(b"PK\x01\x02")
    blob[cd + 24:cd + 28] = struct.pack("<I", 0x7FFFFFFF)
    write_regression("npz_claims_2gb.npz", bytes(blob))


if __name__ == "__main__":
    main()
    regressions()
