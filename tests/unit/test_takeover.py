"""A worker that lost its input partition while frozen, on the in-memory log with
transactional publishing (commit markers, fencing): another worker took the partition and
published; the first, woken, checkpoints its graphs on the revocation and gets the partition
back. Its checkpoint never passes the other worker's deltas, so its recovery reads them and
the graph's delta log never forks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from memlog import INPUT, MemLog, MemPublisher, log_processor

from sparsiflow.connector.stream.ownership import Ownership
from sparsiflow.connector.stream.processor import OutputTopics, Processor
from sparsiflow.connector.wire.deltas import decode_delta

TOPICS = OutputTopics("deltas", "metrics", "dlq", 1)


def _worker(log: MemLog, state: Path, ownership: Ownership | None) -> Processor:
    return log_processor(
        log, TOPICS, state, max_size=2, every_batches=100, ownership=ownership,
        publisher=MemPublisher(log),
    )  # fmt: skip


def _contents(log: MemLog) -> dict[tuple[str, int], set[bytes]]:
    seen: dict[tuple[str, int], set[bytes]] = {}
    for record in log.topics["deltas"][0]:
        if record.value is not None:  # not a commit marker
            event = decode_delta(record.value)
            seen.setdefault((event.graph, event.batch), set()).add(event.content)
    return seen


@pytest.mark.parametrize("ownership", [None, Ownership(1)], ids=["first-seen", "key-hash"])
def test_a_worker_given_back_its_partition_reads_what_the_other_published(
    tmp_path: Path, ownership: Ownership | None
) -> None:
    log = MemLog()
    records = [
        log.append_input(
            INPUT,
            0,
            b"g",
            orjson.dumps({"graph": "g", "op": "insert", "u": i, "v": i + 1, "w": 1.0}),
        )
        for i in range(8)
    ]
    a = _worker(log, tmp_path / "a", ownership)
    b = _worker(log, tmp_path / "b", ownership)

    async def run() -> None:
        await a.on_assigned([0])
        await a.on_records(records[:4])  # batches 0 and 1
        # A is frozen; the group gives the partition to B, which reads from the committed offset
        await b.on_assigned([0])
        await b.on_records(records[2:6])  # 2, 3 are covered; batch 2 is 4-5
        # A wakes up: the group takes the partition from both and gives it back to A
        await a.on_revoked([0])  # A checkpoints what it holds (batch 1)
        await b.on_revoked([0])
        await a.on_assigned([0])
        await a.on_records(records[6:])  # B acknowledged 4 and 5
        await a.close()
        await b.close()

    asyncio.run(run())
    contents = _contents(log)
    assert all(len(c) == 1 for c in contents.values()), "a batch was published twice"
    assert sorted(b for _, b in contents) == [0, 1, 2, 3]
    (state,) = list(a.graphs)
    assert state.engine.stats().edges_graph == 8


@pytest.mark.parametrize("ownership", [None, Ownership(2)], ids=["first-seen", "key-hash"])
def test_positions_pass_markers_and_other_partitions_deltas_but_not_a_takers(
    tmp_path: Path, ownership: Ownership | None
) -> None:
    """Two input partitions share one delta partition: a partition's positions may move past
    commit markers and the other partition's deltas, and stop at a delta of its own graphs
    that another worker published."""
    log = MemLog()
    names = [f"g{i}" for i in range(20)]
    owners = {p: next(g for g in names if Ownership(2).owner(g) == p) for p in (0, 1)}

    def inserts(p: int, start: int) -> list:
        graph = owners[p]
        return [
            log.append_input(INPUT, p, graph.encode(), orjson.dumps(
                {"graph": graph, "op": "insert", "u": i, "v": i + 1, "w": 1.0}
            ))
            for i in range(start, start + 2)
        ]  # fmt: skip

    a = _worker(log, tmp_path / "a", ownership)
    b = _worker(log, tmp_path / "b", ownership)
    restorer = a._restorer
    assert restorer is not None

    async def run() -> None:
        await a.on_assigned([0, 1])
        await a.on_records(inserts(0, 0))
        ours = a._log_end[0]  # past partition 0's delta, at its commit marker
        await a.on_records(inserts(1, 0))
        end = len(log.topics["deltas"][0])
        assert ours < end - 2  # partition 1's delta and marker lie beyond
        assert restorer.own_end(0, ours) == end
        await b.on_assigned([0])
        await b.on_records(inserts(0, 2))  # B took partition 0 and published its batch 1
        taken = next(r.offset for r in log.topics["deltas"][0][end:] if r.value is not None)
        assert restorer.own_end(0, ours) == taken  # up to B's delta, not past it
        assert restorer.own_end(1, end) == len(log.topics["deltas"][0])

    asyncio.run(run())
