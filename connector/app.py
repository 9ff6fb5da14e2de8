"""The Faust application, kept thin: the topics, the one agent and the tick task. The work is
done by :class:`connector.processor.Processor`; this module only adapts Faust to it.

The agent reads the input topic with acknowledgements off (``noack``): the processor
acknowledges each event itself once the outputs covering it are delivered, so Faust commits an
offset only past delivered work. Any processing failure crashes the worker (exit non-zero)
instead of letting the agent restart with an engine that is ahead of the published deltas.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from mode.supervisors import CrashingSupervisor

from connector.batcher import BatchPolicy
from connector.graphs import GraphLimits, GraphTable
from connector.metrics import WorkerMetrics
from connector.processor import OutputTopics, Processor
from connector.records import InputRecord, OutputRecord
from connector.settings import Settings, client_configs
from connector.topics import MAX_OUTPUT_BYTES
from engine.engine import Engine

__all__ = ["LAG_SECONDS", "create_app"]

LAG_SECONDS = 5.0
"""Interval of the consumer-lag gauge's updates."""

log = logging.getLogger(__name__)


class _FaustSink:
    """Delivers output records with the app's producer, waiting for every acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def deliver(self, records: Sequence[OutputRecord]) -> None:
        producer = self._app.producer
        futures = [
            await producer.send(r.topic, r.key, r.value, None, None, r.headers) for r in records
        ]
        await asyncio.gather(*futures)


class _StreamAck:
    """Acknowledges Faust events on the agent's stream (bound when the agent starts)."""

    stream: Any = None

    async def __call__(self, handles: Sequence[object]) -> None:
        for event in handles:
            await self.stream.ack(event)


def _input_record(event: Any) -> InputRecord:
    message = event.message
    return InputRecord(
        message.topic,
        message.partition,
        message.offset,
        message.timestamp,
        message.key,
        message.value,
        list(message.headers or ()),
        event,
    )


def create_app(settings: Settings, metrics: WorkerMetrics | None = None) -> faust.App:
    """The worker's Faust app for ``settings``."""
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
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        datadir=str(worker.state_dir or Path(tempfile.gettempdir())) + "/faust-{conf.id}",
    )
    source_name = topics.input_topic
    source = app.topic(
        topics.input_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    engine_config = settings.engine.config()
    ack = _StreamAck()
    processor = Processor(
        graphs=GraphTable(
            lambda graph: Engine(engine_config, graph_id=graph),
            BatchPolicy(settings.batch.max_size, settings.batch.max_wait),
            GraphLimits(worker.allowed_graphs, worker.max_graphs),
        ),
        topics=OutputTopics(topics.deltas_topic, topics.metrics_topic, topics.dlq_topic),
        sink=_FaustSink(app),
        ack=ack,
        executor=ThreadPoolExecutor(1, thread_name_prefix="sparsiflow-engine"),
        limits=settings.records.limits(),
        metrics=metrics,
        kappa_every=worker.kappa_every,
    )
    tick_seconds = min(0.05, settings.batch.max_wait / 4)

    async def process(stream: Any) -> None:  # a faust.Stream (StreamT lacks noack)
        ack.stream = stream
        async for event in stream.noack().events():
            await processor.on_record(_input_record(event))

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

    app.agent(source, concurrency=1, supervisor_strategy=CrashingSupervisor)(process)
    app.task(tick)
    app.task(export_lag)
    return app
