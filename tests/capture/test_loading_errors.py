"""Whole errors when a user's model or weights do not fit (issue 21): every missing, unexpected and
size-mismatched key is named (first 10 + the count) with the fix, a whole pickled model given as --model says
what to give instead — on a file-defined residual CNN the demo never uses, through the API and the CLI."""

from __future__ import annotations

import textwrap

import pytest
import torch

from repscope.capture.loading import check_state_dict, load_model_spec
from repscope.errors import InputError
from test_cli_hardening import cli, one_error_line  # tests/ is on the path (its conftest.py)

MODEL_PY = textwrap.dedent("""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))

    class TinyResNet(nn.Module):
        def __init__(self, width=8, n_blocks=1, n_out=4):
            super().__init__()
            self.stem = nn.Conv2d(1, width, 3, padding=1)
            self.blocks = nn.Sequential(*[Block(width) for _ in range(n_blocks)])
            self.head = nn.Linear(width, n_out)

        def forward(self, x):
            return self.head(self.blocks(torch.relu(self.stem(x))).mean(dim=(2, 3)))

    def build():
        return TinyResNet()

    def build_deep():
        return TinyResNet(n_blocks=7)
""")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("usermodel")
    (d / "net.py").write_text(MODEL_PY)
    return d


def _load(model_dir, factory):
    return load_model_spec(f"{model_dir / 'net.py'}:{factory}")


def test_mismatched_state_dict_names_every_missing_unexpected_and_resized_key(model_dir, tmp_path):
    deep = _load(model_dir, "build_deep")  # 7 blocks: 28 block keys, 24 of them not in the 1-block model
    sd = deep.state_dict()
    sd["head.weight"] = torch.zeros(10, 8)  # a 10-class head where the model has 4 classes
    del sd["stem.bias"]
    torch.save(sd, tmp_path / "deep.pt")
    with pytest.raises(InputError) as err:
        load_model_spec(f"{model_dir / 'net.py'}:build", tmp_path / "deep.pt")
    msg = str(err.value)
    assert "do not fit the model TinyResNet" in msg
    assert "1 missing key(s) (in the model, not in the file): stem.bias" in msg
    extra = [k for k in sd if not k.startswith(("blocks.0.", "stem", "head"))]
    assert len(extra) == 24
    assert f"24 unexpected key(s) (in the file, not in the model): {', '.join(extra[:10])} (+14 more)" in msg
    assert "1 size mismatch(es): head.weight file (10, 8) vs model (4, 8)" in msg
    assert "torch.save(model.state_dict(), path)" in msg
    # torch itself would have said only "Error(s) in loading state_dict for TinyResNet:" on its first line
    with pytest.raises(RuntimeError, match="Error"):
        _load(model_dir, "build").load_state_dict(sd)


def test_a_fitting_state_dict_passes_and_loads_exactly(model_dir, tmp_path):
    src = _load(model_dir, "build")
    torch.save(src.state_dict(), tmp_path / "ok.pt")
    check_state_dict(src, src.state_dict())
    torch.manual_seed(123)  # a different init: the loaded weights must be the saved ones
    net = load_model_spec(f"{model_dir / 'net.py'}:build", tmp_path / "ok.pt")
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v)


def test_dataparallel_and_checkpoint_files_get_their_own_fix(model_dir):
    net = _load(model_dir, "build")
    wrapped = {f"module.{k}": v for k, v in net.state_dict().items()}
    with pytest.raises(InputError, match=r"starts with 'module\.'.*model\.module\.state_dict\(\)"):
        check_state_dict(net, wrapped)
    ckpt = {"model": net.state_dict(), "epoch": 3}
    with pytest.raises(InputError, match=r"training checkpoint.*ckpt\['model'\]"):
        check_state_dict(net, ckpt)


def test_cli_state_dict_mismatch_is_one_whole_line(model_dir, tmp_path):
    deep = _load(model_dir, "build_deep")
    torch.save(deep.state_dict(), tmp_path / "deep.pt")
    line = one_error_line(cli("capture", "--model", f"{model_dir / 'net.py'}:build", "--weights",
                              tmp_path / "deep.pt", "--out", tmp_path / "s.zarr"))
    assert "do not fit the model TinyResNet: 24 unexpected key(s)" in line
    assert "(+14 more)" in line and "--model" in line
    assert not (tmp_path / "s.zarr").exists()


def test_cli_whole_pickled_model_says_factory_plus_state_dict(model_dir, tmp_path):
    net = _load(model_dir, "build")
    torch.save(net, tmp_path / "whole_model.pt")  # the whole pickled module
    line = one_error_line(cli("capture", "--model", tmp_path / "whole_model.pt", "--out", tmp_path / "s.zarr"))
    assert "is a weights or pickle file, not a model definition" in line
    assert "--model file.py:factory" in line and "--weights state_dict.pt" in line
    # and the same file given as --weights: refused (never unpickled), with the same fix
    line = one_error_line(cli("capture", "--model", f"{model_dir / 'net.py'}:build", "--weights",
                              tmp_path / "whole_model.pt", "--out", tmp_path / "s.zarr"))
    assert "refuses for safety" in line and "--model file.py:factory --weights state_dict.pt" in line


def test_a_factory_that_raises_is_not_reported_as_needing_arguments(tmp_path):
    (tmp_path / "bad.py").write_text("import torch\n\ndef build():\n    return torch.eye(4, 6, 1)\n\n"
                                     "def build_with(width):\n    return torch.nn.Linear(width, 2)\n")
    with pytest.raises(InputError) as err:
        load_model_spec(f"{tmp_path / 'bad.py'}:build")
    assert "build() raised TypeError: eye() received an invalid combination of arguments" in str(err.value)
    assert "needs arguments" not in str(err.value)
    with pytest.raises(InputError, match=r"build_with\(\) needs arguments .*width"):
        load_model_spec(f"{tmp_path / 'bad.py'}:build_with")
