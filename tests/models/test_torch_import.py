"""PyTorch import (optional extra ``torch``): torch.export -> ONNX -> our IR."""

from __future__ import annotations

import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from monet_opt.models import derive_training_graph, from_torch
from monet_opt.models.torch_import import (
    INSTALL_HINT,
    TorchImportError,
    check_torch_options,
    load_torch_spec,
)


def test_missing_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(ImportError, match=r'pip install "monet-opt\[torch\]"'):
        from_torch(object(), ())
    with pytest.raises(ImportError, match="monet-opt"):
        load_torch_spec("pkg.mod:factory", {})
    assert INSTALL_HINT == 'pip install "monet-opt[torch]"'


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown option 'bacth'; allowed options: args"):
        check_torch_options({"bacth": 2})


TORCH_REASON = 'PyTorch is the optional extra "torch" (pip install "monet-opt[torch]")'


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    """``torch``, or skip: the tests below need the optional extra."""
    mod = pytest.importorskip("torch", reason=TORCH_REASON)
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    return mod


B, C_IN, HW, C1, C2, CLASSES = 2, 3, 16, 8, 16, 10
D, HEADS, FF, T = 32, 4, 64, 8


def small_cnn(torch: ModuleType) -> Any:
    """Conv-BN-ReLU-MaxPool, Conv-BN-ReLU, global average pool, Linear."""
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(C_IN, C1, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(C1)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(C1, C2, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(C2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(C2, CLASSES)

        def forward(self, x: Any) -> Any:
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = torch.relu(self.bn2(self.conv2(x)))
            return self.fc(torch.flatten(self.gap(x), 1))

    return SmallCNN()


def block(torch: ModuleType) -> Any:
    """Pre-LN transformer block: multi-head self-attention and a GELU MLP."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(D, FF), nn.Linear(FF, D)

        def forward(self, x: Any) -> Any:
            b, t, _ = x.shape
            y = self.ln1(x)

            def heads(z: Any) -> Any:
                return z.reshape(b, t, HEADS, D // HEADS).transpose(1, 2)

            q, k, v = heads(self.q(y)), heads(self.k(y)), heads(self.v(y))
            att = torch.softmax(q @ k.transpose(-1, -2) / (D // HEADS) ** 0.5, dim=-1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, D))
            return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))

    return Block()


def cnn_macs(batch: int) -> int:
    conv1 = batch * C1 * HW * HW * C_IN * 9
    conv2 = batch * C2 * (HW // 2) ** 2 * C1 * 9
    return conv1 + conv2 + batch * C2 * CLASSES


def block_macs(batch: int, seq: int) -> int:
    proj = 4 * batch * seq * D * D
    attention = 2 * batch * HEADS * seq * seq * (D // HEADS)
    return proj + attention + 2 * batch * seq * D * FF


def test_cnn_macs_and_training_graph(torch: ModuleType) -> None:
    module = small_cnn(torch)
    g = from_torch(module, torch.randn(B, C_IN, HW, HW), precision=8)
    assert module.training  # the mode is restored after the export
    assert g.name == "SmallCNN"
    assert g.total_macs() == cnn_macs(B)
    types = Counter(op.op_type for op in g.ops)
    assert types["Conv"] == 2 and types["BatchNormalization"] == 2  # BN is kept
    assert {t.precision for t in g.tensors.values()} == {8}
    train = derive_training_graph(g, optimizer="sgd")
    assert len(train) > 2 * len(g)
    assert train.total_macs() > 2 * g.total_macs()  # dX and dW of every MAC op


def test_cnn_batch_override_and_folded_batchnorm(torch: ModuleType) -> None:
    g = from_torch(small_cnn(torch), (torch.randn(B, C_IN, HW, HW),), batch=4, fold_batchnorm=True)
    assert g.total_macs() == cnn_macs(4)
    assert "BatchNormalization" not in {op.op_type for op in g.ops}


def test_transformer_block_macs_and_training_graph(torch: ModuleType) -> None:
    g = from_torch(block(torch), {"x": torch.randn(1, 4, D)}, batch=B, seq=T, name="block")
    assert g.name == "block"
    assert g.total_macs() == block_macs(B, T)
    types = Counter(op.op_type for op in g.ops)
    assert types["LayerNormalization"] == 2 and types["Softmax"] == 1
    train = derive_training_graph(g, optimizer="adamw")
    assert train.total_macs() > 2 * g.total_macs()


MODELS_PY = textwrap.dedent(
    """
    import torch

    def cnn(width=8):
        conv = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, bias=False), torch.nn.ReLU(), torch.nn.Flatten()
        )
        return conv, (torch.randn(1, 3, 6, 6),)

    def bare():
        return torch.nn.Linear(4, 5)

    def wrong():
        return 42
    """
)


@pytest.fixture()
def models_dir(torch: ModuleType, tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "torch_spec_models.py").write_text(MODELS_PY)
    yield tmp_path
    sys.modules.pop("torch_spec_models", None)


def test_spec_factory_with_example_inputs(models_dir: Path) -> None:
    g = load_torch_spec(
        "torch_spec_models:cnn", {"args": {"width": 4}, "batch": 2}, search_path=models_dir
    )
    assert g.name == "cnn"
    assert g.total_macs() == 2 * 4 * 4 * 4 * 3 * 9
    assert str(models_dir.resolve()) not in sys.path


def test_spec_factory_returning_a_module(models_dir: Path) -> None:
    g = load_torch_spec(
        "torch_spec_models:bare", {"input_shape": [3, 4], "precision": 8}, search_path=models_dir
    )
    assert g.total_macs() == 3 * 4 * 5
    with pytest.raises(TorchImportError, match="input_shape"):
        load_torch_spec("torch_spec_models:bare", {}, search_path=models_dir)


def test_spec_errors(torch: ModuleType, models_dir: Path) -> None:
    with pytest.raises(TorchImportError, match="expected 'package.module:factory'"):
        load_torch_spec("no_colon", {})
    with pytest.raises(TorchImportError, match="cannot import"):
        load_torch_spec("no_such_module_xyz:f", {})
    with pytest.raises(TorchImportError, match="has no attribute 'nope'"):
        load_torch_spec("torch_spec_models:nope", {}, search_path=models_dir)
    with pytest.raises(TorchImportError, match="got int"):
        load_torch_spec("torch_spec_models:wrong", {}, search_path=models_dir)
    with pytest.raises(ValueError, match="input_dtype"):
        load_torch_spec("torch_spec_models:bare", {"input_dtype": "f16"}, search_path=models_dir)
    with pytest.raises(ValueError, match="batch must be a positive int"):
        from_torch(torch.nn.Linear(2, 2), torch.randn(1, 2), batch=0)
    with pytest.raises(TypeError, match="example_inputs"):
        from_torch(torch.nn.Linear(2, 2), 3.0)
