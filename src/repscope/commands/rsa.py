"""``repscope rsa`` (RDMs, model RDMs, bootstrap CIs) and ``repscope embed`` (many networks, one metric
space). Glue only: parse → call :mod:`repscope.metrics` → print/write."""

from __future__ import annotations

import pathlib
from typing import Annotated, Any

import typer

from repscope.errors import InputError


def _write(out: pathlib.Path, stem: str, result: Any, **plot_kw: Any) -> None:
    from repscope.results import dumps

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(dumps(result.to_dict()))
    result.plot(**plot_kw).savefig(out / f"{stem}.png", dpi=120)  # plain Figures (no pyplot)


def _model_attributes(store: Any, spec: str) -> tuple[Any, str]:
    """``labels`` → the store's labels (categorical); ``attr:NAME`` → a stored attribute; a .npy path."""
    import numpy as np

    if spec == "labels":
        if store.labels is None:
            raise InputError("--model labels: this store has no labels; capture with --labels or give a .npy")
        return store.labels, "categorical"
    if spec.startswith("attr:"):
        name = spec[5:]
        attrs = store.attributes
        if name not in attrs:
            raise InputError(f"--model {spec}: no attribute {name!r}; the store has {sorted(attrs) or 'none'}")
        return attrs[name], "auto"
    path = pathlib.Path(spec)
    if path.suffix != ".npy" or not path.is_file():
        raise InputError(f"--model {spec!r}: use 'labels', 'attr:NAME' or an existing .npy file of attributes")
    return np.load(path, allow_pickle=False), "auto"


def _read_nets(nets: list[str], layer: str | None) -> dict[str, Any]:
    """``STORE:LAYER`` (or ``STORE`` with ``--layer``) → {"store:layer": array}."""
    from repscope.store import open_store

    reps: dict[str, Any] = {}
    for spec in nets:
        path, _, lay = spec.rpartition(":") if ":" in spec else (spec, "", None)
        lay = lay or layer
        if not lay:
            raise InputError(f"{spec!r}: give STORE:LAYER or --layer")
        s = open_store(pathlib.Path(path))
        reps[f"{pathlib.Path(path).name}:{lay}"] = s.read(lay)
    return reps


def register(app: typer.Typer) -> None:
    @app.command("rsa")
    def rsa_cmd(
        store: Annotated[pathlib.Path, typer.Argument(help="Activation store.")],
        layer: Annotated[str, typer.Option("--layer", "-l", help="Layer whose RDM is analysed.")],
        layer2: Annotated[
            str | None, typer.Option("--layer2", help="Compare with this layer (of --store2 if given).")
        ] = None,
        store2: Annotated[pathlib.Path | None, typer.Option("--store2", help="Second store for --layer2.")] = None,
        model: Annotated[
            str | None,
            typer.Option("--model", help="Model RDM: 'labels' (same/different class), 'attr:NAME' or a .npy."),
        ] = None,
        rdm: Annotated[
            str, typer.Option("--rdm", help="correlation | cosine | euclidean | sqeuclidean")
        ] = "correlation",
        compare: Annotated[
            str, typer.Option("--compare", help="spearman | rho_a | kendall_tau_a | kendall_tau_b | pearson | cosine")
        ] = "spearman",
        bootstrap: Annotated[
            int, typer.Option("--bootstrap", min=0, help="Resamples of stimuli for a CI (0 = none).")
        ] = 0,
        ci: Annotated[
            float, typer.Option("--ci", min=0.5, max=0.9999, help="Coverage of the bootstrap interval.")
        ] = 0.95,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap resamples.")] = 0,
        out: Annotated[pathlib.Path | None, typer.Option("--out", "-o", help="Write JSON + PNG here.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """RSA of one layer: its RDM, compared with a model RDM (class labels, an attribute) or another
        layer, with an optional bootstrap CI over stimuli (self-pairs of resampled duplicates excluded)."""
        import numpy as np

        from repscope.metrics._rdm import model_rdm, rdm_of, rsa_bootstrap
        from repscope.results import dumps
        from repscope.store import open_store

        if (model is None) == (layer2 is None):
            raise InputError("give exactly one of --model (labels, attr:NAME, .npy) or --layer2 to compare with")
        a = open_store(store)
        X = a.read(layer)
        labels = [str(v) for v in a.labels] if a.labels is not None and len(a.labels) <= 60 else None
        r1 = rdm_of(X, rdm, labels=labels, name=layer)
        if model is not None:
            attrs, kind = _model_attributes(a, model)
            r2 = model_rdm(attrs, kind, name=f"model {model}")
        else:
            b = a if store2 is None else open_store(store2)
            r2 = rdm_of(b.read(layer2), rdm, name=str(layer2))
        value = r1.compare(r2, compare)
        results: dict[str, Any] = {"layer": layer, "other": r2.name, "rdm": rdm, "compare": compare,
                                   "value": value, "n_conditions": r1.n}
        ceiling = None
        if model is not None and np.unique(r2.vector).size == 2:  # a categorical model caps the comparison
            from repscope.metrics._rsa import binary_rdm_ceiling

            ceiling = binary_rdm_ceiling(r2.vector, compare)
            results["ceiling"] = ceiling
        boot = None
        if bootstrap:
            boot = rsa_bootstrap(r1, r2, compare=compare, n_boot=bootstrap, ci=ci, seed=seed)
            results["bootstrap"] = {k: v for k, v in boot.to_dict().items() if k != "samples"}
        if out is not None:
            order = None if a.labels is None else np.argsort(np.asarray(a.labels), kind="stable")  # class blocks
            _write(out, "rdm", r1, order=order)
            _write(out, "rdm_other", r2, order=order)
            if boot is not None:
                _write(out, "bootstrap", boot)
        if json_out:
            typer.echo(dumps(results))
        elif not quiet:
            cap = ("" if ceiling is None else f" (ceiling {ceiling:.4f} for this two-valued model without tied "
                   f"dissimilarities: {value / ceiling:.0%} of it)")
            typer.echo(f"RSA ({rdm} RDM, {compare}) {layer} vs {r2.name}: {value:.4f} over {r1.n} stimuli{cap}")
            if boot is not None:
                typer.echo(boot.summary())

    @app.command("embed")
    def embed_cmd(
        nets: Annotated[
            list[str], typer.Argument(help="Networks as STORE:LAYER (or STORE with --layer), two or more.")
        ],
        layer: Annotated[str | None, typer.Option("--layer", "-l", help="Layer for STOREs given without one.")] = None,
        metric: Annotated[
            str, typer.Option("--metric", "-m", help="A distance: procrustes, shape_metric, permutation, ...")
        ] = "procrustes",
        frechet: Annotated[bool, typer.Option("--frechet", help="Also the Fréchet mean (equal shapes only).")] = False,
        seed: Annotated[
            int, typer.Option("--seed", min=0, help="Accepted for uniformity (everything is deterministic).")
        ] = 0,
        out: Annotated[pathlib.Path | None, typer.Option("--out", "-o", help="Write JSON + PNG here.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Place several networks (stores, or layers of them) in one metric space: the network × network
        distance matrix of a shape metric and its classical-MDS layout (netrep's headline use)."""
        from repscope.metrics.embedding import frechet_mean, network_embedding
        from repscope.results import dumps

        reps = _read_nets(nets, layer)
        emb = network_embedding(reps, metric)
        payload: dict[str, Any] = {"embedding": emb.to_dict()}
        fm = frechet_mean(reps) if frechet else None
        if fm is not None:
            payload["frechet_mean"] = fm.to_dict()
        if out is not None:
            _write(out, f"embedding_{metric}", emb)
            if fm is not None:
                _write(out, "frechet_mean", fm)
        if json_out:
            typer.echo(dumps(payload))
        elif not quiet:
            header, rows = emb.table()
            w = max(len(c) for c in [*header, *(c for r in rows for c in r)]) + 2
            typer.echo("".join(h.rjust(w) for h in header))
            for r in rows:
                typer.echo("".join(c.rjust(w) for c in r))
            typer.echo(emb.summary())
            if fm is not None:
                typer.echo(fm.summary())

    @app.command("noise-ceiling")
    def noise_ceiling_cmd(
        nets: Annotated[
            list[str], typer.Argument(help="Repeated measurements (seeds, subjects) as STORE:LAYER, two or more.")
        ],
        layer: Annotated[str | None, typer.Option("--layer", "-l", help="Layer for STOREs given without one.")] = None,
        rdm: Annotated[
            str, typer.Option("--rdm", help="correlation | cosine | euclidean | sqeuclidean")
        ] = "correlation",
        compare: Annotated[str, typer.Option("--compare", help="spearman | rho_a | pearson | cosine | …")] = "spearman",
        seed: Annotated[int, typer.Option("--seed", min=0, help="Accepted for uniformity (deterministic).")] = 0,
        out: Annotated[pathlib.Path | None, typer.Option("--out", "-o", help="Write JSON + PNG here.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """RSA noise ceiling from repeated measurements of the same stimuli (network seeds, subjects):
        the RDM of each, then leave-one-out lower and all-repeats upper bounds (rsatoolbox-style)."""
        from repscope.metrics._rdm import noise_ceiling, rdm_of
        from repscope.results import dumps

        reps = _read_nets(nets, layer)
        nc = noise_ceiling([rdm_of(x, rdm, name=k) for k, x in reps.items()], compare=compare)
        if out is not None:
            _write(out, "noise_ceiling", nc)
        if json_out:
            typer.echo(dumps(nc.to_dict()))
        elif not quiet:
            typer.echo(nc.summary())
