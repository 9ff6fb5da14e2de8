"""Bulk intake: the commit offsets it derives from acknowledgements, and a guard on the Faust
internals it relies on (a faust-streaming upgrade that changes them fails here, loudly)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiokafka
import faust
import pytest
from faust.app import base as faust_app
from faust.tables import recovery as faust_recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from sparsiflow.connector.kafka.bulk_intake import FAUST_VERSION, BulkConsumer, install

ROOT = Path(__file__).resolve().parents[2]

# sha256 (first 16 hex digits) of the source of every Faust function whose behaviour the bulk
# intake copies, overrides or relies on (see the module docstring of bulk_intake).
RELIED_ON = {
    "Consumer._drain_messages": "44a2500309e83c63",  # replaced: the loop it must mirror
    "Consumer.getmany": "4b168d84882a70d6",  # its filters (flow, generation) are mirrored
    "Consumer._wait_next_records": "6218e1969a636b3f",  # called
    "Consumer.wait_empty": "e4662fe24f094819",  # extended
    "Consumer._wait_for_ack": "d9c9337d4af88e54",  # called
    "Consumer.on_partitions_revoked": "d04b7ae72c6fc206",  # extended
    "Consumer.force_commit": "cc094614d22c70fb",  # commits what _new_offset gives
    "Consumer._commit_tps": "a20e230b05ae8b15",
    "Consumer._filter_committable_offsets": "dc5e9baf5d994485",
    "Consumer._filter_tps_with_pending_acks": "f6f9239774234e7e",  # extended
    "Consumer._new_offset": "1d2c7ea89a7ad4f1",  # replaced for the bulk topic
    "Consumer.perform_seek": "0e8c130ff4b0afd8",  # re-reads what a rebalance dropped
    "Fetcher._fetcher": "68f894f0b577d810",  # restarts the fetch loop on a rebalance
    "App._on_partitions_revoked": "d5c895bbe57dc73a",  # waits for acks, then the revocation
    "Recovery._resume_streams": "d986a6710c1aca98",  # seeks to committed offsets after an
    "Recovery.on_recovery_completed": "6ef567acf072e46d",  # assignment (one of the two)
    "AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",  # fetch wait set after
    "AIOKafkaConsumer.start": "2f1ba70443327538",  # reads _fetch_max_wait_ms (aiokafka)
}


def _source(name: str) -> str:
    owner, attr = name.split(".")
    cls = {
        "Consumer": faust_consumer.Consumer,
        "Fetcher": faust_consumer.Fetcher,
        "App": faust_app.App,
        "Recovery": faust_recovery.Recovery,
        "AIOKafkaConsumerThread": faust_aiokafka.AIOKafkaConsumerThread,
        "AIOKafkaConsumer": aiokafka.AIOKafkaConsumer,
    }[owner]
    fun = getattr(cls, attr)
    return inspect.getsource(getattr(fun, "fun", fun))


def test_faust_is_the_version_bulk_intake_was_written_for() -> None:
    assert faust.__version__ == FAUST_VERSION
    for lock in ("runtime.txt", "dev.txt", "gpu.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        assert f"faust-streaming=={FAUST_VERSION} " in text, lock


@pytest.mark.parametrize("name", sorted(RELIED_ON))
def test_faust_internals_are_unchanged(name: str) -> None:
    digest = hashlib.sha256(_source(name).encode()).hexdigest()[:16]
    assert digest == RELIED_ON[name], (
        f"faust-streaming's {name} changed: review sparsiflow/connector/kafka/bulk_intake.py "
        "against it before updating this digest"
    )


def _records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=o) for o in offsets]


class _Taken:
    """The application's handler: records what it is handed; refuses ``refuse`` hands first."""

    def __init__(self) -> None:
        self.lists: list[list[int]] = []
        self.refuse = 0
        self.on_hand: Any = None

    async def __call__(self, tp: TP, records: Sequence[Any]) -> bool:
        self.lists.append([r.offset for r in records])
        if self.on_hand is not None:
            self.on_hand(tp)
        if self.refuse:
            self.refuse -= 1
            return False
        return True


def _consumer() -> tuple[BulkConsumer, _Taken, list[str]]:
    """A bulk consumer, its handler, and the seeks back to committed offsets it made."""
    app = faust.App("bulk-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    taken = _Taken()
    install(app, "in", taken)
    consumer = app.consumer
    assert isinstance(consumer, BulkConsumer)
    seeks: list[str] = []

    async def perform_seek() -> None:
        seeks.append("committed")

    consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    consumer.assignment = lambda: {TP("in", 0), TP("in", 1)}  # type: ignore[method-assign]
    consumer.flow_active = True
    return consumer, taken, seeks


def _hand(consumer: BulkConsumer, partition: int, *offsets: int) -> None:
    asyncio.run(consumer._hand(TP("in", partition), _records(*offsets)))


def test_commit_offset_passes_only_a_fully_acknowledged_run() -> None:
    consumer, taken, _ = _consumer()
    tp = TP("in", 0)
    _hand(consumer, 0, 10, 11, 13, 14)  # 12: a transaction marker
    assert taken.lists == [[10, 11, 13, 14]]
    assert consumer._new_offset(tp) is None
    consumer.ack_offsets([(0, 11), (0, 13)])  # out of order: 10 still open
    assert consumer._new_offset(tp) is None
    assert list(consumer._filter_tps_with_pending_acks()) == [tp]
    consumer.ack_offsets([(0, 10)])
    assert consumer._new_offset(tp) == 14  # past 13; 14 still open
    consumer.ack_offsets([(0, 14)])
    assert consumer._new_offset(tp) == 15
    assert consumer.handed_pending == 0
    assert list(consumer._filter_tps_with_pending_acks()) == []


def test_partitions_are_independent_and_repeats_are_not_handed_again() -> None:
    consumer, taken, _ = _consumer()
    _hand(consumer, 0, 1, 2)
    _hand(consumer, 1, 1, 2)
    _hand(consumer, 0, 2, 3)  # 2 again (a seek back): only 3 is new
    assert taken.lists == [[1, 2], [1, 2], [3]]
    consumer.ack_offsets([(1, 1), (1, 2), (0, 2), (0, 3)])
    assert consumer._new_offset(TP("in", 1)) == 3
    assert consumer._new_offset(TP("in", 0)) is None  # 1 is not acknowledged
    consumer.ack_offsets([(0, 1), (0, 1), (5, 7)])  # twice; a partition never handed
    assert consumer._new_offset(TP("in", 0)) == 4


def test_refused_records_are_taken_back_and_fetched_again() -> None:
    """A partition whose assignment has not reached the application yet: its records are
    not counted as handed (nothing to commit past), the consumer seeks back, and they are
    handed again when fetched again."""
    consumer, taken, seeks = _consumer()
    _hand(consumer, 0, 3)
    taken.refuse = 1
    _hand(consumer, 0, 4, 5, 6)
    assert seeks == ["committed"]
    assert consumer.handed_pending == 1  # 3 only
    consumer.ack_offsets([(0, 3), (0, 4)])  # 4: not handed now, so it counts for nothing
    assert consumer._new_offset(TP("in", 0)) == 4
    _hand(consumer, 0, 3, 4, 5, 6)  # fetched again from the committed offset
    assert taken.lists == [[3], [4, 5, 6], [4, 5, 6]]
    assert consumer._new_offset(TP("in", 0)) == 4
    consumer.ack_offsets([(0, o) for o in (4, 5, 6)])
    assert consumer._new_offset(TP("in", 0)) == 7


def test_records_fetched_but_not_handed_are_fetched_again() -> None:
    """A rebalance begins while one partition's records are handed: the other partition's
    fetched records are not handed, and the consumer seeks back at once (the assignment's own
    seek may already be behind it), so fetching does not move past them for good."""
    consumer, taken, seeks = _consumer()
    stopped = asyncio.Event()
    fetched = {TP("in", 0): _records(1, 2), TP("in", 1): _records(4, 5)}
    calls = 0

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            stopped.set()
            return {}, None
        return fetched, None

    consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    taken.on_hand = lambda tp: setattr(consumer, "flow_active", False)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=stopped)))
    assert taken.lists == [[1, 2]]
    assert seeks == ["committed"]
    assert consumer.handed_pending == 2  # partition 0's, until acknowledged


def test_no_seek_while_stopping_or_with_nothing_assigned() -> None:
    consumer, taken, seeks = _consumer()
    taken.refuse = 2
    consumer.assignment = set  # type: ignore[method-assign]
    _hand(consumer, 0, 1)
    consumer.assignment = lambda: {TP("in", 0)}  # type: ignore[method-assign]
    consumer.app._crashed.set()  # a failed processor crashed the app: it stops
    _hand(consumer, 0, 1)
    assert taken.lists == [[1], [1]] and seeks == []
    assert consumer.handed_pending == 0


def test_a_crashed_app_does_not_wait_for_acknowledgements() -> None:
    """A failed processor acknowledges nothing more: the revocation's wait must not hang."""
    consumer, _, _ = _consumer()
    _hand(consumer, 0, 1, 2)

    async def nothing() -> None:
        return None

    async def no_ack(timeout: float) -> None:
        await asyncio.sleep(0.01)

    consumer.commit = nothing  # type: ignore[method-assign,assignment]
    consumer.commit_and_end_transactions = nothing  # type: ignore[method-assign]
    consumer._wait_for_ack = no_ack  # type: ignore[method-assign]
    consumer.app._crashed.set()

    async def wait() -> None:
        await asyncio.wait_for(consumer.wait_empty(), 5.0)

    asyncio.run(wait())
    assert consumer.handed_pending == 2


def test_records_of_another_topic_are_refused() -> None:
    consumer, _, _ = _consumer()
    with pytest.raises(RuntimeError, match="only reads bulk topics"):
        asyncio.run(consumer._hand(TP("other", 0), _records(1)))


def test_worker_pins_faust_in_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'"faust-streaming=={re.escape(FAUST_VERSION)}"', pyproject)
