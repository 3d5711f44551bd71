#!/usr/bin/env python3
"""The PyTorch peer's RS@k on given embeddings: forward + backward, timed like rsk_torch.py.

Imports `rsk` from shared/peers/rsk_torch.py (the authors' formulation vectorised in PyTorch: query
in the rank sum, tau_rank 0.01, tau_k 1, k in {1, 2, 4, 8, 16}, clamped sigmoids) and runs it on a
batch file written by bench/losses/embeddings.ts: B int32 labels, then B x d float32 rows. The
peer's layout needs the same number of positives for every query (4 per class here).

Usage: /usr/bin/python3 peer_rsk.py [--threads 2] [--warm] FILE B
(--warm: one untimed forward + backward on the same batch before the timed one)
Prints one JSON line: {"B":..,"d":..,"fwd_s":..,"bwd_s":..,"total_s":..,"loss":..}
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "peers"))
from rsk_torch import rsk  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("batch", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grad-out", help="write d loss / d embeddings here (float32, row-major)")
    ap.add_argument("--warm", action="store_true", help="one untimed call on the same batch first")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    raw = open(a.file, "rb").read()
    B = a.batch
    labels = torch.from_numpy(np.frombuffer(raw[: 4 * B], dtype=np.int32).astype(np.int64))
    rows = np.frombuffer(raw[4 * B :], dtype=np.float32).reshape(B, -1)
    x = torch.from_numpy(rows.copy()).requires_grad_(True)
    if a.warm:
        rsk(x, labels).backward()
        x.grad = None
    t0 = time.perf_counter()
    loss = rsk(x, labels)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    if a.grad_out:
        x.grad.numpy().astype(np.float32).tofile(a.grad_out)
    print(json.dumps({"B": B, "d": rows.shape[1], "fwd_s": round(t1 - t0, 4), "bwd_s": round(t2 - t1, 4),
                      "total_s": round(t2 - t0, 4), "loss": loss.item()}), flush=True)


if __name__ == "__main__":
    main()
