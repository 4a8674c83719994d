"""Condensed storage sizes of sparse layers, by hand (monet_opt.models.sparsity)."""

from __future__ import annotations

import pytest

from monet_opt.models import derive_training_graph
from monet_opt.models.ir import SparseStorage, TensorRole
from monet_opt.models.sparsity import (
    SparsitySpec,
    apply_sparsity,
    eligible_layers,
    resolve_layers,
    sparse_info,
)
from monet_opt.models.zoo import mlp

CFI = SparsitySpec("constant_fan_in", 0.1)


def _train(sizes=(3072, 768, 10), batch=1):
    return derive_training_graph(mlp(batch=batch, sizes=sizes), optimizer="adamw")


def test_condensed_sizes_of_srigl_layer_by_hand():
    # 3072 -> 768 at 90 %: fan-in round(0.1 * 3072) = 307 per neuron, nnz = 307 * 768.
    g = apply_sparsity(_train(), {"fc0": CFI})
    nnz = 307 * 768
    w = g.tensors["fc0.weight"]
    assert w.sparse == SparseStorage(nnz, 32, 0)
    assert w.numel == 3072 * 768 and w.shape == (3072, 768)  # logical shape kept
    assert w.bits == nnz * (16 + 32)  # fp16 values + int32 index
    assert g.tensors["fc0.weight.next"].bits == w.bits
    # gradient and Adam state: values only, aligned with W's index array
    assert g.tensors["d[fc0.weight]@fc0.dW"].bits == nnz * 16
    for st in ("adam_m", "adam_v", "master", "adam_m.next", "master.next"):
        assert g.tensors[f"fc0.weight.{st}"].bits == nnz * 32
    # the optimizer updates the stored values only
    opt = g.ops[g.op_index["fc0.weight.adamw"]]
    assert opt.loop_dims["E"] == nnz and opt.macs == 17 * nnz
    # dense layers untouched
    assert g.tensors["fc1.weight"].sparse is None
    assert g.tensors["fc1.weight"].bits == 768 * 10 * 16
    # byte ratio at 90 %: 16 / (0.1 * 48) = 3.33x for fp16 + int32
    assert 3072 * 768 * 16 / w.bits == pytest.approx(3.33, abs=0.01)


def test_ops_carry_info_and_dense_gradient_share():
    g = apply_sparsity(_train((64, 32, 16, 4)), {"fc1": CFI}, dense_grad_fraction=0.01)
    fwd, dx, dw = (g.ops[g.op_index[n]] for n in ("fc1", "fc1.dX", "fc1.dW"))
    i_f, i_x, i_w = sparse_info(fwd), sparse_info(dx), sparse_info(dw)
    assert (i_f.role, i_f.fan_in_dim, i_f.neuron_dim, i_f.gathered) == ("forward", "C", "K", "I1")
    assert (i_x.role, i_x.fan_in_dim, i_x.neuron_dim, i_x.gathered) == ("dX", "K", "C", "O")
    assert (i_w.role, i_w.fan_in_dim, i_w.neuron_dim) == ("dW", "D", "K")
    f = round(0.1 * 32) / 32  # fan-in 32 -> 3 kept
    assert i_f.fan_in_fraction == pytest.approx(f)
    assert i_w.fan_in_fraction == pytest.approx(0.01 + 0.99 * f)  # amortized dense dW
    assert fwd.macs == 1 * 32 * 16  # Op.macs stays the dense count
    assert sparse_info(g.ops[g.op_index["fc0"]]) is None


def test_ablation_n_m_and_csr_counts():
    g = mlp(batch=1, sizes=(10, 8, 4))  # fc0: fan-in 10, 8 neurons
    # ablated 25 %: 6 live neurons keep round(0.3 * 80 / 6) = 4 each -> 24 values
    s = SparsitySpec("constant_fan_in", 0.3, ablated=0.25, index_bits=16)
    w = apply_sparsity(g, {"fc0": s}).tensors["fc0.weight"]
    assert w.sparse == SparseStorage(24, 16, 0) and w.bits == 24 * (16 + 16)
    info = sparse_info(apply_sparsity(g, {"fc0": s}).ops[0])
    assert info.neuron_fraction == pytest.approx(6 / 8)
    # 2:4 on fan-in 10: 2 * 2 + min(2, 10 mod 4) = 6 per neuron; hardware metadata 2 bits
    w = apply_sparsity(g, {"fc0": SparsitySpec.n_m_spec(2, 4)}).tensors["fc0.weight"]
    assert w.sparse == SparseStorage(48, 2, 0) and w.bits == 48 * (16 + 2)
    # CSR at 10 %: 8 values, int32 column index, 9 row pointers of 32 bits
    w = apply_sparsity(g, {"fc0": SparsitySpec("unstructured", 0.1)}).tensors["fc0.weight"]
    assert w.sparse == SparseStorage(8, 32, 9 * 32) and w.bits == 8 * 48 + 288


def test_resolve_default_overrides_and_errors():
    g = _train((16, 16, 16, 4))
    assert eligible_layers(g) == ("fc0", "fc1", "fc2")
    nm = SparsitySpec.n_m_spec(2, 4)
    got = resolve_layers(g, CFI, [("fc2", None), ("fc*", nm), ("fc1", CFI)])
    assert got == {"fc0": nm, "fc1": CFI}  # exact name beats the glob, dense removes
    with pytest.raises(KeyError, match="matches no layer"):
        resolve_layers(g, CFI, [("conv*", CFI)])
    with pytest.raises(KeyError, match=r"'act0' \(Relu\) cannot be sparse"):
        resolve_layers(g, None, [("act0", CFI)])


def test_spec_validation():
    with pytest.raises(ValueError, match="kind"):
        SparsitySpec("block", 0.5)
    with pytest.raises(ValueError, match="density"):
        SparsitySpec("constant_fan_in", 0.0)
    with pytest.raises(ValueError, match="ablated"):
        SparsitySpec("unstructured", 0.5, ablated=0.1)
    assert SparsitySpec.n_m_spec(1, 8).bits_per_index == 3
    assert all(
        t.role != TensorRole.WEIGHT or t.sparse is None for t in _train((8, 4)).tensors.values()
    )
