"""Decode throughput of the input codec: single-update and batch-form records per second.

    python -m bench.codec_throughput [--seconds 2] [--batch-updates 1000]

Prints JSON: events/s and updates/s for each record form, plus the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import orjson

from sparsiflow.connector.wire.edge_updates import Decoded, decode


def _records(n: int, batch: int, rng: np.random.Generator) -> tuple[list[bytes], list[bytes]]:
    u = rng.integers(0, 1_000_000, size=(n, batch))
    v = u + rng.integers(1, 1000, size=(n, batch))
    w = rng.uniform(0.1, 10.0, size=(n, batch))
    single = [
        orjson.dumps({"graph": "g1", "op": "insert", "u": int(a), "v": int(b), "w": float(c)})
        for a, b, c in zip(u[:, 0], v[:, 0], w[:, 0], strict=True)
    ]
    ops = ["insert"] * batch
    batched = [
        orjson.dumps(
            {"graph": "g1", "ops": ops, "u": a, "v": b, "w": c}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        for a, b, c in zip(u, v, w, strict=True)
    ]
    return single, batched


def _rate(records: list[bytes], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for raw in records:
            assert isinstance(decode(raw), Decoded)
        done += len(records)
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch-updates", type=int, default=1000)
    args = parser.parse_args(argv)
    single, batched = _records(200, args.batch_updates, np.random.default_rng(0))
    single_rate = _rate(single, args.seconds)
    batch_rate = _rate(batched, args.seconds)
    result = {
        "benchmark": "codec_throughput",
        "single": {"events_per_s": round(single_rate), "updates_per_s": round(single_rate)},
        "batch": {
            "updates_per_record": args.batch_updates,
            "events_per_s": round(batch_rate),
            "updates_per_s": round(batch_rate * args.batch_updates),
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
