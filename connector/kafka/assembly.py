"""Assemble the worker's processor from its settings: the graph table, the checkpoint store
and schedule, the restorer reading the log back, and the backpressure gate. Plain wiring, kept
out of the Faust app; the runtime supplies the sink, acknowledgement and flow-control ports."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from sparsiflow.connector.kafka.log_reader import KafkaLogReader
from sparsiflow.connector.kafka.topics import MAX_OUTPUT_BYTES
from sparsiflow.connector.kafka.transactions import TransactionalPublisher
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.recovery.checkpoint_schedule import Checkpointer, CheckpointPolicy
from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore
from sparsiflow.connector.recovery.restorer import Restorer
from sparsiflow.connector.settings import Settings, client_configs
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.current_h import CurrentH
from sparsiflow.connector.stream.flow import FlowControl, FlowGate
from sparsiflow.connector.stream.graphs import GraphLimits, GraphTable
from sparsiflow.connector.stream.ownership import Ownership
from sparsiflow.connector.stream.processor import Ack, OutputTopics, Processor, Sink
from sparsiflow.engine.engine import Engine

__all__ = [
    "PIPELINE_BATCHES",
    "build_processor",
    "checkpoint_store",
    "heartbeat_interval",
    "pause_limit",
]

log = logging.getLogger(__name__)

PIPELINE_BATCHES = 1
"""Batches the engine may still be applying when intake goes on to fill the next one: intake
(decoding, validation) and the engine then use a core each."""


def heartbeat_interval(session_timeout: float) -> float:
    """Seconds between the consumer's heartbeats."""
    return min(3.0, session_timeout / 4)


def pause_limit(session_timeout: float) -> float:
    """How long the worker may have been frozen before it no longer takes a partition on the
    assignment it had (the group may have given it away): the session timeout less a heartbeat
    interval (the last heartbeat may precede the pause by one) and half a second; at least half
    the session timeout."""
    return max(session_timeout / 2, session_timeout - heartbeat_interval(session_timeout) - 0.5)


def checkpoint_store(settings: Settings) -> CheckpointStore | None:
    """The checkpoint files of ``settings`` (None without a state folder)."""
    state_dir = settings.worker.state_dir
    if state_dir is None:
        return None
    root = state_dir / "checkpoints" / settings.topics.deltas_topic
    return CheckpointStore(root, settings.checkpoint.keep)


def build_processor(
    settings: Settings,
    *,
    sink: Sink,
    ack: Ack,
    flow: FlowControl,
    metrics: WorkerMetrics | None,
    delta_partitions: int,
    edge_partitions: int = 0,
    dlq_max_bytes: int | None = None,
    input_partitions: int = 0,
) -> Processor:
    """The processor of a worker with ``settings`` whose deltas topic has
    ``delta_partitions`` partitions and whose current-H topic has ``edge_partitions`` (0: the
    topic is not written); ``dlq_max_bytes``: what the DLQ topic accepts (see
    :func:`sparsiflow.connector.kafka.topics.accepted_bytes`; None: no limit);
    ``input_partitions``: the input topic's partition count: a graph belongs to the partition
    its id hashes to under ``SPARSIFLOW_PARTITIONER`` (0: to the first one it is seen on)."""
    topics, worker, every = settings.topics, settings.worker, settings.checkpoint
    config = settings.engine.config()
    limits = settings.records.limits()
    store = checkpoint_store(settings)
    ownership = Ownership(input_partitions, topics.partitioner) if input_partitions else None
    if ownership is not None:
        log.info(
            "a graph belongs to the input partition its id hashes to (%s over %d partitions)",
            ownership.partitioner, ownership.partitions,
        )  # fmt: skip
    if store is None and worker.graph_idle_seconds > 0:
        log.warning("no state folder (SPARSIFLOW_STATE_DIR): idle graphs stay in memory")
    return Processor(
        graphs=GraphTable(
            lambda graph: Engine(config, graph_id=graph),
            BatchPolicy(settings.batch.max_size, settings.batch.max_wait),
            GraphLimits(worker.allowed_graphs, worker.max_graphs),
            ownership=ownership,
        ),
        topics=OutputTopics(
            topics.deltas_topic,
            topics.metrics_topic,
            topics.dlq_topic,
            delta_partitions,
            CurrentH(topics.edges_topic, edge_partitions, delta_partitions)
            if topics.edges_topic and edge_partitions
            else None,
            dlq_max_bytes=dlq_max_bytes,
        ),
        sink=sink,
        ack=ack,
        executor=ThreadPoolExecutor(1, thread_name_prefix="sparsiflow-engine"),
        limits=limits,
        metrics=metrics,
        restorer=Restorer(
            reader=KafkaLogReader(client_configs(settings.kafka).librdkafka),
            store=store,
            input_topic=topics.input_topic,
            deltas_topic=topics.deltas_topic,
            delta_partitions=delta_partitions,
            config=config,
            limits=limits,
            ownership=ownership,
        ),
        checkpointer=None
        if store is None
        else Checkpointer(
            store, CheckpointPolicy(every.every_batches, every.every_seconds), topics.input_topic
        ),
        flow=(FlowGate(worker.pause_pending_updates, worker.pause_pending_updates // 2), flow),
        idle_seconds=worker.graph_idle_seconds,
        publisher=TransactionalPublisher(
            client_configs(settings.kafka).librdkafka,
            worker.group_id,
            topics.input_topic,
            max_bytes=MAX_OUTPUT_BYTES,
        )
        if worker.transactions
        else None,
        pause_limit=pause_limit(worker.session_timeout) if worker.transactions else 0.0,
        pipeline=PIPELINE_BATCHES,
    )
