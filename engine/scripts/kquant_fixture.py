#!/usr/bin/env python3
"""Writes engine/tests/fixtures/kquants.json: random Q4_K, Q5_K and Q6_K super-blocks and their
values as llama.cpp's own Python package (`gguf`, gguf-py) dequantises them, so the engine's
dequantisation is checked against an independent implementation.

    python3 -m venv /tmp/g && /tmp/g/bin/pip install gguf==0.19.0 numpy
    /tmp/g/bin/python engine/scripts/kquant_fixture.py
"""
import json
import pathlib

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T, quants

rng = np.random.default_rng(20261206)
out = {}
for name, t in [("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K)]:
    _, size = GGML_QUANT_SIZES[t]
    blocks = rng.integers(0, 256, size=(3, size), dtype=np.uint8)
    # Finite, moderate f16 scales (random bytes would give NaNs and infinities).
    for b in blocks:
        scales = rng.uniform(-0.05, 0.05, size=2).astype(np.float16).view(np.uint8)
        if t == T.Q6_K:
            b[-2:] = scales[:2]
        else:
            b[0:4] = scales
    values = quants.dequantize(blocks.reshape(-1), t)
    out[name] = {"blocks": blocks.tobytes().hex(), "values": [float(v) for v in values.astype(np.float32)]}
path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kquants.json"
path.write_text(json.dumps(out) + "\n")
print(f"wrote {path}")
