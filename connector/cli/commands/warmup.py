"""``sparsiflow warmup``: compile every kernel into the kernel cache ahead of time."""

from __future__ import annotations

import click

__all__ = ["command"]


@click.command("warmup")
@click.option("--check", is_flag=True, help="Only say whether the cache is warm (exit 1 if not).")
def command(check: bool) -> None:
    """Compile (or load) every Numba kernel into the kernel cache, so later runs load them in
    about a second. The cache folder is $NUMBA_CACHE_DIR, else $SPARSIFLOW_CACHE_DIR/numba/KEY
    (~/.cache/sparsiflow/numba/KEY); images run this at build time."""
    from sparsiflow.engine import kernel_cache

    state = kernel_cache.status()
    if check:
        click.echo(f"{'warm' if state.warm else 'cold'}: {state.reason} ({state.folder})")
        raise SystemExit(0 if state.warm else 1)
    if not state.warm:
        click.echo(f"compiling the kernels ({state.reason}; ~30 s) ...", err=True)
    from sparsiflow.connector.warmup import warm_up_all

    click.echo(warm_up_all().describe())
