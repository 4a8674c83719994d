"""Small synthetic graphs and accelerators for unit tests (no files needed)."""

from __future__ import annotations

import random

from monet_opt.hardware.model import Accelerator, Core, Link, Memory, OperationalArray, Port
from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole


def memory(name: str, size_bits: float, bw: float, cost: float, operands: str) -> Memory:
    return Memory(
        name=name,
        size_bits=size_bits,
        r_bw=bw,
        w_bw=bw,
        r_cost=cost,
        w_cost=cost,
        operands=frozenset(operands.split(",")),
        ports=(Port("rw", "read_write", bw, bw, ()),),
    )


def compute_core(
    cid: int,
    d1: int = 8,
    d2: int = 8,
    pj_mac: float = 0.1,
    sram_bw: float = 256,
    dataflow: dict | None = None,
    operator_types: frozenset[str] | None = None,
    sram_bits: float = 256 * 1024 * 8,
    split: bool = False,
) -> Core:
    """A compute core with a register and one SRAM (``split``: separate activation and
    weight SRAMs of ``sram_bits`` each, as a TPU-like core)."""
    srams = (
        (
            memory("sram_a", sram_bits, sram_bw, 10.0 * sram_bw / 64, "I1,O"),
            memory("sram_w", sram_bits, sram_bw, 10.0 * sram_bw / 64, "I2"),
        )
        if split
        else (memory("sram", sram_bits, sram_bw, 10.0 * sram_bw / 64, "I1,I2,O"),)
    )
    return Core(
        id=cid,
        name=f"core{cid}",
        kind="compute",
        array=OperationalArray(pj_mac, ("D1", "D2"), (d1, d2)),
        memories=(memory("reg", 64 * 8, 16, 0.05, "I2"), *srams),
        dataflows=dataflow,
        operator_types=operator_types,
    )


def dram_core(cid: int, bw: float = 64) -> Core:
    return Core(
        id=cid,
        name="dram",
        kind="offchip",
        array=OperationalArray(0.0, ("D1",), (0,)),
        memories=(memory("dram", 8e9, bw, 100.0 * bw / 64, "I1,I2,O"),),
    )


def accelerator(
    n: int = 3,
    seed: int = 0,
    hetero: bool = True,
    dram_bw: float = 64,
    sram_bits: float = 256 * 1024 * 8,
    split: bool = False,
) -> Accelerator:
    """``n`` compute cores (heterogeneous arrays when ``hetero``), a ring of links,
    a DRAM core on a bus; ``sram_bits`` / ``split`` size the cores' SRAMs."""
    rng = random.Random(seed)
    cores = []
    for c in range(n):
        if hetero:
            d1, d2 = rng.choice([(8, 8), (16, 4), (4, 16), (16, 16)])
        else:
            d1, d2 = 8, 8
        pj = rng.choice([0.05, 0.1, 0.2]) if hetero else 0.1
        cores.append(compute_core(c, d1, d2, pj_mac=pj, sram_bits=sram_bits, split=split))
    cores.append(dram_core(n, dram_bw))
    links = [
        Link((c, (c + 1) % n), "link", float(rng.choice([16, 32, 64]) if hetero else 32), 0.01)
        for c in range(n)
        if n > 1 and (n > 2 or c == 0)
    ]
    links.append(Link(tuple(range(n + 1)), "bus", dram_bw, 0.0))
    return Accelerator(name=f"test{n}", cores=tuple(cores), links=tuple(links), offchip_core_id=n)


def random_graph(seed: int, n_ops: int = 6, batch: int = 1) -> Graph:
    """A random forward+backward-like DAG of GEMMs with weights, some fan-in/out."""
    rng = random.Random(seed)
    tensors: dict[str, Tensor] = {}
    ops: list[Op] = []
    tensors["x"] = Tensor("x", (batch, 16), 8, TensorRole.INPUT)
    avail = [("x", 16)]
    for k in range(n_ops):
        src, cin = rng.choice(avail[-3:])
        cout = rng.choice([8, 16, 32, 64])
        w = f"w{k}"
        tensors[w] = Tensor(w, (cin, cout), 8, TensorRole.WEIGHT)
        y = f"y{k}"
        tensors[y] = Tensor(y, (batch, rng.choice([4, 16, 64]), cout), 8, TensorRole.ACTIVATION)
        d = tensors[y].shape[1]
        ops.append(
            Op(
                name=f"gemm{k}",
                op_type="MatMul",
                kind=OpKind.GEMM,
                phase=Phase.FORWARD if k < n_ops // 2 else Phase.BACKWARD,
                loop_dims={"B": batch, "D": d, "C": cin, "K": cout},
                inputs=(src, w),
                outputs=(y,),
                macs=batch * d * cin * cout,
            )
        )
        avail.append((y, cout))
    return Graph("random", tuple(ops), tensors, checkpoint_candidates=frozenset({"y0"}))


def _sram_dict(name: str, size_bits: float, bw: float, r_pj: float, w_pj: float) -> dict:
    return {
        "name": name,
        "size_bits": size_bits,
        "read_bw_bits_per_cycle": bw,
        "write_bw_bits_per_cycle": bw,
        "read_pj_per_word": r_pj,
        "write_pj_per_word": w_pj,
        "operands": ["I1", "I2", "O"],
    }


def accelerator_dict(
    name: str,
    macs: tuple[tuple[int, float], ...] = ((16, 0.5), (8, 0.2)),
    mac_sram_bits: float = 256 * 1024 * 8,
    link_bw: float = 64,
    link_pj_per_bit: float = 0.0,
) -> dict:
    """Our YAML schema as a dict: square MAC cores ``(side, pJ/MAC)``, a SIMD core
    (also running pooling), a DRAM core; a link triangle among them and a DRAM bus."""
    n = len(macs)
    cores: list[dict] = [
        {
            "id": i,
            "name": f"mac{i}",
            "array": {"dimensions": ["D1", "D2"], "sizes": [s, s], "unit_energy_pj": e},
            "memories": [_sram_dict("sram", mac_sram_bits, 128, 4.0, 5.0)],
        }
        for i, (s, e) in enumerate(macs)
    ]
    cores.append(
        {
            "id": n,
            "name": "simd",
            "operator_types": ["elementwise", "norm", "loss", "optimizer", "pool"],
            "array": {"dimensions": ["D1"], "sizes": [16], "unit_energy_pj": 0.1},
            "memories": [_sram_dict("sram", 256 * 1024 * 8, 128, 4.0, 5.0)],
        }
    )
    cores.append(
        {
            "id": n + 1,
            "name": "dram",
            "kind": "offchip",
            "memories": [_sram_dict("dram", 2**33, 64, 600.0, 600.0)],
        }
    )
    link = {"bandwidth_bits_per_cycle": link_bw, "energy_pj_per_bit": link_pj_per_bit}
    links = [
        {"kind": "link", "cores": [a, b], **link} for a in range(n + 1) for b in range(a + 1, n + 1)
    ]
    links.append({"kind": "bus", "cores": list(range(n + 2)), "bandwidth_bits_per_cycle": 64})
    return {
        "format": "monet-opt/accelerator@1",
        "name": name,
        "offchip_core_id": n + 1,
        "cores": cores,
        "links": links,
    }


def random_forward_graph(seed: int) -> Graph:
    """A random small forward DAG: a Gemm chain with occasional residual Add and Relu."""
    rng = random.Random(seed)
    from monet_opt.models.builder import GraphBuilder

    b = GraphBuilder(f"rand{seed}")
    d = rng.choice([8, 16, 32])
    avail = [(b.input("x", (rng.choice([1, 2, 4]), d)), d)]
    for k in range(rng.randint(2, 6)):
        x, d = avail[-1]
        dout = rng.choice([8, 16, 32])
        y = b.gemm(f"fc{k}", x, b.weight(f"w{k}", (d, dout)))
        same = [t for t, dd in avail[-3:-1] if dd == dout]
        if same and rng.random() < 0.5:
            y = b.elementwise(f"add{k}", "Add", (y, rng.choice(same)))
        if rng.random() < 0.5:
            y = b.elementwise(f"relu{k}", "Relu", (y,))
        avail.append((y, dout))
    return b.build()
