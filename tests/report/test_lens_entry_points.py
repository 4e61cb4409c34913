"""Every lens's ``analyse``/``applies`` on stores of models the demo never uses (see zoo.py): real content —
layer names, shapes, values in range, known answers — and the reasons a lens does not apply."""

from __future__ import annotations

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.lenses import LENSES
from repscope.lenses import protocol as lens


def test_layer_kinds_follow_shape_and_module(zoo_stores):
    s = zoo_stores
    assert [lens.layer_kind(s["mlp"], la) for la in s["mlp"].layers] == ["vector"] * 5
    assert {la: lens.layer_kind(s["rescnn"], la) for la in s["rescnn"].layers} == {
        "stem": "map", "block": "map", "block.conv1": "map", "pool": "vector", "head": "vector"}
    assert lens.layers_of_kind(s["gru"], "sequence") == ["gru1", "gru2"]
    assert lens.layers_of_kind(s["bert"], "sequence") == list(s["bert"].layers)
    assert lens.output_layer(s["mlp"]) == "out" and lens.output_layer(s["rescnn"]) == "head"
    assert lens.output_layer(s["bert"]) is None  # no layer is 3 wide
    assert lens.valid_lengths(s["bert"]).min() >= 6 and lens.valid_lengths(s["mlp"]) is None


def test_applies_says_why_not(zoo_stores):
    got = {k: {x.package: x.applies(st) for x in LENSES} for k, st in zoo_stores.items()}
    for k in ("mlp", "rescnn", "two_layer", "untrained_mlp"):
        assert "no layer has a time axis" in got[k]["dynamics"]
        assert all(got[k][x] is None for x in ("metrics", "ranges", "topology", "descramble"))
    assert all(v is None for v in got["gru"].values()) and all(v is None for v in got["bert"].values())
    assert "(32,)" in got["mlp"]["dynamics"]  # the reason names the shapes it saw


def test_metrics_layer_matrices_and_label_rsa(zoo_stores):
    a = rs.metrics.analyse(zoo_stores["mlp"], progress=False)
    assert a.layers == ["fc1", "act1", "fc2", "act2", "out"]
    assert [m.metric for m in a.matrices] == list(rs.metrics.entry.DEFAULT_METRICS)
    cka = a.matrices[0]
    assert cka.values.shape == (5, 5) and np.allclose(np.diag(cka.values), 1.0)
    assert np.all((cka.values > 0) & (cka.values <= 1 + 1e-12))
    proc = next(m for m in a.matrices if m.metric == "procrustes")
    assert np.all((proc.values >= -1e-9) & (proc.values <= np.pi / 2 + 1e-9))
    rsa = a.results[-1]
    assert isinstance(rsa, rs.metrics.LabelRSA) and rsa.layers == a.layers
    assert np.all(rsa.rho > 0.5)  # a trained classifier groups samples by label
    assert "Linear CKA between neighbouring layers" in a.reading and "RSA" in a.reading
    assert a.to_dict()["results"][0]["type"] in ("LayerMatrix", "MatrixResult")


def test_label_rsa_known_answers():
    y = np.repeat(np.arange(4), 10)
    onehot = np.eye(4)[y] + 0.0
    noise = np.random.default_rng(0).standard_normal((40, 6))
    r = rs.metrics.label_rsa({"onehot": onehot, "noise": noise}, y)
    assert r.rho[0] == pytest.approx(1.0, abs=1e-12)  # the label RDM itself, up to a monotone map
    assert abs(r.rho[1]) < 0.2
    with pytest.raises(InputError, match="at least 2 classes"):
        rs.metrics.label_rsa({"x": noise}, np.zeros(40))


def test_similarity_reading_states_the_ceiling(zoo_stores):
    a = rs.metrics.analyse(zoo_stores["mlp"], metrics=["linear_cka"], progress=False)
    lrsa = a.results[-1]
    assert np.isfinite(lrsa.ceiling)
    assert f"out of a ceiling of {lrsa.ceiling:.2f} for {lrsa.n_classes} classes" in a.reading


def test_metrics_sequence_layers_enter_as_time_means(zoo_stores):
    s = zoo_stores["gru"]
    a = rs.metrics.analyse(s, metrics=["linear_cka"], progress=False)
    # fixed-length sequences without n_tokens: every step is averaged and the note says so (no "real" claim)
    assert any("mean over all 20 positions" in n and "every step counts as real" in n for n in a.notes)
    assert not any(n.startswith("warning") for n in a.notes)  # no padding warning: the inputs are not tokens
    g1 = s.read("gru1").astype(np.float64).reshape(s.n_samples, 20, 16).mean(axis=1)
    want = rs.metrics.linear_cka(g1, s.read("head"))
    assert a.matrices[0].values[0, 2] == pytest.approx(want, abs=1e-10)


def test_ranges_defaults_on_a_classifier(zoo_stores):
    a = rs.ranges.analyse(zoo_stores["mlp"], n_permutations=49, progress=False)
    first, second = a.analyses
    assert first.bands.unit.startswith("out:") and first.bands.kind.startswith("normalised")
    assert second.bands.unit.startswith("act2: mean(")  # the layer before the output layer
    assert sum(first.bands.counts().values()) == zoo_stores["mlp"].n_samples
    assert "mid band" in a.reading
    assert "holds blob " in a.reading  # the text attribute naming the labels one to one
    # ... which is the label under another name: never a confounder, and the notes say why
    assert a.notes == ["attribute 'blob' is the label under another name (one value per label and one label per "
                       "value), so it is not tested as a confounder"]
    for an in a.analyses:
        rows = {r["attribute"]: r["verdict"] for r in an.confounders.rows}
        assert rows["blob"] == rows["label"] == "derived from target"


def test_ranges_untrained_model_falls_back_to_percentiles(zoo_stores):
    a = rs.ranges.analyse(zoo_stores["untrained_mlp"], n_permutations=0, progress=False)
    assert a.analyses[0].bands.kind == "percentile"
    assert any("normalised-logit bands undefined" in n for n in a.notes)


def test_ranges_any_direction(zoo_stores, tmp_path):
    s = zoo_stores["bert"]
    X = lens.sequence_mean(s, "encoder.layer.1")
    y = np.asarray(s.labels)
    w = X[y == 2].mean(0) - X[y != 2].mean(0)
    np.save(tmp_path / "w.npy", w)
    a = rs.ranges.analyse(s, direction=w, layers=["encoder.layer.1"], n_permutations=0, progress=False)
    b = rs.ranges.analyse(s, direction=f"encoder.layer.1:file:{tmp_path / 'w.npy'}", n_permutations=0,
                          progress=False)
    c = rs.ranges.analyse(s, direction="encoder.layer.1:class-mean:2", n_permutations=0, progress=False)
    np.testing.assert_allclose(a.analyses[0].bands.values, b.analyses[0].bands.values)
    np.testing.assert_allclose(a.analyses[0].bands.values, c.analyses[0].bands.values, atol=1e-9)
    top = a.analyses[0].bands.mask("top")
    assert (y[top] == 2).mean() > 0.5  # the top of a class direction is mostly that class
    with pytest.raises(InputError, match="has 5 entries but layer"):
        rs.ranges.analyse(s, direction=np.ones(5), layers=["encoder.layer.1"], progress=False)


def test_topology_persistence_ph_matrix_and_mapper(zoo_stores):
    a = rs.topology.analyse(zoo_stores["rescnn"], n_samples=120, progress=False)
    ph = a.results[0]
    assert ph.layers == ["stem", "block.conv1", "block", "pool", "head"] == a.layers  # execution order
    V = np.asarray(ph.values)
    assert np.allclose(V, V.T) and np.allclose(np.diag(V), 0) and (V >= 0).all()
    diagrams = [r for r in a.results if isinstance(r, rs.topology.Diagrams)]
    assert [d.name for d in diagrams] == a.layers and all(d.n_points <= 120 for d in diagrams)
    graphs = [r for r in a.results if isinstance(r, rs.topology.MapperGraph)]
    assert [g.name for g in graphs] == a.layers
    assert all(0 < g.node_purity() <= 1 for g in graphs)  # coloured by the store's labels
    assert any("top-ℓ2" in n for n in a.notes) and "Mapper node purity" in a.reading


def test_topology_cloud_of_a_map_is_its_top_l2_channel_vector(zoo_stores):
    s = zoo_stores["rescnn"]
    from repscope.topology.entry import _cloud

    X = _cloud(s, "stem", None)
    A = s.read("stem").reshape(s.n_samples, 8, 64)
    pos = np.argmax((A**2).sum(1), axis=1)
    np.testing.assert_allclose(X, A[np.arange(s.n_samples), :, pos])


def test_dynamics_sequence_layers_and_two_models(zoo_stores):
    s = zoo_stores["gru"]
    a = rs.dynamics.analyse(s, n_components=4, n_delays=2, progress=False)
    dsa, proc, cka = a.results
    assert dsa.rows == ["gru1", "gru2"] and np.allclose(np.diag(dsa.values), 0) and dsa.values[0, 1] > 0
    states1 = s.read("gru1").reshape(-1, 16)
    states2 = s.read("gru2").reshape(-1, 16)
    assert proc.values[0, 1] == pytest.approx(rs.metrics.procrustes(states1, states2), abs=1e-9)
    assert cka.values[0, 1] == pytest.approx(1 - rs.metrics.linear_cka(states1, states2), abs=1e-9)
    assert "skipped layers without a time axis: head" in a.notes
    # the same model on the same inputs, as a second store: zero distance at the same layer
    b = rs.dynamics.analyse(s, others=[s], n_components=4, n_delays=2, progress=False)
    d2 = b.results[0]
    assert d2.rows == ["A:gru1", "A:gru2"] and d2.cols == ["B:gru1", "B:gru2"]
    assert np.allclose(np.diag(d2.values), 0, atol=1e-6) and np.allclose(np.diag(b.results[1].values), 0,
                                                                          atol=1e-6)
    assert "DSA between the models at the same layer" in b.reading


def test_dynamics_lens_takes_a_dsa_config(zoo_stores):
    s = zoo_stores["gru"]
    kw = rs.dynamics.analyse(s, n_components=4, n_delays=2, progress=False)
    cfg = rs.dynamics.DSAConfig(n_delays=2, seed=0)
    a = rs.dynamics.analyse(s, n_components=4, config=cfg, progress=False)
    assert np.array_equal(a.results[0].values, kw.results[0].values)  # config ≡ keywords
    assert a.params["dsa"] == cfg.replace(rank=4).to_dict()  # rank defaults to n_components
    e = rs.dynamics.analyse(s, n_components=4, config=cfg.replace(metric="euclidean"), progress=False)
    assert e.results[0].metric == "DSA (euclidean)"
    # the chordal and angular scores of one certified optimum: ‖Â − CB̂Cᵀ‖ = sqrt(2 − 2 cos θ)
    np.testing.assert_allclose(e.results[0].values, np.sqrt(2 - 2 * np.cos(a.results[0].values)), atol=1e-8)
    with pytest.raises(InputError, match="n_delays=0"):
        rs.dynamics.analyse(s, n_components=4, config=cfg, n_delays=0, progress=False)


def test_dynamics_drops_padding_tokens(zoo_stores):
    s = zoo_stores["bert"]
    from repscope.dynamics.entry import _trials

    rows = np.arange(s.n_samples)
    tr = _trials(s, "encoder.layer.0", rows)
    assert [t.shape[0] for t in tr] == lens.valid_lengths(s).tolist()
    a = rs.dynamics.analyse(s, n_components=4, n_delays=2, progress=False)
    assert a.results[0].values.shape == (5, 5) and a.params["n_trials"] == s.n_samples


def test_dynamics_not_applicable_without_time_axis(zoo_stores):
    with pytest.raises(InputError, match="no layer has a time axis"):
        rs.dynamics.analyse(zoo_stores["mlp"], progress=False)


def test_descramble_from_the_store_alone(zoo_stores):
    a = rs.descramble.analyse(zoo_stores["mlp"], progress=False)
    assert a.layers == ["fc1", "fc2", "out"]  # Linear outputs; the ReLU outputs are not preactivations
    r = {x.layer: x for x in a.results}
    assert r["fc1"].n_units == 32 and r["fc1"].rank == 9  # an affine map of 8 inputs: rank 8 + 1
    for x in a.results:
        assert x.cost == pytest.approx(x.bound, rel=1e-8, abs=1e-9) and x.cost <= x.cost_identity
    # the old entry point gives the same descrambler
    old = rs.descramble.Descrambler().fit_store(zoo_stores["mlp"], "fc2")
    np.testing.assert_allclose(np.abs(old.P_), np.abs(r["fc2"].P), atol=1e-8)


def test_descramble_units_of_maps_and_sequences(zoo_stores):
    cnn = rs.descramble.analyse(zoo_stores["rescnn"], progress=False)
    stem = next(x for x in cnn.results if x.layer == "stem")
    assert stem.n_units == 8 and stem.n_samples == 160 * 64  # channels are units, positions are samples
    s = zoo_stores["bert"]
    bert = rs.descramble.analyse(s, progress=False)
    assert bert.layers == ["encoder.layer.0.intermediate.dense", "encoder.layer.1.intermediate.dense"]
    assert bert.results[0].n_units == 48 and bert.results[0].n_samples == int(lens.valid_lengths(s).sum())


def test_descramble_weights_checked_before_any_work(zoo_stores, tmp_path, monkeypatch):
    import torch
    import zoo

    from repscope.descramble import entry

    net, _, _ = zoo.trained_mlp()
    torch.save(net.state_dict(), tmp_path / "mlp.pt")
    ok = rs.descramble.analyse(zoo_stores["mlp"], weights=tmp_path / "mlp.pt", progress=False)
    assert all(x.weights is not None for x in ok.results)
    assert ok.results[0].weights_descrambled.shape == (32, 8)

    def no_work(*a, **k):
        raise AssertionError("the moment was streamed before the weights were checked")

    monkeypatch.setattr(entry, "_moment", no_work)
    with pytest.raises(InputError, match=r"have shape \(16, 32\) but the layer has 32 units"):
        rs.descramble.analyse(zoo_stores["mlp"], layers=["fc1"], weights=tmp_path / "mlp.pt",
                              weight_name="fc2.weight", progress=False)
    with pytest.raises(InputError, match="did you mean"):
        rs.descramble.analyse(zoo_stores["mlp"], layers=["fc1"], weights=tmp_path / "mlp.pt",
                              weight_name="fc1.weigth", progress=False)
    with pytest.raises(InputError, match="have shape"):
        rs.descramble.analyse(zoo_stores["mlp"], layers=["out"], weights=np.zeros((128, 1024)), progress=False)


def test_every_analysis_follows_the_result_protocol(zoo_stores):
    a = rs.descramble.analyse(zoo_stores["two_layer"], progress=False)
    d = a.to_dict()
    assert d["lens"] == "descrambling" and d["layers"] == ["fc2", "out"] and len(d["results"]) == 2
    header, rows = a.table()
    assert header == ["result", "reading"] and len(rows) == 2
    assert a.plot() is not None and "fc2" in a.summary()
    card = a.reading_card()
    assert card.plot() is None and card.summary() == a.summary()
