"""``repscope rsa`` (RDMs, model RDMs, bootstrap CIs) and ``repscope embed`` (many networks, one metric
space). Glue only: parse → call :mod:`repscope.metrics` → print/write."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_result, store_label, write_result
from repscope.errors import InputError

_DETERMINISTIC = "Accepted for uniformity (everything is deterministic)."


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
    path = Path(spec)
    if path.suffix != ".npy" or not path.is_file():
        raise InputError(f"--model {spec!r}: use 'labels', 'attr:NAME' or an existing .npy file of attributes")
    return np.load(path, allow_pickle=False), "auto"


def read_nets(nets: list[str], layer: str | None) -> dict[str, Any]:
    """``STORE:LAYER`` (or ``STORE`` with ``--layer``; a STORE may be an fsspec URL) → {"store:layer": array}."""
    from repscope.store import open_store

    reps: dict[str, Any] = {}
    for spec in nets:
        path, _, lay = spec.rpartition(":")
        if not path or "/" in lay:  # no ':LAYER' suffix (the last ':' is a URL's, e.g. file:///x/a.zarr)
            path, lay = spec, ""
        lay = lay or layer or ""
        if not lay:
            raise InputError(f"{spec!r}: give STORE:LAYER or --layer")
        reps[f"{store_label(path)}:{lay}"] = open_store(path).read(lay)
    return reps


def rsa_cmd(
    store: str = opt.store("Activation store (directory or fsspec URL).", metavar=None),
    layer: str = typer.Option(..., "--layer", "-l", help="Layer whose RDM is analysed."),
    layer2: str | None = typer.Option(None, "--layer2", help="Compare with this layer (of --store2 if given)."),
    store2: str | None = typer.Option(None, "--store2", help="Second store for --layer2."),
    model: str | None = typer.Option(None, "--model", help="Model RDM: 'labels' (same/different class), 'attr:NAME' "
                                     "or a .npy."),
    rdm: str = opt.rdm(),
    compare: str = opt.compare("spearman | rho_a | kendall_tau_a | kendall_tau_b | pearson | cosine"),
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, help="Resamples of stimuli for a CI (0 = none)."),
    ci: float = typer.Option(0.95, "--ci", min=0.5, max=0.9999, help="Coverage of the bootstrap interval."),
    seed: int = opt.seed("Seed of the bootstrap resamples."),
    out: Path | None = opt.out(opt.WRITE_HELP, short=True),
    json_out: bool = opt.json("Print the results as JSON."),
    quiet: bool = opt.quiet(short=True),
) -> None:
    """RSA of one layer: its RDM, compared with a model RDM (class labels, an attribute) or another
    layer, with an optional bootstrap CI over stimuli (self-pairs of resampled duplicates excluded)."""
    import numpy as np

    from repscope.metrics._rdm import model_rdm, rdm_of, rsa_bootstrap
    from repscope.store import open_store

    if (model is None) == (layer2 is None):
        raise InputError("give exactly one of --model (labels, attr:NAME, .npy) or --layer2 to compare with")
    a = open_store(store)
    labels = [str(v) for v in a.labels] if a.labels is not None and len(a.labels) <= 60 else None
    r1 = rdm_of(a.read(layer), rdm, labels=labels, name=layer)
    if model is not None:
        attrs, kind = _model_attributes(a, model)
        r2 = model_rdm(attrs, kind, name=f"model {model}")
    else:
        b = a if store2 is None else open_store(store2)
        r2 = rdm_of(b.read(str(layer2)), rdm, name=str(layer2))
    value = r1.compare(r2, compare)
    results: dict[str, Any] = {"layer": layer, "other": r2.name, "rdm": rdm, "compare": compare, "value": value,
                               "n_conditions": r1.n}
    ceiling = None
    if model is not None and np.unique(r2.vector).size == 2:  # a categorical model caps the comparison
        from repscope.metrics._rsa import binary_rdm_ceiling

        ceiling = results["ceiling"] = binary_rdm_ceiling(r2.vector, compare)
    boot = None
    if bootstrap:
        # RDM objects are documented inputs of rsa_bootstrap (its annotation says ArrayLike only)
        boot = rsa_bootstrap(cast(Any, r1), cast(Any, r2), compare=compare, n_boot=bootstrap, ci=ci, seed=seed)
        results["bootstrap"] = {k: v for k, v in boot.to_dict().items() if k != "samples"}
    if out is not None:
        order = None if a.labels is None else np.argsort(np.asarray(a.labels), kind="stable")  # class blocks
        write_result(out, "rdm", r1, order=order)
        write_result(out, "rdm_other", r2, order=order)
        if boot is not None:
            write_result(out, "bootstrap", boot)
    cap = ("" if ceiling is None else f" (ceiling {ceiling:.4f} for this two-valued model without tied "
           f"dissimilarities: {value / ceiling:.0%} of it)")
    print_result(results, json_out, quiet,
                 f"RSA ({rdm} RDM, {compare}) {layer} vs {r2.name}: {value:.4f} over {r1.n} stimuli{cap}",
                 *([] if boot is None else [boot.summary()]))


def embed_cmd(
    nets: list[str] = opt.nets("Networks as STORE:LAYER (or STORE with --layer), two or more."),
    layer: str | None = opt.layer(),
    metric: str = opt.metric("procrustes", "A distance: procrustes, shape_metric, permutation, ...", short=True),
    frechet: bool = typer.Option(False, "--frechet", help="Also the Fréchet mean (equal shapes only)."),
    seed: int = opt.seed(_DETERMINISTIC),
    out: Path | None = opt.out(opt.WRITE_HELP, short=True),
    json_out: bool = opt.json("Print the results as JSON."),
    quiet: bool = opt.quiet(short=True),
) -> None:
    """Place several networks (stores, or layers of them) in one metric space: the network × network
    distance matrix of a shape metric and its classical-MDS layout (netrep's headline use)."""
    from repscope.metrics.embedding import frechet_mean, network_embedding

    reps = read_nets(nets, layer)
    emb = network_embedding(reps, metric)
    payload: dict[str, Any] = {"embedding": emb.to_dict()}
    fm = frechet_mean(reps) if frechet else None
    if fm is not None:
        payload["frechet_mean"] = fm.to_dict()
    if out is not None:
        write_result(out, f"embedding_{metric}", emb)
        if fm is not None:
            write_result(out, "frechet_mean", fm)
    header, rows = emb.table()
    w = max(len(c) for c in [*header, *(c for r in rows for c in r)]) + 2
    lines = ["".join(c.rjust(w) for c in line) for line in [header, *rows]]
    print_result(payload, json_out, quiet, *lines, emb.summary(), *([] if fm is None else [fm.summary()]))


def noise_ceiling_cmd(
    nets: list[str] = opt.nets("Repeated measurements (seeds, subjects) as STORE:LAYER, two or more."),
    layer: str | None = opt.layer(),
    rdm: str = opt.rdm(),
    compare: str = opt.compare("spearman | rho_a | pearson | cosine | …"),
    seed: int = opt.seed("Accepted for uniformity (deterministic)."),
    out: Path | None = opt.out(opt.WRITE_HELP, short=True),
    json_out: bool = opt.json("Print the result as JSON."),
    quiet: bool = opt.quiet(short=True),
) -> None:
    """RSA noise ceiling from repeated measurements of the same stimuli (network seeds, subjects):
    the RDM of each, then leave-one-out lower and all-repeats upper bounds (rsatoolbox-style)."""
    from repscope.metrics._rdm import noise_ceiling, rdm_of

    reps = read_nets(nets, layer)
    nc = noise_ceiling([rdm_of(x, rdm, name=k) for k, x in reps.items()], compare=compare)
    if out is not None:
        write_result(out, "noise_ceiling", nc)
    print_result(nc.to_dict(), json_out, quiet, nc.summary())


def register(app: typer.Typer) -> None:
    app.command("rsa")(rsa_cmd)
    app.command("embed")(embed_cmd)
    app.command("noise-ceiling")(noise_ceiling_cmd)
