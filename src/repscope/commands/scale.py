"""``repscope cluster`` — Dask helpers: inspect a cluster, run a local one, stream a layer matrix out of core.

Any repscope command runs its pairwise jobs on a cluster when ``REPSCOPE_SCHEDULER`` is set, e.g.
``REPSCOPE_SCHEDULER=tcp://head:8786 repscope compare ...`` (see docs/scale-out.md).
"""

from __future__ import annotations

import pathlib

import typer

_SCHED_HELP = "tcp://host:port of a running `dask scheduler`, or local:N for a LocalCluster with N workers."


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Run repscope on a Dask cluster (scale-out helpers).", no_args_is_help=True)

    @sub.command("info")
    def info_cmd(
        scheduler: str = typer.Option("local:2", "--scheduler", help=_SCHED_HELP),
        out: pathlib.Path | None = typer.Option(None, "--out", help="Write cluster.json here."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
        seed: int = typer.Option(0, "--seed", min=0, help="Unused (common option)."),
        quiet: bool = typer.Option(False, "--quiet", help="No summary output."),
    ) -> None:
        """Workers, task threads, pinned BLAS threads and versions seen by each worker."""
        from repscope.parallel import check_scheduler
        from repscope.results import dumps
        from repscope.scale import client_for, cluster_info

        check_scheduler(scheduler)
        with client_for(scheduler) as client:
            info = cluster_info(client)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "cluster.json").write_text(dumps(info))
        if json_out:
            typer.echo(dumps(info))
        elif not quiet:
            typer.echo(f"scheduler {info['scheduler']}: {info['n_workers']} worker(s)")
            for w in info["workers"]:
                typer.echo(
                    f"  {w['address']}  host={w['host']}  threads={w['nthreads']}  blas={w.get('blas_threads')}  "
                    f"cores={w.get('cores')}  repscope={w.get('repscope')}  dask={w.get('dask')}"
                )

    @sub.command("local")
    def local_cmd(
        workers: int = typer.Option(2, "--workers", min=1, help="Worker processes (1 task thread each)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: all)."),
        port: int = typer.Option(8786, "--port", min=0, max=65535, help="Scheduler port."),
        out: pathlib.Path | None = typer.Option(None, "--out", help="Write scheduler.txt (the address) here."),
        json_out: bool = typer.Option(False, "--json", help="Print the address as JSON on stdout."),
        seed: int = typer.Option(0, "--seed", min=0, help="Unused (common option)."),
        quiet: bool = typer.Option(False, "--quiet", help="No output except errors."),
    ) -> None:
        """Start a LocalCluster and keep it up until Ctrl-C; point REPSCOPE_SCHEDULER at the printed address."""
        import json
        import time

        from repscope.scale import local_cluster

        client = local_cluster(workers, host=host, scheduler_port=port)
        addr = client.scheduler.address
        try:
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / "scheduler.txt").write_text(addr + "\n")
            if json_out:
                typer.echo(json.dumps({"scheduler": addr, "workers": workers}))
            elif not quiet:
                typer.echo(f"Dask scheduler at {addr} with {workers} worker(s); Ctrl-C to stop.")
                typer.echo(f"  export REPSCOPE_SCHEDULER={addr}")
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            client.close()

    @sub.command("layer-matrix")
    def layer_matrix_cmd(
        store: pathlib.Path = typer.Argument(..., help="Activation store (zarr) from capture."),
        store_b: pathlib.Path | None = typer.Option(None, "--store-b", help="Second store (A × B matrix)."),
        metric: str = typer.Option("linear_cka", "--metric", help="linear_cka | procrustes | cca | svcca | ..."),
        layers: str | None = typer.Option(None, "--layers", help="Comma-separated layer names (default all)."),
        scheduler: str | None = typer.Option(None, "--scheduler", help=_SCHED_HELP + " Default: local threads."),
        block_rows: int | None = typer.Option(None, "--block-rows", min=1, help="Rows per streamed block."),
        out: pathlib.Path | None = typer.Option(None, "--out", help="Output directory (JSON, CSV, PNG)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
        seed: int = typer.Option(0, "--seed", min=0, help="Unused (the computation is deterministic)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress or summary output."),
    ) -> None:
        """Out-of-core layer matrix of a linear measure: dask.array over the store's row chunks."""
        from repscope.results import dumps
        from repscope.scale import streamed_layer_matrix

        lm = streamed_layer_matrix(
            store, store_b, metric=metric, layers=layers, block_rows=block_rows, scheduler=scheduler,
            progress=not quiet and not json_out,
        )
        if out is not None:
            import matplotlib.pyplot as plt

            out.mkdir(parents=True, exist_ok=True)
            (out / f"layer_matrix_{metric}.json").write_text(dumps(lm.to_dict()))
            lm.to_csv(out / f"layer_matrix_{metric}.csv")
            fig = lm.plot()
            fig.savefig(out / f"layer_matrix_{metric}.png", dpi=110)
            plt.close(fig)
        if json_out:
            typer.echo(dumps(lm.to_dict()))
        elif not quiet:
            typer.echo(lm.summary())

    app.add_typer(sub, name="cluster")
