"""``repscope dynamics …``: DSA on a store's sequence layers (``analyse``), the DSA benchmark, DSA between
stored trajectories (.npy files) — with the
``(n_delays, rank)`` sweep when they are not given — and InputDSA for input-driven trajectories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_json, print_table, stderr_log
from repscope.errors import InputError


def _save(results: list, out: Path | None, log: Callable[[str], None], title: str = "Dynamics") -> None:
    """report.html + results.json + figures/*.png (one section holding every result) in ``out``."""
    if out is None:
        return
    from repscope.report import Section, write_report

    out.mkdir(parents=True, exist_ok=True)
    path = write_report([Section(title, list(results), key="dynamics")], out, title=f"repscope — {title}")
    log(f"wrote {path.resolve()}, results.json and {len(results)} figure(s)")


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
    res = run_benchmark(quick=not full, seed=seed, cases=opt.split(cases), log=lambda m: log(f"[dynamics] {m}"))
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
    from repscope._paths import store_labels
    from repscope.dynamics import analyse as analyse_dynamics
    from repscope.dynamics.entry import DEFAULTS
    from repscope.store import open_store

    log = stderr_log(quiet)
    st = open_store(store)
    others = [open_store(o) for o in (other or [])]
    names = store_labels([store, *other]) if others else None
    res = analyse_dynamics(st, layers=layers, seed=seed, progress=not quiet, others=others or None, names=names,
                           rank=rank, **opt.or_defaults(DEFAULTS, n_components=components, n_delays=n_delays,
                                                        max_trials=max_trials))
    print_caveats(st, *others)
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
    from repscope.dynamics import compare_trajectories, load_trajectories

    log = stderr_log(quiet)
    names = [f.stem for f in files]
    cmp = compare_trajectories(load_trajectories(files, "trajectories"), names, n_delays=n_delays,
                               delay_interval=delay_interval, rank=rank, metric=score, seed=seed,
                               progress=not quiet, log=log)
    res = cmp.result
    if len(files) == 2:  # both DMD fits, with their ResDMD residuals (spurious eigenvalues flagged)
        log(res.summary())
        for dm, nm in zip((res.dmd_x, res.dmd_y), names):
            log(f"{nm}: {dm.summary()}")
    elif not quiet and not as_json:
        header, rows = res.table()
        print_table(header, rows, fmt)
        log(res.summary())
    _save(cmp.results, out, log, "Dynamical similarity analysis")
    if as_json:
        print_json(cmp.to_dict(), compact=True)


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
    from repscope.dynamics import compare_input_driven, load_trajectories

    ufiles = [Path(p) for p in opt.split(inputs) or []]
    if len(files) >= 2 and len(ufiles) != len(files):  # before reading any file
        raise InputError(f"--inputs needs one .npy file per state file ({len(files)}), got {len(ufiles)}")
    log = stderr_log(quiet)
    cmp = compare_input_driven(load_trajectories(files, "states"), load_trajectories(ufiles, "inputs"),
                               [f.stem for f in files], method=method, n_delays=n_delays, rank=rank, metric=score,
                               seed=seed, log=log)
    log(cmp.result.summary())
    _save(cmp.results, out, log, "InputDSA")
    if as_json:
        print_json(cmp.to_dict(), compact=True)


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
