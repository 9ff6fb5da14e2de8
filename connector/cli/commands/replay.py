"""``sparsiflow replay``: the engine offline over an update file, writing H, G, deltas, metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import engine_options

__all__ = ["command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("replay")
@click.option("--graph", type=_FILE, required=True, help="Matrix Market file of the start graph G.")
@click.option(
    "--sparsifier", type=_FILE, help="Matrix Market file of the start H (else bootstrap)."
)
@click.option(
    "--updates",
    type=_FILE,
    required=True,
    help="JSONL input events, or a Matrix Market file of inserted edges (the paper's stream).",
)
@click.option("--batch-size", type=click.IntRange(1), required=True, help="Updates per batch.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@engine_options
@click.option("--off-tree-density", type=click.FloatRange(0.0), default=0.10, show_default=True)
@click.option("--graph-id", default="replay", show_default=True, help="Graph id (keys the RNG).")
@click.option("--kappa/--no-kappa", default=False, help="Measure the final kappa exactly.")
def command(
    graph: Path,
    sparsifier: Path | None,
    updates: Path,
    batch_size: int,
    out: Path,
    kappa: bool,
    off_tree_density: float,
    graph_id: str,
    **engine_options: Any,
) -> None:
    """Run the engine over UPDATES in batches; write DIR/graph.mtx, DIR/sparsifier.mtx,
    DIR/deltas.jsonl (a delta event per batch, as on the deltas topic; its source offsets
    number the updates) and DIR/metrics.json."""
    from sparsiflow.engine.config import EngineConfig
    from sparsiflow.engine.exceptions import EngineError

    start = time.perf_counter()
    try:
        config = EngineConfig(**engine_options)
        _run(graph, sparsifier, updates, batch_size, out, config, off_tree_density, graph_id, kappa)
    except (EngineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"replay done in {time.perf_counter() - start:.1f} s: {out}", err=True)


def _run(
    graph: Path,
    sparsifier: Path | None,
    updates: Path,
    batch_size: int,
    out: Path,
    config: Any,
    off_tree_density: float,
    graph_id: str,
    kappa: bool,
) -> None:
    from sparsiflow.connector.wire.deltas import SourceRange, encode_delta
    from sparsiflow.connector.wire.edge_updates import is_graph_id
    from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
    from sparsiflow.connector.wire.update_files import read_update_file
    from sparsiflow.engine.engine import warm_up
    from sparsiflow.engine.graph.edges import EdgeList
    from sparsiflow.engine.offline import replay, split_batches, start_engine

    if not is_graph_id(graph_id):
        raise ValueError(f"--graph-id {graph_id!r} is not 1-64 characters of [A-Za-z0-9._-]")
    g = read_graph(graph)
    h0 = read_graph(sparsifier) if sparsifier is not None else None
    stream = read_update_file(updates)
    click.echo(f"G: {g.n} nodes, {g.m} edges; {len(stream)} updates", err=True)
    warmup = warm_up(config)  # load the kernels first, as the worker does: rates are per batch
    click.echo(f"engine kernels ready in {warmup:.1f} s", err=True)
    engine = start_engine(g, config, h0, off_tree_density, graph_id)
    batches = list(split_batches(stream, batch_size))
    out.mkdir(parents=True, exist_ok=True)
    with (
        (out / "deltas.jsonl").open("wb") as deltas,
        click.progressbar(
            length=len(batches), label="batches", file=click.get_text_stream("stderr")
        ) as bar,
    ):
        done = 0  # updates before the batch: a delta's source offsets are update positions

        def record(report: Any, size: int) -> None:
            nonlocal done
            first, done = done, done + size
            source = SourceRange(0, first, done - 1)
            deltas.write(
                encode_delta(graph_id, report.batch, source, report.delta, time.time()) + b"\n"
            )
            bar.update(1)

        result = replay(engine, batches, record)
    n = max(g.n, int(engine.stats().nodes))
    final_g = EdgeList(n, *engine.graph_edges())
    final_h = EdgeList(n, *engine.sparsifier_edges())
    write_graph(
        out / "graph.mtx", final_g, comment=f"sparsiflow replay: G after {len(stream)} updates"
    )
    write_graph(out / "sparsifier.mtx", final_h, comment=f"sparsiflow replay: H ({config.mode})")
    summary = result.summary(engine)
    summary["warmup_seconds"] = warmup
    summary["config"] = {k: getattr(config, k) for k in config.__dataclass_fields__}
    if kappa:
        from sparsiflow.engine.quality.exact import measure

        summary["quality"] = measure(final_g, final_h).to_dict()
    (out / "metrics.json").write_text(
        json.dumps({"batches": result.batches, "summary": summary}, indent=1)
    )
