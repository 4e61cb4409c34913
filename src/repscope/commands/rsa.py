"""``repscope rsa`` (RDMs, model RDMs, bootstrap CIs) and ``repscope embed`` (many networks, one metric
space). Glue only: parse → call :mod:`repscope.metrics` → print/write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_result, write_result

_DETERMINISTIC = "Accepted for uniformity (everything is deterministic)."


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
    from repscope.metrics import layer_rsa
    from repscope.store import open_store

    res = layer_rsa(open_store(store), layer, model=model, layer2=layer2,
                    store2=None if store2 is None else open_store(store2), rdm=rdm, compare=compare,
                    bootstrap=bootstrap, ci=ci, seed=seed)
    if out is not None:
        write_result(out, "rdm", res.rdm, order=res.order)
        write_result(out, "rdm_other", res.other, order=res.order)
        if res.bootstrap is not None:
            write_result(out, "bootstrap", res.bootstrap)
    print_result(res.to_dict(), json_out, quiet, res.summary())


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
    from repscope.metrics import frechet_mean, network_embedding, read_layers

    reps = read_layers(nets, layer)
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
    from repscope.metrics import noise_ceiling, rdm_of, read_layers

    reps = read_layers(nets, layer)
    nc = noise_ceiling([rdm_of(x, rdm, name=k) for k, x in reps.items()], compare=compare)
    if out is not None:
        write_result(out, "noise_ceiling", nc)
    print_result(nc.to_dict(), json_out, quiet, nc.summary())


def register(app: typer.Typer) -> None:
    app.command("rsa")(rsa_cmd)
    app.command("embed")(embed_cmd)
    app.command("noise-ceiling")(noise_ceiling_cmd)
