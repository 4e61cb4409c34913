"""``repscope dynamics …``: the DSA benchmark and DSA between stored trajectories (.npy files)."""

from __future__ import annotations

from pathlib import Path

import typer

from repscope.errors import InputError


def _log(quiet: bool):
    return (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))


def _save(results: list, out: Path | None, log) -> None:
    if out is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repscope.results import dumps

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(dumps([r.to_dict() for r in results]))
    for k, r in enumerate(results):
        fig = r.plot()
        fig.savefig(out / f"dynamics_{k:02d}.png", dpi=110)
        plt.close(fig)
    log(f"wrote {out.resolve()}/results.json and {len(results)} figure(s)")


def _print_table(res, log) -> None:
    header, rows = res.table()
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    log("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        log("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        help="Dynamical similarity analysis (DSA): compare the dynamics of trajectories.",
        no_args_is_help=True,
    )

    @sub.command("benchmark")
    def benchmark(
        out: Path = typer.Option(None, "--out", help="Directory for results.json and figures."),
        full: bool = typer.Option(
            False, "--full", help="Full setting (more instances/seeds; ≤ 10 min on 2 CPUs)."
        ),
        cases: str = typer.Option(
            None,
            "--cases",
            help="Comma list: attractors,lorenz,motifs,noise_sweep,"
            "learning_proxy,rnn,gru,ssm (default: all).",
        ),
        seed: int = typer.Option(0, "--seed", help="Seed for every random step."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """DSA (angular, Wasserstein) vs Procrustes vs CKA on attractor, Lorenz, motif, RNN cases."""
        from repscope.experiments.dynamics.benchmark import run_benchmark
        from repscope.results import dumps

        log = _log(quiet)
        sel = tuple(c.strip() for c in cases.split(",") if c.strip()) if cases else None
        res = run_benchmark(quick=not full, seed=seed, cases=sel, log=lambda m: log(f"[dynamics] {m}"))
        if not quiet:
            _print_table(res.table, log)
            log(res.table.note)
        _save(res.results(), out, log)
        if as_json:
            typer.echo(dumps(res.table.to_dict()))

    @sub.command("compare")
    def compare(
        files: list[Path] = typer.Argument(..., help=".npy trajectories, each (T, N) or (K, T, N)."),
        n_delays: int = typer.Option(1, "--n-delays", help="Number of delays in the embedding."),
        delay_interval: int = typer.Option(1, "--delay-interval", help="Steps between delays."),
        rank: int = typer.Option(None, "--rank", help="DMD rank (default: full numerical rank)."),
        score: str = typer.Option("angular", "--score", help="angular | euclidean | wasserstein"),
        out: Path = typer.Option(None, "--out", help="Directory for results.json and figures."),
        seed: int = typer.Option(0, "--seed", help="Seed for the random starts."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """DSA between stored trajectories (all pairs; two files give one distance + certificate)."""
        import numpy as np

        from repscope.dynamics import dsa, dsa_matrix
        from repscope.results import dumps

        log = _log(quiet)
        if len(files) < 2:
            raise InputError("pass at least two .npy trajectory files to compare")
        systems = []
        for f in files:
            if not f.exists():
                raise InputError(f"{f} does not exist; pass paths to .npy files of shape (T, N) or (K, T, N)")
            try:
                systems.append(np.load(f, allow_pickle=False))
            except Exception as exc:
                raise InputError(
                    f"{f} could not be read as a .npy array ({exc}); save with numpy.save"
                ) from exc
        names = [f.stem for f in files]
        kw = dict(n_delays=n_delays, delay_interval=delay_interval, rank=rank, score=score, seed=seed)
        if len(systems) == 2:
            res = dsa(systems[0], systems[1], return_info=True, **kw)
            log(res.summary())
            results = [res]
        else:
            res = dsa_matrix(systems, names=names, progress=not quiet, **kw)
            if not quiet:
                _print_table(res, log)
                log(res.summary())
            results = [res]
        _save(results, out, log)
        if as_json:
            typer.echo(dumps(results[0].to_dict()))

    @sub.command("reproduce")
    def reproduce(
        quick: bool = typer.Option(
            False, "--quick", help="The ≤ 3-minute version (default: full, ≤ 30 min on 2 cores)."
        ),
        seeds: int = typer.Option(None, "--seeds", help="Seeds (≥ 2; default: the paper design's, ≥ 5)."),
        out: Path = typer.Option(None, "--out", help="Directory for report.html, reproduction.md and .json."),
        seed: int = typer.Option(0, "--seed", help="First seed."),
        as_json: bool = typer.Option(False, "--json", help="Print the tables as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress or tables on the terminal."),
    ) -> None:
        """Reproduce Guilhot et al. 2024 (master-comparison design, SSM) and the Lorenz attractor regimes.

        Writes the paper's claims beside ours with 95% CIs and verdicts."""
        from repscope.commands._reproduce import run_reproduce

        run_reproduce(
            "dynamics", quick=quick, seeds=seeds, seed=seed, out=out, as_json=as_json, quiet=quiet
        )

    app.add_typer(sub, name="dynamics")
