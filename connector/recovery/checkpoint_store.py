"""Checkpoint files on the state volume: per graph, its engine snapshot and how far its
published deltas reach; per input partition, a *log mark* bounding where recovery must start
reading the deltas topic.

Layout under ``root`` (one folder per deltas topic, so deployments never mix)::

    p<partition>/<graph>/<batch:012d>.ckpt     engine after <batch> batches + positions
    p<partition>/_log/<log_end:020d>.mark      the graphs with deltas before log_end (each has
                                               a .ckpt here); any other graph's deltas sit at
                                               or after log_end in the delta partition; the
                                               parked graphs, each with the batch of the .ckpt
                                               that holds all its deltas before log_end

Every file is framed: ``MAGIC``, version, header length, a JSON header, a body (the engine
snapshot, itself checksummed) and a BLAKE2b-256 digest of all bytes before it. Files are
written atomically (temporary file, fsync, rename, fsync of the folder); a truncated or
corrupt file fails its digest and is skipped in favour of the next older one. The newest
``keep`` files of each kind are kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sparsiflow.connector.stream.positions import Position

__all__ = [
    "MAGIC",
    "CheckpointError",
    "CheckpointStore",
    "GraphCheckpoint",
    "LogMark",
    "write_atomically",
]

MAGIC = b"SPFLCKPT"
_VERSION = 1
_FRAME = struct.Struct("<8sII")  # magic, version, header length
_DIGEST = 32
_LOG_DIR = "_log"  # graph ids start with a letter or digit, so this never clashes

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt, foreign or of an unknown version."""


@dataclass(frozen=True)
class GraphCheckpoint:
    """One graph's state: ``snapshot`` (engine bytes) after ``batch`` published batches.

    ``covered``: the first input update its deltas do not cover. ``delta_offset``: the offset
    after its last delta in its delta partition (where recovery reads on; 0 with no delta).
    """

    graph: str
    input_topic: str
    partition: int
    batch: int
    covered: Position
    delta_offset: int
    snapshot: bytes


@dataclass(frozen=True)
class LogMark:
    """``graphs`` of ``partition`` have checkpoints; every delta of any other graph of the
    partition is at or after ``log_end`` in the partition's delta partition."""

    partition: int
    log_end: int
    graphs: tuple[str, ...] = ()
    parked: tuple[tuple[str, int], ...] = ()
    """Graphs evicted from memory, with the batch of the checkpoint that holds their engine:
    none of their deltas at or after ``log_end`` comes before that batch's."""


def _frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = orjson.dumps({**header, "body_length": len(body)})
    data = _FRAME.pack(MAGIC, _VERSION, len(head)) + head + body
    return data + hashlib.blake2b(data, digest_size=_DIGEST).digest()


def _unframe(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < _FRAME.size + _DIGEST:
        raise CheckpointError(f"checkpoint too short ({len(data)} bytes)")
    payload, digest = data[:-_DIGEST], data[-_DIGEST:]
    magic, version, head_length = _FRAME.unpack_from(payload)
    if magic != MAGIC:
        raise CheckpointError("not a sparsiflow checkpoint")
    if version != _VERSION:
        raise CheckpointError(f"checkpoint format version {version} is not supported")
    if hashlib.blake2b(payload, digest_size=_DIGEST).digest() != digest:
        raise CheckpointError("checkpoint digest mismatch: truncated or corrupt")
    start = _FRAME.size + head_length
    try:
        header: dict[str, Any] = orjson.loads(payload[_FRAME.size : start])
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint header unreadable: {exc}") from exc
    body = payload[start:]
    if header.get("body_length") != len(body):
        raise CheckpointError("checkpoint body length mismatch")
    return header, body


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class CheckpointStore:
    """Checkpoint files of one deltas topic under ``root``, newest ``keep`` of each kind."""

    def __init__(self, root: Path, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.root = root
        self.keep = keep

    def _partition_dir(self, partition: int) -> Path:
        return self.root / f"p{partition}"

    # --- writing ------------------------------------------------------------------------
    def write_graph(self, ckpt: GraphCheckpoint) -> int:
        """Write one graph checkpoint; prune older ones; return the bytes written."""
        header = {
            "kind": "graph",
            "graph": ckpt.graph,
            "input_topic": ckpt.input_topic,
            "partition": ckpt.partition,
            "batch": ckpt.batch,
            "covered": list(ckpt.covered),
            "delta_offset": ckpt.delta_offset,
        }
        data = _frame(header, ckpt.snapshot)
        folder = self._partition_dir(ckpt.partition) / ckpt.graph
        write_atomically(folder / f"{ckpt.batch:012d}.ckpt", data)
        self._prune(folder, "*.ckpt")
        return len(data)

    def write_mark(self, mark: LogMark) -> int:
        """Write a log mark; prune older ones; return the bytes written."""
        header = {"kind": "mark", "partition": mark.partition, "log_end": mark.log_end}
        data = _frame({**header, "graphs": list(mark.graphs), "parked": dict(mark.parked)})
        folder = self._partition_dir(mark.partition) / _LOG_DIR
        write_atomically(folder / f"{mark.log_end:020d}.mark", data)
        self._prune(folder, "*.mark")
        return len(data)

    def keep_only(self, partition: int, graph: str, batch: int) -> None:
        """Delete the graph's checkpoints other than that of ``batch`` (a dropped graph's older,
        larger states)."""
        for path in (self._partition_dir(partition) / graph).glob("*.ckpt"):
            if path.name != f"{batch:012d}.ckpt":
                path.unlink(missing_ok=True)

    def _prune(self, folder: Path, pattern: str) -> None:
        for old in sorted(folder.glob(pattern), reverse=True)[self.keep :]:
            old.unlink(missing_ok=True)
        for stale in folder.glob(".*.tmp"):  # left by a crash mid-write
            stale.unlink(missing_ok=True)

    # --- reading ------------------------------------------------------------------------
    def graphs(self, partition: int) -> list[str]:
        """Graphs of ``partition`` with a checkpoint folder (maybe holding no good file)."""
        folder = self._partition_dir(partition)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != _LOG_DIR)

    def graph_checkpoints(self, partition: int, graph: str) -> Iterator[GraphCheckpoint]:
        """The graph's readable checkpoints, newest first; damaged files are logged and
        skipped (the engine snapshot inside is checked when it is restored)."""
        folder = self._partition_dir(partition) / graph
        for path in sorted(folder.glob("*.ckpt"), reverse=True):
            try:
                header, body = _unframe(path.read_bytes())
                yield GraphCheckpoint(
                    graph=header["graph"],
                    input_topic=header["input_topic"],
                    partition=int(header["partition"]),
                    batch=int(header["batch"]),
                    covered=Position(*header["covered"]),
                    delta_offset=int(header["delta_offset"]),
                    snapshot=body,
                )
            except (CheckpointError, OSError, KeyError, TypeError, ValueError) as exc:
                log.warning("skipping checkpoint %s: %s", path, exc)

    def log_mark(self, partition: int) -> LogMark | None:
        """The newest readable log mark of ``partition``, or None."""
        folder = self._partition_dir(partition) / _LOG_DIR
        for path in sorted(folder.glob("*.mark"), reverse=True):
            try:
                header, _ = _unframe(path.read_bytes())
                graphs = tuple(str(g) for g in header["graphs"])
                parked = tuple((str(g), int(b)) for g, b in header.get("parked", {}).items())
                return LogMark(int(header["partition"]), int(header["log_end"]), graphs, parked)
            except (CheckpointError, OSError, KeyError, TypeError, ValueError) as exc:
                log.warning("skipping log mark %s: %s", path, exc)
        return None
