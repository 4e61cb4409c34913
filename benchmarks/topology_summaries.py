"""Diagram summaries and mapper parity: ours vs gudhi.representations, persim and KeplerMapper — agreement + time.

    PYTHONPATH=src benchmarks/.venv/bin/python benchmarks/topology_summaries.py [--quick]

Diagrams: H1 (and H0) of Rips persistence (ours, gudhi) on noisy circles and Gaussian blobs (n = 400
points, 3-d). Landscapes on a 500-point grid, k = 5: vs ``gudhi.representations.Landscape`` (÷ √2, see
repscope.topology.summaries) and persim's ``PersLandscapeApprox`` (which snaps births/deaths to its grid —
compared on the grid-snapped diagram, where it is exact); entropy vs ``gudhi.representations.Entropy``;
Betti curves vs ``gudhi.representations.BettiCurve`` on the same grid. Landscape distances vs persim's
``PersLandscapeExact`` (difference, ``p_norm``/``sup_norm``) and an independent fine-grid integral.
Mapper: 1000 digits (64-d), lens = L2 norm, KeplerMapper's cover (10 cubes, 50 % overlap) and
DBSCAN(eps = k-NN elbow, min_samples = 5) on both sides; node member sets and edges compared.
Times: median of 3 runs, one core.
"""

from __future__ import annotations

import argparse

import numpy as np

from _timing import median_time


def _clouds(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    circle = np.c_[np.cos(t), np.sin(t), 0.1 * rng.standard_normal(n)] + 0.08 * rng.standard_normal((n, 3))
    blob = rng.standard_normal((n, 3))
    return {"circle": circle, "blob": blob}


def summaries(n: int) -> None:
    from gudhi.representations import BettiCurve, Entropy, Landscape
    from persim.landscapes import PersLandscapeApprox

    from repscope.topology import persistence
    from repscope.topology.summaries import betti_curve, persistence_entropy, persistence_landscape

    print("| diagram | summary | reference | max abs diff | ours s | reference s |")
    print("|---|---|---|---|---|---|")
    for name, X in _clouds(n, 0).items():
        dg = persistence(X, maxdim=1)
        for dim in (0, 1):
            D = dg.finite(dim)
            lo, hi = float(D[:, 0].min()), float(D[:, 1].max())
            ref_l = Landscape(num_landscapes=5, resolution=500, sample_range=[lo, hi], keep_endpoints=True).fit([D])
            g = ref_l.grid_
            ours, t_o = median_time(lambda D=D, g=g: persistence_landscape(D, k=5, grid=g).vector())
            refv, t_r = median_time(lambda D=D, ref_l=ref_l: ref_l.transform([D])[0] / np.sqrt(2))
            print(f"| {name} H{dim} ({len(D)} bars) | landscape k=5 | gudhi Landscape / √2 | "
                  f"{np.abs(ours - refv).max():.1e} | {t_o:.4f} | {t_r:.4f} |")
            snapped = g[np.abs(g[None, :] - D[:, :1]).argmin(1)], g[np.abs(g[None, :] - D[:, 1:]).argmin(1)]
            Ds = np.c_[snapped]
            Ds = Ds[Ds[:, 1] > Ds[:, 0]]
            pl, t_r2 = median_time(lambda Ds=Ds, g=g: np.asarray(
                PersLandscapeApprox(start=g[0], stop=g[-1], num_steps=len(g), dgms=[Ds], hom_deg=0).values), reps=1)
            k = min(5, pl.shape[0])
            ours_s, t_o2 = median_time(lambda Ds=Ds, g=g, k=k: persistence_landscape(Ds, k=k, grid=g).values)
            print(f"| {name} H{dim} grid-snapped | landscape k={k} | persim PersLandscapeApprox | "
                  f"{np.abs(ours_s - pl[:k]).max():.1e} | {t_o2:.4f} | {t_r2:.4f} |")
            e_o, t_o = median_time(lambda D=D: persistence_entropy(D))
            e_r, t_r = median_time(lambda D=D: Entropy(mode="scalar").fit_transform([D])[0, 0])
            print(f"| {name} H{dim} | entropy | gudhi Entropy | {abs(e_o - e_r):.1e} | {t_o:.5f} | {t_r:.5f} |")
            Dall = dg[dim]
            b_o, t_o = median_time(lambda Dall=Dall, g=g: betti_curve(Dall, grid=g).values)
            b_r, t_r = median_time(lambda Dall=Dall, g=g: BettiCurve(predefined_grid=g).fit_transform([Dall])[0])
            print(f"| {name} H{dim} | Betti curve | gudhi BettiCurve | {np.abs(b_o - b_r).max():.0f} | "
                  f"{t_o:.5f} | {t_r:.5f} |")


def landscape_distances() -> None:
    from persim.landscapes import PersLandscapeExact

    from repscope.topology import persistence
    from repscope.topology.summaries import landscape_distance, persistence_landscape

    cl = _clouds(150, 1)
    A, B = persistence(cl["circle"]).finite(1), persistence(cl["blob"]).finite(1)
    print()
    print(f"| landscape distance, H1 circle ({len(A)} bars) vs blob ({len(B)} bars) | ours | persim exact | "
          "independent fine-grid integral | ours s | persim s |")
    print("|---|---|---|---|---|---|")
    g = np.linspace(min(A.min(), B.min()), max(A.max(), B.max()), 400001)
    k = max(len(A), len(B))
    f = persistence_landscape(A, k=k, grid=g).values - persistence_landscape(B, k=k, grid=g).values
    for p in (1, 2, np.inf):
        ours, t_o = median_time(lambda p=p: landscape_distance(A, B, p=p))

        def ref(p=p):
            d = PersLandscapeExact(dgms=[A], hom_deg=0) - PersLandscapeExact(dgms=[B], hom_deg=0)
            return d.sup_norm() if p == np.inf else d.p_norm(p=p)

        r, t_r = median_time(ref, reps=1)
        fine = np.abs(f).max() if p == np.inf else np.sum(np.trapezoid(np.abs(f) ** p, g, axis=1)) ** (1 / p)
        print(f"| p = {p} | {ours:.8f} | {r:.8f} | {fine:.8f} | {t_o:.3f} | {t_r:.3f} |")


def mapper_parity() -> None:
    import kmapper
    from sklearn.cluster import DBSCAN
    from sklearn.datasets import load_digits

    from repscope.topology import knn_elbow_eps, mapper

    X = load_digits().data[:1000].astype(np.float64)
    lens = np.linalg.norm(X, axis=1)
    eps = knn_elbow_eps(X, k=5)
    cover = kmapper.Cover(n_cubes=10, perc_overlap=0.5)

    def km():
        return kmapper.KeplerMapper(verbose=0).map(lens[:, None], X, cover=cover,
                                                   clusterer=DBSCAN(eps=eps, min_samples=5))

    gk, t_k = median_time(km)
    iv = np.c_[np.asarray(cover.centers_)[:, 0] - cover.radius_[0], np.asarray(cover.centers_)[:, 0] + cover.radius_[0]]
    go, t_o = median_time(
        lambda: mapper(X, lens=lens, intervals=iv, clusterer=DBSCAN(eps=eps, min_samples=5), n_tooltips=0)
    )
    ref_nodes = sorted(tuple(sorted(m)) for m in gk["nodes"].values())
    our_nodes = sorted(tuple(sorted(nd["members"].tolist())) for nd in go.nodes)
    n_edges_k = sum(len(v) for v in gk["links"].values())
    print()
    print("| mapper (1000 digits, KeplerMapper's cover) | nodes | edges | identical node sets | s |")
    print("|---|---|---|---|---|")
    print(f"| repscope | {len(our_nodes)} | {len(go.edges)} | {our_nodes == ref_nodes} | {t_o:.3f} |")
    print(f"| KeplerMapper 2.1.0 | {len(ref_nodes)} | {n_edges_k} | | {t_k:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 points per cloud instead of 400")
    args = ap.parse_args()
    summaries(200 if args.quick else 400)
    landscape_distances()
    mapper_parity()


if __name__ == "__main__":
    main()
