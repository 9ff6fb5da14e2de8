"""The Faust application, kept thin: the topics, the bulk intake and the tick task. The work is
done by :class:`sparsiflow.connector.stream.processor.Processor`; this module only adapts Faust to
it.

The input topic is read by bulk intake (:mod:`sparsiflow.connector.kafka.bulk_intake`): each
fetch of a partition goes to the processor as one list, and the processor acknowledges records
itself once the outputs covering them are delivered, so Faust commits an offset only past
delivered work. Any processing failure crashes the worker (exit non-zero) instead of going on
with an engine that is ahead of the published deltas. Rebalances reach the processor as
partition revocations (after Faust has waited for every handed record to be acknowledged) and
assignments (which recover the partitions' graphs).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP

from sparsiflow.connector.kafka.assembly import build_processor, heartbeat_interval
from sparsiflow.connector.kafka.bulk_intake import BulkConsumer, install
from sparsiflow.connector.kafka.topics import MAX_OUTPUT_BYTES
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.observability.progress import ProgressLog
from sparsiflow.connector.settings import Settings, client_configs
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.dead_letters import DeadLetterWriteError

__all__ = ["LAG_SECONDS", "create_app"]

LAG_SECONDS = 5.0
"""Interval of the consumer-lag gauge's updates."""

PULSE_SECONDS = 0.1
"""Interval of the processor's pulse (its check that the process was not frozen)."""

log = logging.getLogger(__name__)


class _FaustSink:
    """Delivers output records with the app's producer, waiting for every acknowledgement. A
    record of the DLQ topic that is not taken raises :class:`DeadLetterWriteError` (counted in
    ``sparsiflow_dlq_failures_total``); other failures are raised as they come."""

    def __init__(
        self, app: faust.App, dlq_topic: str | None = None, metrics: WorkerMetrics | None = None
    ) -> None:
        self._app = app
        self._dlq_topic = dlq_topic
        self._metrics = metrics

    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        producer = self._app.producer
        futures = []
        for r in records:
            try:
                futures.append(
                    await producer.send(r.topic, r.key, r.value, r.partition, None, list(r.headers))
                )
            except Exception as exc:
                self._raise_dead_letter(r, exc)
                raise
        waits = [
            self._settled(r, f) if r.topic == self._dlq_topic else f
            for r, f in zip(records, futures, strict=True)
        ]
        return [int(meta.offset) for meta in await asyncio.gather(*waits)]

    async def _settled(self, record: OutputRecord, future: Any) -> Any:
        """``future``'s result; its failure as a :class:`DeadLetterWriteError`."""
        try:
            return await future
        except Exception as exc:
            self._raise_dead_letter(record, exc)
            raise

    def _raise_dead_letter(self, record: OutputRecord, exc: Exception) -> None:
        if record.topic == self._dlq_topic:
            if self._metrics is not None:
                self._metrics.record_dlq_failure()
            raise DeadLetterWriteError(record, exc) from exc


class _FaustFlow:
    """Pauses and resumes fetching of input partitions on the app's consumer."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    def pause(self, partition: int) -> None:
        self._app.consumer.pause_partitions({TP(self._topic, partition)})

    def resume(self, partition: int) -> None:
        self._app.consumer.resume_partitions({TP(self._topic, partition)})


def _input_records(tp: TP, fetched: Sequence[Any]) -> list[InputRecord]:
    """Input records of aiokafka ``ConsumerRecord``s; the handle is ``(partition, offset)``."""
    topic, partition = tp.topic, tp.partition
    return [
        InputRecord(
            topic,
            partition,
            r.offset,
            r.timestamp / 1000,
            r.key,
            r.value,
            r.headers,
            (partition, r.offset),
        )
        for r in fetched
    ]


def create_app(
    settings: Settings,
    delta_partitions: int,
    metrics: WorkerMetrics | None = None,
    edge_partitions: int = 0,
    dlq_max_bytes: int | None = None,
    progress: ProgressLog | None = None,
    input_partitions: int = 0,
) -> faust.App:
    """The worker's Faust app for ``settings``; the deltas topic has ``delta_partitions``, the
    current-H topic ``edge_partitions`` (0: not written); the DLQ topic accepts
    ``dlq_max_bytes`` (None: no limit); ``progress`` gets the ready line after each assignment
    and writes progress lines while the worker runs; ``input_partitions``: the input topic's
    partition count, which decides the partition owning each graph (0: the first one seen)."""
    configs = client_configs(settings.kafka)
    topics, worker = settings.topics, settings.worker
    app = faust.App(
        worker.group_id,
        broker=configs.faust_broker,
        broker_credentials=configs.faust_credentials,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=MAX_OUTPUT_BYTES,
        broker_commit_interval=1.0,
        broker_session_timeout=worker.session_timeout,
        broker_heartbeat_interval=heartbeat_interval(worker.session_timeout),
        broker_rebalance_timeout=max(60.0, worker.session_timeout),
        broker_max_poll_records=worker.buffer_records,
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        datadir=str(worker.state_dir or Path(tempfile.gettempdir())) + "/faust-{conf.id}",
    )
    source_name = topics.input_topic

    async def take(tp: TP, fetched: Sequence[Any]) -> bool:
        try:
            return tp.partition not in await processor.on_records(_input_records(tp, fetched))
        except Exception as exc:
            await app.crash(exc)
            return True  # the worker stops: nothing is read again

    async def ack(handles: Sequence[object]) -> None:
        cast(BulkConsumer, app.consumer).ack_offsets(cast(Sequence[tuple[int, int]], handles))

    install(app, source_name, take)
    app.topics.add(
        app.topic(
            source_name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
    )
    processor = build_processor(
        settings,
        sink=_FaustSink(app, topics.dlq_topic, metrics),
        ack=ack,
        flow=_FaustFlow(app, source_name),
        metrics=metrics,
        delta_partitions=delta_partitions,
        edge_partitions=edge_partitions,
        dlq_max_bytes=dlq_max_bytes,
        input_partitions=input_partitions,
    )
    tick_seconds = min(0.05, settings.batch.max_wait / 4)

    async def tick() -> None:
        """Close batches whose deadline passed; on failure stop the worker. While the app stops
        or rebalances, close every open batch at once: Faust then waits for each consumed event
        to be acknowledged (so this task runs on until Faust cancels it last)."""
        if metrics is not None:
            metrics.set_worker_up(True)
        try:
            while True:
                await asyncio.sleep(tick_seconds)
                if app.should_stop or app.rebalancing:
                    await processor.drain()  # Faust now waits for every event's ack
                else:
                    await processor.on_tick()
        except Exception as exc:
            await app.crash(exc)
        finally:
            if metrics is not None:
                metrics.set_worker_up(False)

    async def pulse() -> None:
        """Lets the processor notice that the process was frozen (see Processor.pulse)."""
        while True:
            await asyncio.sleep(PULSE_SECONDS)
            processor.pulse()

    async def export_lag() -> None:
        """Every few seconds: records between the read position and the end, per partition."""
        while metrics is not None:
            await asyncio.sleep(LAG_SECONDS)
            consumer = app.consumer
            lags: dict[tuple[str, int], int] = {}
            try:
                for tp in consumer.assignment():
                    read = await consumer.position(tp) if tp.topic == source_name else None
                    if read is not None:
                        lags[(tp.topic, tp.partition)] = max(consumer.highwater(tp) - read, 0)
            except Exception as exc:  # e.g. mid-rebalance: best effort, try again later
                log.info("consumer lag not available now: %r", exc)
                continue
            metrics.set_consumer_lag(lags)

    async def log_progress() -> None:
        """The progress line every interval while records flow (see ProgressLog.tick)."""
        while progress is not None:
            await asyncio.sleep(min(1.0, progress.every))
            progress.tick()

    def inputs(tps: set[Any]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == source_name}

    async def assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        partitions = inputs(args[0])
        if await _or_crash(processor.on_assigned(partitions)) and progress is not None:
            progress.ready(partitions)  # their graphs are recovered by the next tick

    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        await _or_crash(processor.on_revoked(inputs(args[0])))

    async def shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        await _or_crash(processor.close())

    async def _or_crash(work: Any) -> bool:
        try:
            await work
        except Exception as exc:
            await app.crash(exc)
            return False
        return True

    for signal, receiver in (
        (app.on_partitions_assigned, assigned),
        (app.on_partitions_revoked, revoked),
        (app.on_before_shutdown, shutdown),
    ):
        signal.connect(cast(Any, receiver))  # mode types receivers too narrowly
    app.task(tick)
    app.task(pulse)
    app.task(export_lag)
    app.task(log_progress)
    return app
