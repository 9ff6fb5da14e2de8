"""Engine snapshots: the whole state as bytes, self-checking, restorable bit for bit.

Layout: ``MAGIC`` (8 bytes), format version (u32), payload length (u64), BLAKE2b-256 digest of
the payload (32 bytes), then the payload: an ``.npz`` archive of the node ids, G's and H's
neighbour lists in their exact order (so walks after a restore are the walks the engine would
have taken anyway) and a JSON header (config, graph id, batch number). A truncated, corrupted or
foreign blob raises :class:`sparsiflow.engine.exceptions.SnapshotError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.exceptions import SnapshotError
from sparsiflow.engine.store.graph_store import Lists

__all__ = ["MAGIC", "EngineState", "dumps", "loads"]

MAGIC = b"SPFLSNAP"
_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s")


@dataclass(frozen=True)
class EngineState:
    """What a snapshot holds: the engine's configuration and identity, its external node ids and
    G's and H's neighbour lists (degrees, neighbours, weights) in their exact order."""

    config: EngineConfig
    graph_id: str
    batch_number: int
    nodes: int
    ids: NDArray[np.int64]
    graph: Lists
    sparsifier: Lists


def dumps(state: EngineState) -> bytes:
    """Serialize an engine state."""
    meta = {
        "config": dataclasses.asdict(state.config),
        "graph_id": state.graph_id,
        "batch_number": state.batch_number,
        "nodes": state.nodes,
    }
    g, h = state.graph, state.sparsifier
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        ids=state.ids,
        g_deg=g[0], g_nbr=g[1], g_wt=g[2],
        h_deg=h[0], h_nbr=h[1], h_wt=h[2],
    )  # fmt: skip
    payload = buffer.getvalue()
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    return _HEADER.pack(MAGIC, _VERSION, len(payload), digest) + payload


def loads(data: bytes) -> EngineState:
    """The state :func:`dumps` wrote (SnapshotError when the bytes are damaged or foreign)."""
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
        return EngineState(
            config=EngineConfig(**meta["config"]),
            graph_id=meta["graph_id"],
            batch_number=int(meta["batch_number"]),
            nodes=int(meta["nodes"]),
            ids=parts["ids"],
            graph=(parts["g_deg"], parts["g_nbr"], parts["g_wt"]),
            sparsifier=(parts["h_deg"], parts["h_nbr"], parts["h_wt"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"snapshot payload unreadable: {exc}") from exc
