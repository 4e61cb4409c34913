"""``repscope estimate``: one n×n similarity measure between two layers at any n — exact when it fits the
budget, else an estimate with a confidence interval (:func:`repscope.metrics.estimate`). Glue only."""

from __future__ import annotations

import pathlib
from typing import Annotated

import typer

from repscope.commands._format import check_format, format_option, print_table


def register(app: typer.Typer) -> None:
    @app.command("estimate")
    def estimate_cmd(
        nets: Annotated[
            list[str], typer.Argument(help="The two representations as STORE:LAYER (or STORE with --layer); "
                                           "same samples in the same order.")
        ],
        layer: Annotated[str | None, typer.Option("--layer", "-l", help="Layer for STOREs given without one.")] = None,
        metric: Annotated[
            str, typer.Option("--metric", "-m", help="rbf_cka | debiased_cka | linear_cka | rsa | mutual_knn | "
                                                     "jaccard_knn | cknna")
        ] = "rbf_cka",
        budget: Annotated[
            float, typer.Option("--budget", min=1.0, help="Pairwise entries allowed (exact when n² fits).")
        ] = 1e8,
        level: Annotated[
            float, typer.Option("--level", min=0.5, max=0.9999, help="Coverage of the interval.")
        ] = 0.95,
        method: Annotated[
            str, typer.Option("--method", help="auto | exact | rff | minibatch | pairs | stimuli | queries")
        ] = "auto",
        sigma: Annotated[
            float, typer.Option("--sigma", min=1e-6, help="RBF bandwidth factor (× the median distance).")
        ] = 1.0,
        debiased: Annotated[bool, typer.Option("--debiased", help="RBF CKA with the unbiased HSIC.")] = False,
        k: Annotated[int, typer.Option("--k", min=1, help="Neighbours of the k-NN measures.")] = 10,
        rdm: Annotated[str, typer.Option("--rdm", help="RSA: correlation | cosine | euclidean | sqeuclidean")
                       ] = "correlation",
        compare: Annotated[str, typer.Option("--compare", help="RSA: spearman | pearson | cosine")] = "spearman",
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random draw.")] = 0,
        out: Annotated[pathlib.Path | None, typer.Option("--out", "-o", help="Write JSON + PNG here.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
        fmt: Annotated[str, format_option(annotated=True)] = "table",
    ) -> None:
        """Similarity at scale: RBF CKA, RSA, mutual k-NN … of two layers at 10⁵–10⁶ samples, exact when the
        n² work fits --budget, else estimated (random features, minibatches, random pairs or query samples)
        with a --level confidence interval for the exact value."""
        from repscope.commands.rsa import _read_nets, _write
        from repscope.errors import InputError
        from repscope.metrics.estimators import estimate
        from repscope.results import dumps

        check_format(fmt)
        reps = _read_nets(nets, layer)
        if len(reps) != 2:
            raise InputError(f"give exactly two representations (STORE:LAYER), got {len(reps)}")
        (na, X), (nb, Y) = reps.items()
        res = estimate(X, Y, metric, budget=budget, level=level, seed=seed, method=method, sigma=sigma,
                       debiased=debiased, k=k, rdm=rdm, compare=compare)
        if out is not None:
            _write(out, f"estimate_{metric}", res)
        if json_out:
            typer.echo(dumps({"a": na, "b": nb, **res.to_dict()}))
        elif not quiet:
            header, rows = res.table()
            print_table(header, rows, fmt, title=f"{na} vs {nb}")
            if fmt == "table":
                typer.echo(res.summary())
