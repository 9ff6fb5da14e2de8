"""Engine snapshots: the whole state as bytes, self-checking, restorable bit for bit.

Layout: ``MAGIC`` (8 bytes), format version (u32), payload length (u64), BLAKE2b-256 digest of
the payload (32 bytes), then the payload: an ``.npz`` archive of the node ids, G's and H's
neighbour lists in their exact order (so walks after a restore are the walks the engine would
have taken anyway) and a JSON header (config, graph id, batch number). A truncated, corrupted or
foreign blob raises :class:`engine.exceptions.SnapshotError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.config import EngineConfig
from engine.exceptions import SnapshotError
from engine.graphstore import GraphStore

if TYPE_CHECKING:
    from engine.engine import Engine

__all__ = ["MAGIC", "dumps", "loads"]

MAGIC = b"SPFLSNAP"
_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s")


def dumps(engine: Engine) -> bytes:
    """Serialize an engine."""
    g, h = engine._store.lists()
    meta = {
        "config": dataclasses.asdict(engine.config),
        "graph_id": engine.graph_id,
        "batch_number": engine.batch_number,
        "nodes": engine._store.nodes,
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        ids=engine._ids.external,
        g_deg=g[0], g_nbr=g[1], g_wt=g[2],
        h_deg=h[0], h_nbr=h[1], h_wt=h[2],
    )  # fmt: skip
    payload = buffer.getvalue()
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    return _HEADER.pack(MAGIC, _VERSION, len(payload), digest) + payload


def loads(data: bytes, engine_type: type[Engine], config: EngineConfig | None = None) -> Engine:
    """Rebuild an engine from :func:`dumps` output (with ``config`` instead of the saved one)."""
    if len(data) < _HEADER.size:
        raise SnapshotError(f"snapshot too short ({len(data)} bytes)")
    magic, version, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError("not a sparsiflow engine snapshot")
    if version != _VERSION:
        raise SnapshotError(f"snapshot format version {version} is not supported")
    payload = data[_HEADER.size :]
    if len(payload) != length:
        raise SnapshotError(f"snapshot truncated: {len(payload)} of {length} payload bytes")
    if hashlib.blake2b(payload, digest_size=32).digest() != digest:
        raise SnapshotError("snapshot checksum mismatch: the data is corrupt")
    try:
        with np.load(io.BytesIO(payload)) as arrays:
            parts = {name: arrays[name] for name in arrays.files}
        meta: dict[str, Any] = json.loads(parts["meta"].tobytes())
        saved = EngineConfig(**meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"snapshot payload unreadable: {exc}") from exc
    engine = engine_type(config or saved, meta["graph_id"])
    engine._ids.add(parts["ids"])
    store = GraphStore.from_lists(
        int(meta["nodes"]),
        (parts["g_deg"], parts["g_nbr"], parts["g_wt"]),
        (parts["h_deg"], parts["h_nbr"], parts["h_wt"]),
    )
    engine._set_state(store)
    engine.batch_number = int(meta["batch_number"])
    return engine
