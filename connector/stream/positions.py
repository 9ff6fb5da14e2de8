"""Positions in an input partition at the granularity of one update: a record offset and a
row inside that record (a huge batch-form record is split across several engine batches)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Position"]


class Position(NamedTuple):
    """The update at ``row`` of the record at ``offset``; ordered as (offset, row)."""

    offset: int
    row: int = 0

    @classmethod
    def past(cls, offset: int, row_end: int, rows: int) -> Position:
        """The position after rows ``..row_end`` of the ``rows``-row record at ``offset``."""
        return cls(offset, row_end) if row_end < rows else cls(offset + 1, 0)

    def rows_left(self, offset: int, rows: int) -> int:
        """First row of the ``rows``-row record at ``offset`` not before this position
        (``rows`` when the whole record lies before it)."""
        if offset < self.offset:
            return rows
        return min(self.row, rows) if offset == self.offset else 0
