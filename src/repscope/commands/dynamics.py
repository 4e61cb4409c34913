"""``repscope dynamics …``: DSA on a store's sequence layers (``analyse``), the DSA benchmark, DSA between
stored trajectories (.npy files) — with the
``(n_delays, rank)`` sweep when they are not given — and InputDSA for input-driven trajectories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_json, print_table, stderr_log, store_label
from repscope.errors import InputError


def _save(results: list, out: Path | None, log: Callable[[str], None], title: str = "Dynamics") -> None:
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


def _print_with_sweep(res: Any, sweep: Any) -> None:
    """The result's JSON on one line, with the (n_delays, rank) sweep that chose its settings, if any."""
    payload = res.to_dict()
    if sweep is not None:
        payload["sweep"] = sweep.to_dict()
    print_json(payload, compact=True)


def benchmark(
    out: Path = opt.out("Directory for results.json and figures."),
    full: bool = typer.Option(False, "--full", help="Full setting (more instances/seeds; ≤ 10 min on 2 CPUs)."),
    cases: str = typer.Option(None, "--cases", help="Comma list: attractors,lorenz,motifs,noise_sweep,"
                              "learning_proxy,rnn,gru,ssm (default: all)."),
    seed: int = opt.seed(),
    as_json: bool = opt.json("Print the results as JSON on stdout."),
    quiet: bool = opt.quiet(),
    fmt: str = opt.table_format(),
) -> None:
    """DSA (angular, Wasserstein) vs Procrustes vs CKA on attractor, Lorenz, motif, RNN cases."""
    from repscope.experiments.dynamics.benchmark import run_benchmark

    log = stderr_log(quiet)
    sel = tuple(c.strip() for c in cases.split(",") if c.strip()) if cases else None
    res = run_benchmark(quick=not full, seed=seed, cases=sel, log=lambda m: log(f"[dynamics] {m}"))
    if not quiet and not as_json:
        print_table(*res.table.table(), fmt)
        log(res.table.note)
    _save(res.results(), out, log)
    if as_json:
        print_json(res.table.to_dict())


def analyse(
    store: str = opt.store("Activation store (directory or fsspec URL) whose sequence layers (N, T, D) are "
                           "trajectories.", metavar=None),
    other: list[str] = typer.Option(None, "--other", help="Another store on the same inputs (repeatable): compare "
                                    "its layers with STORE's."),
    layers: str = opt.layers("Comma-separated sequence layers (default: all)."),
    n_delays: int = opt.n_delays("Delays in the embedding (default 3, as the report)."),
    rank: int = opt.rank("Shared DMD rank (default: --components)."),
    components: int = typer.Option(None, "--components", min=2, help="PCs per layer before DMD (default 10, as the "
                                   "report)."),
    max_trials: int = typer.Option(None, "--max-trials", min=2, help="Samples (trajectories) used, seeded (default "
                                   "200, as the report)."),
    out: Path = opt.out(opt.OUT_DIR_HELP),
    seed: int = opt.seed("Seed for the sample choice and the random starts."),
    as_json: bool = opt.json("Print the results as JSON on stdout."),
    quiet: bool = opt.quiet(),
) -> None:
    """DSA beside Procrustes and CKA between a store's sequence layers (tokens or time steps as time),
    or between them and the same layers of other stores (two models on the same inputs)."""
    from repscope.dynamics import analyse as analyse_dynamics
    from repscope.dynamics.entry import DEFAULTS
    from repscope.store import open_store

    log = stderr_log(quiet)
    st = open_store(store)
    others = [open_store(o) for o in (other or [])]
    names = None
    if others:
        names = [store_label(p) for p in [store, *other]]
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
        print_json(res.to_dict(), compact=True)


def compare(
    files: list[Path] = typer.Argument(..., metavar="FILE.npy...", help=".npy trajectories, each (T, N) or (K, T, "
                                       "N); at least two."),
    n_delays: int = opt.n_delays("Number of delays in the embedding (default: chosen by the held-out sweep)."),
    delay_interval: int = typer.Option(1, "--delay-interval", min=1, help="Steps between delays."),
    rank: int = opt.rank("DMD rank (default: chosen by the held-out sweep)."),
    score: str = opt.metric("angular", "angular | euclidean | wasserstein (--score: older name).", older="--score"),
    out: Path = opt.out(opt.OUT_DIR_HELP),
    seed: int = opt.seed("Seed for the random starts and the sweep's trial split."),
    as_json: bool = opt.json("Print the results as JSON on stdout."),
    quiet: bool = opt.quiet(),
    fmt: str = opt.table_format(),
) -> None:
    """DSA between stored trajectories (all pairs; two files give one distance + certificate).

    Without --n-delays/--rank, the missing ones are chosen by a sweep of held-out next-step prediction
    error (MSE, MASE, AIC; one common choice for all files); the sweep's curve is part of the output."""
    from repscope.dynamics import DSAConfig, dsa, dsa_matrix, sweep_dmd

    log = stderr_log(quiet)
    if len(files) < 2:
        raise InputError("pass at least two .npy trajectory files to compare")
    systems = _load_npy(files, "trajectories")
    names = [f.stem for f in files]
    results: list = []
    sweep = None
    cfg = DSAConfig(n_delays=n_delays or 1, delay_interval=delay_interval, rank=rank, metric=score, seed=seed)
    if n_delays is None or rank is None:
        sweep = sweep_dmd(systems, n_delays=None if n_delays is None else [n_delays],
                          ranks=None if rank is None else [rank], config=cfg, names=names, seed=seed)
        cfg = sweep.best_config
        log(sweep.summary())
        results.append(sweep)
    if len(systems) == 2:
        res: Any = dsa(systems[0], systems[1], cfg, return_info=True)
        log(res.summary())
    else:
        res = dsa_matrix(systems, config=cfg, names=names, progress=not quiet)
        if not quiet and not as_json:
            header, rows = res.table()
            print_table(header, rows, fmt)
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
        _print_with_sweep(res, sweep)


def inputdsa(
    files: list[Path] = typer.Argument(..., help=".npy state trajectories, each (T, N) or (K, T, N)."),
    inputs: str = typer.Option(..., "--inputs", help="Comma-separated .npy input trajectories u_t, one per state "
                               "file (same T)."),
    method: str = typer.Option("dmdc", "--method", help="dmdc | subspace"),
    n_delays: int = opt.n_delays("Delays (DMDc; default: chosen by the held-out sweep) or past/future horizon "
                                 "(subspace; default 2)."),
    rank: int = opt.rank("State dimension (DMDc default: chosen by the held-out sweep; subspace: 99.9 % energy)."),
    score: str = opt.metric("angular", "angular | euclidean (--score: older name).", older="--score"),
    out: Path = opt.out(opt.OUT_DIR_HELP),
    seed: int = opt.seed("Seed for the random starts."),
    as_json: bool = opt.json(),
    quiet: bool = opt.quiet(),
) -> None:
    """InputDSA: intrinsic dynamics (A) vs input coupling (B) of input-driven systems (two files: one
    comparison with both fits; more: all pairs)."""
    from repscope.dynamics import input_dsa, input_dsa_matrix, sweep_dmd

    log = stderr_log(quiet)
    if len(files) < 2:
        raise InputError(f"inputdsa compares two or more systems; got {len(files)} state file(s)")
    ufiles = [Path(p.strip()) for p in inputs.split(",") if p.strip()]
    if len(ufiles) != len(files):
        raise InputError(f"--inputs needs one .npy file per state file ({len(files)}), got {len(ufiles)}")
    states, us = _load_npy(files, "states"), _load_npy(ufiles, "inputs")
    names = [f.stem for f in files]
    sweep = None
    if method == "dmdc" and (n_delays is None or rank is None):
        sweep = sweep_dmd(states, n_delays=None if n_delays is None else [n_delays],
                          ranks=None if rank is None else [rank], names=names, inputs=us, seed=seed)
        n_delays, rank = sweep.best_n_delays, sweep.best_rank
        log(sweep.summary())
    kw: dict[str, Any] = dict(n_delays=2 if n_delays is None else n_delays, rank=rank, metric=score, method=method,
                              seed=seed)
    if len(files) == 2:
        res: Any = input_dsa(states[0], us[0], states[1], us[1], **kw)
        results = [res, res.fit_x, res.fit_y]
    else:
        res = input_dsa_matrix(states, us, names=names, **kw)
        results = [res]
    log(res.summary())
    _save(([sweep] if sweep is not None else []) + results, out, log, "InputDSA")
    if as_json:
        _print_with_sweep(res, sweep)


def register(app: typer.Typer) -> None:
    from repscope.commands._reproduce import add_reproduce_command

    sub = typer.Typer(help="Dynamical similarity analysis (DSA): compare the dynamics of trajectories.",
                      no_args_is_help=True)
    for name, fn in (("benchmark", benchmark), ("analyse", analyse), ("compare", compare), ("inputdsa", inputdsa)):
        sub.command(name)(fn)
    add_reproduce_command(
        sub, "dynamics",
        """Reproduce Guilhot et al. 2024 (master-comparison design, SSM) and the Lorenz attractor regimes.

        Writes the paper's claims beside ours with 95% CIs and verdicts.""",
    )
    app.add_typer(sub, name="dynamics")
