"""``repscope cluster`` — Dask helpers: inspect a cluster, run a local one, stream a layer matrix out of core.

Any repscope command runs its pairwise jobs on a cluster when ``REPSCOPE_SCHEDULER`` is set, e.g.
``REPSCOPE_SCHEDULER=tcp://head:8786 repscope compare ...`` (see docs/scale-out.md).
"""

from __future__ import annotations

from pathlib import Path

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_json, print_result, write_outputs, write_result

_UNUSED = "Unused (common option)."


def info_cmd(
    scheduler: str = opt.scheduler("local:2"),
    out: Path | None = opt.out("Write cluster.json here."),
    json_out: bool = opt.json(),
    seed: int = opt.seed(_UNUSED),
    quiet: bool = opt.quiet("No summary output."),
) -> None:
    """Workers, task threads, pinned BLAS threads and versions seen by each worker."""
    from repscope.parallel import check_scheduler
    from repscope.scale import client_for, cluster_info

    check_scheduler(scheduler)
    with client_for(scheduler) as client:
        info = cluster_info(client)
    if out is not None:
        write_outputs(out, "cluster.json", info, [])
    workers = [f"  {w['address']}  host={w['host']}  threads={w['nthreads']}  blas={w.get('blas_threads')}  "
               f"cores={w.get('cores')}  repscope={w.get('repscope')}  dask={w.get('dask')}" for w in info["workers"]]
    print_result(info, json_out, quiet, f"scheduler {info['scheduler']}: {info['n_workers']} worker(s)", *workers)


def local_cmd(
    workers: int = opt.workers(2, "Worker processes (1 task thread each)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8786, "--port", min=0, max=65535, help="Scheduler port."),
    out: Path | None = opt.out("Write scheduler.txt (the address) here."),
    json_out: bool = opt.json("Print the address as JSON on stdout."),
    seed: int = opt.seed(_UNUSED),
    quiet: bool = opt.quiet("No output except errors."),
) -> None:
    """Start a LocalCluster and keep it up until Ctrl-C; point REPSCOPE_SCHEDULER at the printed address."""
    import time

    from repscope.scale import local_cluster

    client = local_cluster(workers, host=host, scheduler_port=port)
    addr = client.scheduler.address
    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "scheduler.txt").write_text(addr + "\n")
        if json_out:
            print_json({"scheduler": addr, "workers": workers}, compact=True)
        elif not quiet:
            typer.echo(f"Dask scheduler at {addr} with {workers} worker(s); Ctrl-C to stop.")
            typer.echo(f"  export REPSCOPE_SCHEDULER={addr}")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


def layer_matrix_cmd(
    store: str = opt.store("Activation store (zarr directory or fsspec URL) from capture.", metavar=None),
    store_b: str | None = typer.Option(None, "--store-b", help="Second store (A × B matrix)."),
    metric: str = opt.metric("linear_cka", "linear_cka | procrustes | cca | svcca | ..."),
    layers: str | None = opt.layers("Comma-separated layer names (default all)."),
    scheduler: str | None = opt.scheduler(None, opt.SCHEDULER_HELP + " Default: local threads."),
    block_rows: int | None = opt.block_rows(None),
    out: Path | None = opt.out("Output directory (JSON, CSV, PNG)."),
    json_out: bool = opt.json(),
    seed: int = opt.seed("Unused (the computation is deterministic)."),
    quiet: bool = opt.quiet("No progress or summary output."),
) -> None:
    """Out-of-core layer matrix of a linear measure: dask.array over the store's row chunks."""
    from repscope.scale import streamed_layer_matrix

    lm = streamed_layer_matrix(store, store_b, metric=metric, layers=layers, block_rows=block_rows,
                               scheduler=scheduler, progress=not quiet and not json_out)
    if out is not None:
        write_result(out, f"layer_matrix_{metric}", lm, dpi=110)
        lm.to_csv(out / f"layer_matrix_{metric}.csv")
    print_result(lm.to_dict(), json_out, quiet, lm.summary())


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Run repscope on a Dask cluster (scale-out helpers).", no_args_is_help=True)
    sub.command("info")(info_cmd)
    sub.command("local")(local_cmd)
    sub.command("layer-matrix")(layer_matrix_cmd)
    app.add_typer(sub, name="cluster")
