"""``repscope estimate``: one n×n similarity measure between two layers at any n — exact when it fits the
budget, else an estimate with a confidence interval (:func:`repscope.metrics.estimate`). Glue only."""

from __future__ import annotations

from pathlib import Path

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_json, print_table, write_result


def estimate_cmd(
    nets: list[str] = opt.nets("The two representations as STORE:LAYER (or STORE with --layer); same samples in "
                               "the same order."),
    layer: str | None = opt.layer(),
    metric: str = opt.metric("rbf_cka", "rbf_cka | debiased_cka | linear_cka | rsa | mutual_knn | jaccard_knn | "
                             "cknna", short=True),
    budget: float = typer.Option(1e8, "--budget", min=1.0, help="Pairwise entries allowed (exact when n² fits)."),
    level: float = typer.Option(0.95, "--level", min=0.5, max=0.9999, help="Coverage of the interval."),
    method: str = typer.Option("auto", "--method", help="auto | exact | rff | minibatch | pairs | stimuli | queries"),
    sigma: float = typer.Option(1.0, "--sigma", min=1e-6, help="RBF bandwidth factor (× the median distance)."),
    debiased: bool = typer.Option(False, "--debiased", help="RBF CKA with the unbiased HSIC."),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours of the k-NN measures."),
    rdm: str = opt.rdm(f"RSA: {opt.RDM_HELP}"),
    compare: str = opt.compare("RSA: spearman | pearson | cosine"),
    seed: int = opt.seed("Seed of every random draw."),
    out: Path | None = opt.out(opt.WRITE_HELP, short=True),
    json_out: bool = opt.json("Print the result as JSON."),
    quiet: bool = opt.quiet(short=True),
    fmt: str = opt.table_format(),
) -> None:
    """Similarity at scale: RBF CKA, RSA, mutual k-NN … of two layers at 10⁵–10⁶ samples, exact when the
    n² work fits --budget, else estimated (random features, minibatches, random pairs or query samples)
    with a --level confidence interval for the exact value."""
    from repscope.errors import InputError
    from repscope.metrics import read_layers
    from repscope.metrics.estimators import estimate

    reps = read_layers(nets, layer)
    if len(reps) != 2:
        raise InputError(f"give exactly two representations (STORE:LAYER), got {len(reps)}")
    (na, X), (nb, Y) = reps.items()
    res = estimate(X, Y, metric, budget=budget, level=level, seed=seed, method=method, sigma=sigma,
                   debiased=debiased, k=k, rdm=rdm, compare=compare)
    if out is not None:
        write_result(out, f"estimate_{metric}", res)
    if json_out:
        print_json({"a": na, "b": nb, **res.to_dict()})
    elif not quiet:
        print_table(*res.table(), fmt, title=f"{na} vs {nb}")
        if fmt == "table":
            typer.echo(res.summary())


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_cmd)
