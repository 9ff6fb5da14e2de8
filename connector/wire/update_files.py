"""Update files: a stream of input events on disk, for ``sparsiflow replay`` and ``produce``.

A JSONL file holds one input event per line (contract ``schemas/edge-update.v1.json``, single or
batch form), each decoded with the worker's :func:`~sparsiflow.connector.wire.edge_updates.decode`
and its default limits: a line is accepted exactly when the worker accepts that record. Blank
lines are skipped. A ``.mtx`` file is a Matrix Market stream of inserted edges (the paper's).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from sparsiflow.connector.wire.edge_updates import assemble, decode, encode_records
from sparsiflow.connector.wire.matrix_market import read_edge_stream
from sparsiflow.connector.wire.rejections import Rejected
from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.updates import UpdateBatch

__all__ = ["UpdateFileError", "read_update_file", "write_updates"]

StrPath = str | PathLike[str]


class UpdateFileError(InvalidUpdateError):
    """A line of an update file that the worker would reject: ``path:line: reason: message``."""

    def __init__(self, path: StrPath, line: int, rejected: Rejected) -> None:
        super().__init__(f"{path}:{line}: {rejected.reason.value}: {rejected.message}")
        self.path = path
        self.line = line
        self.rejected = rejected


def read_update_file(path: StrPath, graph: str | None = None) -> UpdateBatch:
    """Updates of an update file, in order: of a JSONL file (only ``graph``'s if given; every
    line must be valid), or of a ``.mtx`` stream (no graph ids: ``graph`` is not used).

    Raises :class:`UpdateFileError` at the first line the worker would reject.
    """
    if Path(path).suffix == ".mtx":
        return read_edge_stream(path)
    parts = []
    with Path(path).open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            record = line.removesuffix(b"\n")
            if not record.strip():
                continue
            decoded = decode(record)
            if isinstance(decoded, Rejected):
                raise UpdateFileError(path, number, decoded)
            if graph is None or decoded.graph == graph:
                parts.append(decoded)
    return assemble(parts) if parts else UpdateBatch.empty()


def write_updates(path: StrPath, batch: UpdateBatch, graph: str) -> None:
    """Write ``batch`` as JSONL, one single-form input event of ``graph`` per line."""
    with Path(path).open("wb") as fh:
        for value, _ in encode_records(graph, batch, "single"):
            fh.write(value + b"\n")
