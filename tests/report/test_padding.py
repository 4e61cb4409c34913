"""Padding is never averaged as if real (issue 21). A tokenised capture (``repscope capture --text`` or
batches with an ``attention_mask``) stores each sample's real-token count ``n_tokens``, and every lens reads a
``(tokens, features)`` layer over the real tokens only: similarity, ranges and topology as the mean over them,
dynamics as trajectories cut at the real length, descrambling with the real steps as samples. The numbers are
recomputed here by hand from the model's own hidden states. A padded store without ``n_tokens`` (stores from
before, or ``pool="none"`` captures whose batches had no mask) says so — in the notes and on the CLI — and
never claims real tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.errors import InputError
from repscope.lenses import protocol as lens

pytest.importorskip("transformers", reason="text extra not installed (make test installs it)")

WORDS = "the a cat dog sat ran on mat fast slow big small red blue".split()
SENTS = ["the cat sat on the mat", "a dog ran fast", "big red cat", "the small blue dog sat on a mat fast",
         "a mat", "red dog", "the slow cat ran", "a big blue mat", "dog", "the red cat sat on the big mat",
         "small cat", "a fast dog ran on the mat"]
LAYERS = ["embeddings", "encoder.layer.0", "encoder.layer.1"]


def _linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA by its definition (Kornblith et al. 2019): ‖YᶜᵀXᶜ‖²_F / (‖XᶜᵀXᶜ‖_F ‖YᶜᵀYᶜ‖_F), columns centred."""
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    return float(np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A random 2-layer BERT (config only, nothing downloaded) and a word-level tokenizer, saved to disk."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("bert")
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]))
    tok = BertTokenizerFast(vocab_file=str(d / "vocab.txt"))
    torch.manual_seed(0)
    # initializer_range 0.5: at the default 0.02 a random BERT's layers are near copies of its embeddings
    # (linear CKA ≈ 1 whatever the tokens averaged), and the test could not tell the two means apart
    model = BertModel(BertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=37, max_position_embeddings=32,
                                 initializer_range=0.5)).eval()
    model.save_pretrained(d / "model")
    tok.save_pretrained(d / "model")
    (d / "s.txt").write_text("\n".join(SENTS) + "\n")
    return d


@pytest.fixture(scope="module")
def reference(bert_dir):
    """Hidden states of the saved model on the tokenised sentences, computed without repscope."""
    from transformers import BertModel, BertTokenizerFast

    tok = BertTokenizerFast.from_pretrained(bert_dir / "model")
    model = BertModel.from_pretrained(bert_dir / "model").eval()
    enc = tok(SENTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states  # embeddings, layer 0, layer 1
    mask = enc["attention_mask"].numpy().astype(bool)
    return {"hs": [h.numpy().astype(np.float64) for h in hs], "mask": mask, "n": mask.sum(1)}


@pytest.fixture(scope="module")
def text_store(bert_dir, tmp_path_factory):
    """`repscope capture --model hf:DIR --text FILE --pool none` — the user's command from the issue."""
    import os

    out = tmp_path_factory.mktemp("cap") / "t.zarr"
    cwd = os.getcwd()
    os.chdir(bert_dir)
    try:
        from repscope.cli import main

        try:
            main(["capture", "--model", "hf:model", "--text", "s.txt", "--layers", ",".join(LAYERS), "--pool", "none",
                  "--batch-size", "5", "--out", str(out), "--quiet"])
        except SystemExit as exc:
            assert not exc.code
    finally:
        os.chdir(cwd)
    return rs.open_store(out)


def _forget_lengths(src, dst):
    """A copy of the store as repscope wrote it before it kept n_tokens (the attribute's column unlisted)."""
    import shutil

    shutil.copytree(src, dst)
    zj = dst / "zarr.json"
    meta = json.loads(zj.read_text())
    rsm = meta["attributes"]["repscope"]
    rsm["attributes"] = [d for d in rsm["attributes"] if d["name"] != "n_tokens"]
    zj.write_text(json.dumps(meta))
    return rs.open_store(dst)


def test_text_capture_stores_the_real_token_counts(text_store, reference):
    T = reference["mask"].shape[1]
    assert text_store.layer_shape("encoder.layer.1") == (T, 32)
    np.testing.assert_array_equal(text_store.attributes["n_tokens"], reference["n"])
    assert reference["n"].min() < T  # the sentences really are padded
    np.testing.assert_allclose(text_store.read("encoder.layer.1").reshape(-1, T, 32), reference["hs"][2],
                               rtol=1e-4, atol=1e-5)
    assert lens.caveats(text_store) == []


def test_similarity_cka_uses_the_masked_mean(text_store, reference, tmp_path):
    from repscope.metrics.entry import analyse

    m, hs = reference["mask"], reference["hs"]
    masked = [np.stack([h[i, m[i]].mean(0) for i in range(len(SENTS))]) for h in hs]
    padded = [h.mean(1) for h in hs]
    want, before = _linear_cka(masked[0], masked[2]), _linear_cka(padded[0], padded[2])
    assert abs(want - before) > 0.02  # the two readings differ: the test can tell them apart

    a = analyse(text_store, metrics=["linear_cka"], labels_rsa=False, progress=False)
    cka = a.matrices[0]
    assert list(cka.rows) == LAYERS
    np.testing.assert_allclose(np.asarray(cka.values)[0, 2], want, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(cka.values)[0, 1], _linear_cka(masked[0], masked[1]), rtol=1e-4)
    note = next(n for n in a.notes if n.startswith("sequence layers"))
    assert "real time steps / tokens (the first n_tokens" in note

    old = _forget_lengths(text_store.path, tmp_path / "old.zarr")
    a = analyse(old, metrics=["linear_cka"], labels_rsa=False, progress=False)
    np.testing.assert_allclose(np.asarray(a.matrices[0].values)[0, 2], before, rtol=1e-4)
    warn = next(n for n in a.notes if "sequence layers" in n)
    T = reference["mask"].shape[1]
    assert warn.startswith("warning:") and f"over all {T} positions" in warn and "padding" in warn
    assert "real" not in warn.split(":")[1]  # never a claim of real tokens
    print(f"\nlinear CKA embeddings vs encoder.layer.1: all {T} positions {before:.3f}, real tokens {want:.3f}")


def test_compare_and_layer_matrix_read_real_tokens_or_warn(text_store, reference, tmp_path, run_cli):
    """`repscope compare` on the padded text store gives the masked-mean numbers (as the report), and so does
    the API's rs.metrics.layer_matrix; the flattened T·D reading is there only when asked, with a warning; a
    store without n_tokens warns on both."""
    m, hs = reference["mask"], reference["hs"]
    masked = [np.stack([h[i, m[i]].mean(0) for i in range(len(SENTS))]) for h in hs]
    want = np.array([[_linear_cka(a, b) for b in masked] for a in masked])
    code, out, err = run_cli("compare", text_store.path, "--metric", "linear_cka", "--json", "--quiet")
    assert code == 0, err
    assert "warning" not in err
    res = json.loads(out)
    np.testing.assert_allclose(np.asarray(res["results"][0]["values"], dtype=float), want, rtol=1e-4)
    assert "real time steps / tokens" in res["notes"][0]
    api = rs.metrics.layer_matrix(text_store, metric="linear_cka")
    np.testing.assert_allclose(api.values, want, rtol=1e-4)
    T = m.shape[1]
    with pytest.warns(UserWarning, match="padding positions included"):
        flat = rs.metrics.layer_matrix(text_store, metric="linear_cka", tokens="flatten")
    np.testing.assert_allclose(flat.values[0, 2], _linear_cka(hs[0].reshape(len(SENTS), -1),
                                                               hs[2].reshape(len(SENTS), -1)), rtol=1e-4)
    old = _forget_lengths(text_store.path, tmp_path / "old.zarr")
    code, out, err = run_cli("compare", old.path, "--metric", "linear_cka", "--json", "--quiet")
    assert code == 0, err
    assert [x for x in err.splitlines() if x.startswith("repscope: warning:") and "padding" in x]
    assert f"over all {T} positions" in json.loads(out)["notes"][0]
    with pytest.warns(UserWarning, match="no per-sample length"):
        rs.metrics.layer_matrix(old, metric="linear_cka")


def test_every_lens_reads_real_tokens_only(text_store, reference):
    from repscope.descramble.core import second_moment_from_store
    from repscope.dynamics.entry import _trials
    from repscope.ranges.analysis import read_layer as _read
    from repscope.topology.clouds import store_cloud

    m, n, h1 = reference["mask"], reference["n"], reference["hs"][2]
    rows = np.arange(len(SENTS))
    masked1 = np.stack([h1[i, m[i]].mean(0) for i in rows])
    # ranges and topology: the mean over real tokens
    np.testing.assert_allclose(_read(text_store, "encoder.layer.1"), masked1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(store_cloud(text_store, "encoder.layer.1", "avg_pool"), masked1, rtol=1e-4,
                               atol=1e-5)
    top = np.stack([h1[i, :k][np.argmax((h1[i, :k] ** 2).sum(1))] for i, k in enumerate(n)])
    np.testing.assert_allclose(store_cloud(text_store, "encoder.layer.1", "top_l2"), top, rtol=1e-4, atol=1e-5)
    # dynamics: one trajectory per sample, cut at its real length
    trials = _trials(text_store, "encoder.layer.1", rows)
    assert [t.shape[0] for t in trials] == list(n)
    np.testing.assert_allclose(trials[3], h1[3, : n[3]], rtol=1e-4, atol=1e-5)
    # descrambling: the real steps are the samples, the 32 features the units
    A, k, _ = second_moment_from_store(text_store, "encoder.layer.1")
    S = np.concatenate([h1[i, m[i]] for i in rows])
    assert k == int(n.sum()) and A.shape == (32, 32)
    np.testing.assert_allclose(A, S.T @ S / len(S), rtol=1e-4, atol=1e-6)


def test_lens_notes_say_real_tokens_or_warn(text_store, tmp_path):
    from repscope.dynamics.entry import analyse as dynamics
    from repscope.topology.entry import analyse as topology

    d = dynamics(text_store, n_components=4, max_trials=12, progress=False)
    assert any("trajectories cut at each sample's real length" in x for x in d.notes)
    t = topology(text_store, n_samples=12, progress=False)
    assert any("real time steps / tokens" in x for x in t.notes)
    old = _forget_lengths(text_store.path, tmp_path / "old.zarr")
    d = dynamics(old, n_components=4, max_trials=12, progress=False)
    assert any(x.startswith("warning: sequence layers") and "trajectories over all" in x for x in d.notes)
    t = topology(old, n_samples=12, progress=False)
    assert any(x.startswith("warning: sequence layers") for x in t.notes)
    assert not any("real" in x.split(":")[1] for x in t.notes if x.startswith("warning: sequence"))


def test_cli_warns_on_a_padded_store_without_lengths(text_store, tmp_path, run_cli):
    code, _, err = run_cli("report", text_store.path, "--sections", "capture,similarity", "--out",
                        tmp_path / "r1", "--quiet")
    assert code == 0, err
    assert "warning" not in err
    old = _forget_lengths(text_store.path, tmp_path / "old.zarr")
    code, _, err = run_cli("report", old.path, "--sections", "capture,similarity", "--out", tmp_path / "r2",
                        "--quiet")
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("repscope: warning:")]
    assert len(lines) == 1 and "no per-sample length" in lines[0] and "padding" in lines[0]
    data = json.loads((tmp_path / "r2" / "results.json").read_text())
    assert "warning: sequence layers" in json.dumps(data)  # the similarity section carries it too


def test_api_capture_of_masked_batches_stores_n_tokens_and_checks_it(tmp_path, tiny_bert_model):
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([7, 5, 3, 7, 2, 6])
    mask = (torch.arange(7)[None] < lengths[:, None]).long()
    ids = torch.randint(5, 19, (6, 7), generator=g) * mask
    batches = [{"input_ids": ids[:3], "attention_mask": mask[:3]}, {"input_ids": ids[3:], "attention_mask": mask[3:]}]
    s = rs.capture(tiny_bert_model, batches, ["encoder.layer.0"], tmp_path / "a.zarr", progress=False)
    np.testing.assert_array_equal(s.attributes["n_tokens"], lengths.numpy())
    # pooled layers need no counts, but they are kept (cheap, and a lens may read n_tokens as an attribute)
    s = rs.capture(tiny_bert_model, batches, ["encoder.layer.0"], tmp_path / "b.zarr", pool="token_mean",
                   progress=False)
    np.testing.assert_array_equal(s.attributes["n_tokens"], lengths.numpy())
    # an n_tokens attribute that contradicts the mask is refused
    with pytest.raises(InputError, match="attribute 'n_tokens' disagrees with the attention_mask"):
        rs.capture(tiny_bert_model, batches, ["encoder.layer.0"], tmp_path / "c.zarr", progress=False,
                   attributes={"n_tokens": lengths.numpy() + 1})
    # left padding: a count cannot say which positions are real when tokens are stored one by one
    left = mask.flip(1)
    lb = [{"input_ids": ids.flip(1)[:3], "attention_mask": left[:3]},
          {"input_ids": ids.flip(1)[3:], "attention_mask": left[3:]}]
    with pytest.raises(InputError, match=r"does not mark each sample's real tokens as a prefix.*padding_side='right'"):
        rs.capture(tiny_bert_model, lb, ["encoder.layer.0"], tmp_path / "d.zarr", progress=False)
    s = rs.capture(tiny_bert_model, lb, ["encoder.layer.0"], tmp_path / "e.zarr", pool="token_mean", progress=False)
    np.testing.assert_array_equal(s.attributes["n_tokens"], lengths.numpy())


def test_fixed_length_sequences_get_a_plain_note_not_a_padding_warning(tmp_path):
    from repscope.metrics.entry import analyse

    torch.manual_seed(0)
    net = torch.nn.LSTM(3, 8, batch_first=True)
    X = torch.randn(20, 6, 3)
    s = rs.capture(torch.nn.Sequential(net), X, ["0"], tmp_path / "l.zarr", progress=False)
    s2 = rs.capture(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.LSTM(5, 4, batch_first=True)), X, ["0", "1"],
                    tmp_path / "m.zarr", progress=False)
    assert not lens.may_be_padded(s) and lens.caveats(s) == [] and lens.caveats(s2) == []
    a = analyse(s2, metrics=["linear_cka"], labels_rsa=False, progress=False)
    note = next(n for n in a.notes if n.startswith("sequence layers"))
    assert "over all 6 positions" in note and "every step counts as real" in note


@pytest.fixture(scope="module")
def tiny_bert_model():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=20, max_position_embeddings=16)).eval()


def test_streamed_dask_job_refuses_padded_sequences(text_store):
    """The Dask-streamed linear job reads stored values as they are: on padded token sequences it refuses and
    names the in-process call that reads real tokens (never a number with padding counted as data)."""
    from repscope.errors import InputError
    from repscope.scale import streamed_layer_matrix

    with pytest.raises(InputError, match=r"padded token sequences.*layer_matrix"):
        streamed_layer_matrix(text_store, metric="linear_cka")
