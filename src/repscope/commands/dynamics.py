"""``repscope dynamics …``: DSA on a store's sequence layers (``analyse``), the DSA benchmark, DSA between
stored trajectories (.npy files) — with the
``(n_delays, rank)`` sweep when they are not given — and InputDSA for input-driven trajectories."""

from __future__ import annotations

from pathlib import Path

import typer

from repscope.commands._format import check_format, format_option, print_caveats, print_table
from repscope.errors import InputError


def _log(quiet: bool):
    return (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))


def _save(results: list, out: Path | None, log, title: str = "Dynamics") -> None:
    """report.html + results.json + figures/*.png (one section holding every result) in ``out``."""
    if out is None:
        return
    from repscope.report import Section, write_report

    out.mkdir(parents=True, exist_ok=True)
    path = write_report([Section(title, list(results), key="dynamics")], out, title=f"repscope — {title}")
    log(f"wrote {path.resolve()}, results.json and {len(results)} figure(s)")


def _load_npy(files: list[Path], what: str) -> list:
    import numpy as np

    arrays = []
    for f in files:
        if not f.exists():
            raise InputError(f"{f} does not exist; pass paths to .npy files of shape (T, N) or (K, T, N) ({what})")
        try:
            arrays.append(np.load(f, allow_pickle=False))
        except Exception as exc:
            raise InputError(f"{f} could not be read as a .npy array ({exc}); save with numpy.save") from exc
    return arrays


def _print_table(res, fmt: str) -> None:
    print_table(*res.table(), fmt)


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
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for every random step."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
        fmt: str = format_option(),
    ) -> None:
        """DSA (angular, Wasserstein) vs Procrustes vs CKA on attractor, Lorenz, motif, RNN cases."""
        check_format(fmt)
        from repscope.experiments.dynamics.benchmark import run_benchmark
        from repscope.results import dumps

        log = _log(quiet)
        sel = tuple(c.strip() for c in cases.split(",") if c.strip()) if cases else None
        res = run_benchmark(quick=not full, seed=seed, cases=sel, log=lambda m: log(f"[dynamics] {m}"))
        if not quiet and not as_json:
            _print_table(res.table, fmt)
            log(res.table.note)
        _save(res.results(), out, log)
        if as_json:
            typer.echo(dumps(res.table.to_dict()))

    @sub.command("analyse")
    def analyse(
        store: Path = typer.Argument(..., help="Activation store whose sequence layers (N, T, D) are trajectories."),
        other: list[Path] = typer.Option(
            None, "--other", help="Another store on the same inputs (repeatable): compare its layers with STORE's."
        ),
        layers: str = typer.Option(None, "--layers", help="Comma-separated sequence layers (default: all)."),
        n_delays: int = typer.Option(None, "--n-delays", min=1, help="Delays in the embedding (default 3, as the "
                                     "report)."),
        rank: int = typer.Option(None, "--rank", min=1, help="Shared DMD rank (default: --components)."),
        components: int = typer.Option(None, "--components", min=2, help="PCs per layer before DMD (default 10, "
                                       "as the report)."),
        max_trials: int = typer.Option(None, "--max-trials", min=2, help="Samples (trajectories) used, seeded "
                                       "(default 200, as the report)."),
        out: Path = typer.Option(None, "--out", help="Directory for report.html, results.json and figures."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for the sample choice and the random starts."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """DSA beside Procrustes and CKA between a store's sequence layers (tokens or time steps as time),
        or between them and the same layers of other stores (two models on the same inputs)."""
        import json

        from repscope.dynamics import analyse as analyse_dynamics
        from repscope.dynamics.entry import DEFAULTS
        from repscope.results import dumps
        from repscope.store import open_store

        log = _log(quiet)
        st = open_store(store)
        others = [open_store(o) for o in (other or [])]
        names = None
        if others:
            names = [p.name for p in [store, *other]]
            if len(set(names)) < len(names):  # the same file name twice: label by position
                names = [f"{chr(65 + i)}:{n}" for i, n in enumerate(names)]
        res = analyse_dynamics(
            st, layers=layers, seed=seed, progress=not quiet, others=others or None, names=names,
            n_components=DEFAULTS.n_components if components is None else components,
            n_delays=DEFAULTS.n_delays if n_delays is None else n_delays, rank=rank,
            max_trials=DEFAULTS.max_trials if max_trials is None else max_trials,
        )
        for s_ in [st, *others]:
            print_caveats(s_)
        log(res.summary())
        _save([res], out, log, "Dynamics of the store's sequence layers")
        if as_json:
            typer.echo(json.dumps(json.loads(dumps(res.to_dict()))))

    @sub.command("compare")
    def compare(
        files: list[Path] = typer.Argument(
            ..., metavar="FILE.npy...", help=".npy trajectories, each (T, N) or (K, T, N); at least two."
        ),
        n_delays: int = typer.Option(
            None, "--n-delays", min=1, help="Number of delays in the embedding (default: chosen by the held-out sweep)."
        ),
        delay_interval: int = typer.Option(1, "--delay-interval", min=1, help="Steps between delays."),
        rank: int = typer.Option(None, "--rank", min=1, help="DMD rank (default: chosen by the held-out sweep)."),
        score: str = typer.Option(
            "angular", "--metric", "--score", help="angular | euclidean | wasserstein (--score: older name)."
        ),
        out: Path = typer.Option(None, "--out", help="Directory for report.html, results.json and figures."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for the random starts and the sweep's trial split."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
        fmt: str = format_option(),
    ) -> None:
        """DSA between stored trajectories (all pairs; two files give one distance + certificate).

        Without --n-delays/--rank, the missing ones are chosen by a sweep of held-out next-step prediction
        error (MSE, MASE, AIC; one common choice for all files); the sweep's curve is part of the output."""
        check_format(fmt)
        import json

        from repscope.dynamics import DSAConfig, dsa, dsa_matrix, sweep_dmd
        from repscope.results import dumps

        log = _log(quiet)
        if len(files) < 2:
            raise InputError("pass at least two .npy trajectory files to compare")
        systems = _load_npy(files, "trajectories")
        names = [f.stem for f in files]
        results: list = []
        sweep = None
        cfg = DSAConfig(n_delays=n_delays or 1, delay_interval=delay_interval, rank=rank, metric=score, seed=seed)
        if n_delays is None or rank is None:
            sweep = sweep_dmd(
                systems,
                n_delays=None if n_delays is None else [n_delays],
                ranks=None if rank is None else [rank],
                config=cfg,
                names=names,
                seed=seed,
            )
            cfg = sweep.best_config
            log(sweep.summary())
            results.append(sweep)
        if len(systems) == 2:
            res = dsa(systems[0], systems[1], cfg, return_info=True)
            log(res.summary())
        else:
            res = dsa_matrix(systems, config=cfg, names=names, progress=not quiet)
            if not quiet and not as_json:
                _print_table(res, fmt)
                log(res.summary())
        results.append(res)
        if len(systems) == 2:  # both DMD fits, with their ResDMD residuals (spurious eigenvalues flagged)
            for dm, nm in zip((res.dmd_x, res.dmd_y), names):
                log(f"{nm}: {dm.summary()}")
                rd = dm.residuals()
                rd.name = nm
                results.append(rd)
        _save(results, out, log, "Dynamical similarity analysis")
        if as_json:
            payload = res.to_dict()
            if sweep is not None:
                payload["sweep"] = sweep.to_dict()
            typer.echo(json.dumps(json.loads(dumps(payload))))

    @sub.command("inputdsa")
    def inputdsa(
        files: list[Path] = typer.Argument(..., help=".npy state trajectories, each (T, N) or (K, T, N)."),
        inputs: str = typer.Option(
            ..., "--inputs", help="Comma-separated .npy input trajectories u_t, one per state file (same T)."
        ),
        method: str = typer.Option("dmdc", "--method", help="dmdc | subspace"),
        n_delays: int = typer.Option(
            None, "--n-delays", min=1,
            help="Delays (DMDc; default: chosen by the held-out sweep) or past/future horizon (subspace; default 2).",
        ),
        rank: int = typer.Option(
            None, "--rank", min=1, help="State dimension (DMDc default: chosen by the held-out sweep; subspace: 99.9 % "
            "energy)."
        ),
        score: str = typer.Option("angular", "--metric", "--score", help="angular | euclidean (--score: older name)."),
        out: Path = typer.Option(None, "--out", help="Directory for report.html, results.json and figures."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for the random starts."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """InputDSA: intrinsic dynamics (A) vs input coupling (B) of input-driven systems (two files: one
        comparison with both fits; more: all pairs)."""
        import json

        from repscope.dynamics import input_dsa, input_dsa_matrix, sweep_dmd
        from repscope.results import dumps

        log = _log(quiet)
        if len(files) < 2:
            raise InputError(f"inputdsa compares two or more systems; got {len(files)} state file(s)")
        ufiles = [Path(p.strip()) for p in inputs.split(",") if p.strip()]
        if len(ufiles) != len(files):
            raise InputError(
                f"--inputs needs one .npy file per state file ({len(files)}), got {len(ufiles)}"
            )
        states, us = _load_npy(files, "states"), _load_npy(ufiles, "inputs")
        names = [f.stem for f in files]
        sweep = None
        if method == "dmdc" and (n_delays is None or rank is None):
            sweep = sweep_dmd(states, n_delays=None if n_delays is None else [n_delays],
                              ranks=None if rank is None else [rank], names=names, inputs=us, seed=seed)
            n_delays, rank = sweep.best_n_delays, sweep.best_rank
            log(sweep.summary())
        kw = dict(n_delays=2 if n_delays is None else n_delays, rank=rank, metric=score, method=method, seed=seed)
        if len(files) == 2:
            res = input_dsa(states[0], us[0], states[1], us[1], **kw)
            results = [res, res.fit_x, res.fit_y]
        else:
            res = input_dsa_matrix(states, us, names=names, **kw)
            results = [res]
        log(res.summary())
        _save(([sweep] if sweep is not None else []) + results, out, log, "InputDSA")
        if as_json:
            payload = res.to_dict()
            if sweep is not None:
                payload["sweep"] = sweep.to_dict()
            typer.echo(json.dumps(json.loads(dumps(payload))))

    from repscope.commands._reproduce import add_reproduce_command

    add_reproduce_command(
        sub, "dynamics",
        """Reproduce Guilhot et al. 2024 (master-comparison design, SSM) and the Lorenz attractor regimes.

        Writes the paper's claims beside ours with 95% CIs and verdicts.""",
    )

    app.add_typer(sub, name="dynamics")
