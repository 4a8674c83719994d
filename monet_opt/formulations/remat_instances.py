"""Rematerialization instances: training chains and random training DAGs.

Generators of the abstract data taken by
:func:`~monet_opt.formulations.remat_multilevel.solve_remat` and
:func:`~monet_opt.formulations.checkmate.solve_checkmate`: ``(cost, mem, preds)``, nodes
in topological order (forward, then backward), ``preds[i]`` the indices ``< i`` of the
nodes whose outputs node ``i`` reads.  Used by the tests and the benchmarks; like the
random graph generators of networkx, each random generator takes a ``seed`` (an integer,
a :class:`random.Random` instance, which is advanced, or ``None``) and draws the same
instance for the same seed.

* :func:`training_chain`: a homogeneous training chain (each backward step reads its
  forward output, as after a ReLU);
* :func:`random_training_dag`: a random forward DAG and its mirrored backward pass;
* :func:`random_chain`: a random chain instance of
  :func:`~monet_opt.formulations.remat_chain.chain_spec` (method 1's class);
* :func:`random_block_chain`: a random chain of residual blocks for
  :func:`~monet_opt.formulations.remat_blocks.make_blocks` (method 3's class).

Revolve's chain is :func:`~monet_opt.formulations.remat_chain.revolve_chain`.
"""

from __future__ import annotations

import random

__all__ = [
    "RematInstance",
    "random_block_chain",
    "random_chain",
    "random_training_dag",
    "training_chain",
]

#: ``(cost, mem, preds)``: compute cost and output size per node, predecessor lists.
RematInstance = tuple[list[float], list[float], list[list[int]]]


def _rng(seed: int | random.Random | None) -> random.Random:
    """``seed`` itself if it is a :class:`random.Random`, else ``random.Random(seed)``."""
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def training_chain(depth: int) -> RematInstance:
    """Return a homogeneous training chain of ``depth`` layers.

    Forward chain :math:`f_1 \\to \\dots \\to f_L` (cost 1), then :math:`b_L, \\dots,
    b_1` (cost 0); every output has size 1.  :math:`b_i` reads :math:`f_{i-1}`
    (:math:`i > 1`), :math:`f_i` and :math:`b_{i+1}` (:math:`i < L`).

    Parameters
    ----------
    depth
        :math:`L`, the number of layers (``2 * depth`` nodes).

    Returns
    -------
    RematInstance
        ``(cost, mem, preds)``; :math:`f_i` is node ``i - 1``, :math:`b_i` node
        ``2 L - i``.
    """
    n_f = depth
    preds: list[list[int]] = [[i - 1] if i else [] for i in range(n_f)]
    for i in range(n_f, 0, -1):  # b_i has index 2L - i; f_i has index i - 1
        p = [i - 2] if i > 1 else []
        p.append(i - 1)
        if i < n_f:
            p.append(2 * n_f - (i + 1))
        preds.append(sorted(p))
    return [1.0] * n_f + [0.0] * n_f, [1.0] * (2 * n_f), preds


def random_training_dag(n_fwd: int = 5, seed: int | random.Random | None = None) -> RematInstance:
    """Return a random forward DAG and its mirrored backward pass (``2 * n_fwd`` nodes).

    Forward node :math:`j` reads :math:`j - 1` and each earlier node with probability
    0.3.  The gradient of forward node :math:`j` (index ``2 n_fwd - 1 - j``) reads
    :math:`j`, the inputs of :math:`j` and the gradients of the readers of :math:`j`.
    Forward costs are uniform in 1..5, backward costs in 1..9, sizes in 1..4.

    Parameters
    ----------
    n_fwd
        Number of forward nodes.
    seed
        Indicator of the random number generation state (see the module docstring).

    Returns
    -------
    RematInstance
        ``(cost, mem, preds)``.
    """
    rng = _rng(seed)
    fwd: list[list[int]] = [[]]
    for j in range(1, n_fwd):
        extra = [i for i in range(j - 1) if rng.random() < 0.3]
        fwd.append(sorted({j - 1, *extra}))
    users: list[list[int]] = [[] for _ in range(n_fwd)]
    for j, ps in enumerate(fwd):
        for i in ps:
            users[i].append(j)
    preds = [list(p) for p in fwd]
    for j in range(n_fwd - 1, -1, -1):  # gradient of f_j has index 2 n_fwd - 1 - j
        grads = [2 * n_fwd - 1 - u for u in users[j]]
        preds.append(sorted({j, *fwd[j], *grads}))
    cost = [float(rng.randint(1, 5)) for _ in range(n_fwd)]
    cost += [float(rng.randint(1, 9)) for _ in range(n_fwd)]
    mem = [float(rng.randint(1, 4)) for _ in range(2 * n_fwd)]
    return cost, mem, preds


def random_chain(uniform: bool = False, seed: int | random.Random | None = None) -> RematInstance:
    """Return a random chain instance (:func:`~monet_opt.formulations.remat_chain.chain_spec`).

    :math:`l` uniform in 1..6 backward steps, :math:`n_f \\in \\{l-1, l\\}` forward
    nodes, each :math:`o_i` (the backward of step :math:`i` reads :math:`f_i`) with
    probability 1/2 (:math:`o_l` if :math:`n_f = l`), costs uniform in 1..5.

    Parameters
    ----------
    uniform
        Equal forward sizes (uniform in 1..3) and equal backward sizes (0..3), the class
        on which the chain DP is exact; else every size is uniform in 1..4.
    seed
        Indicator of the random number generation state (see the module docstring).

    Returns
    -------
    RematInstance
        ``(cost, mem, preds)``.
    """
    rng = _rng(seed)
    l = rng.randint(1, 6)  # noqa: E741 - Griewank's notation
    n_f = rng.choice([l - 1, l]) if l > 1 else 1
    reads = [rng.random() < 0.5 for _ in range(l)]
    if n_f == l:
        reads[-1] = True
    preds: list[list[int]] = [[i - 1] if i else [] for i in range(n_f)]
    for i in range(l, 0, -1):
        p = [i - 2] if i >= 2 else []
        if reads[i - 1] and i <= n_f:
            p.append(i - 1)
        if i < l:
            p.append(n_f + l - i - 1)
        preds.append(sorted(p))
    n = n_f + l
    cost = [float(rng.randint(1, 5)) for _ in range(n)]
    if uniform:
        a, g = float(rng.randint(1, 3)), float(rng.randint(0, 3))
        mem = [a] * n_f + [g] * l
    else:
        mem = [float(rng.randint(1, 4)) for _ in range(n)]
    return cost, mem, preds


def random_block_chain(
    n_blocks: int, seed: int | random.Random | None = None
) -> tuple[RematInstance, list[list[int]], list[list[int]]]:
    """Return a random chain of residual blocks and its block partition.

    Forward block: ``u = op(x)``, optionally ``v = op(u)``, then ``x' = add(u|v, x)``
    (with the skip input ``x`` with probability 0.7).  Backward block: ReLU-like reads of
    the block's output, weight-gradient sinks reading activations, and an accumulation
    of the skip gradient.  Costs are uniform in 1..5, sizes in 1..3.

    Parameters
    ----------
    n_blocks
        Number of blocks.
    seed
        Indicator of the random number generation state (see the module docstring).

    Returns
    -------
    (instance, forward, backward)
        ``(cost, mem, preds)`` and the node indices of each block's forward and backward
        nodes, as taken by :func:`~monet_opt.formulations.remat_blocks.make_blocks`.
    """
    rng = _rng(seed)
    cost: list[float] = []
    mem: list[float] = []
    preds: list[list[int]] = []

    def node(ps: list[int]) -> int:
        cost.append(float(rng.randint(1, 5)))
        mem.append(float(rng.randint(1, 3)))
        preds.append(sorted(set(ps)))
        return len(cost) - 1

    fwd, bwd, xs, inner = [], [], [-1], []
    for _ in range(n_blocks):
        x = xs[-1]
        f = [node([x] if x >= 0 else [])]
        if rng.random() < 0.5:
            f.append(node([f[-1]]))
        skip = x >= 0 and rng.random() < 0.7
        f.append(node([f[-1], x] if skip else [f[-1]]))
        fwd.append(f)
        xs.append(f[-1])
        inner.append(skip)
    grad = -1
    for k in range(n_blocks - 1, -1, -1):
        f, x = fwd[k], xs[k]
        b = []
        g = node([p for p in (grad, f[-1]) if p >= 0])  # reads its output (ReLU-like)
        b.append(g)
        for v in reversed(f[:-1]):
            if rng.random() < 0.5:
                b.append(node([g, v]))  # weight gradient: a sink reading an activation
            g = node([g, v] if rng.random() < 0.5 else [g])
            b.append(g)
        if x >= 0:
            b.append(node([g, x]))  # weight gradient of the first op
        if inner[k]:
            g = node([g, b[0]])  # accumulate the skip gradient
            b.append(g)
        bwd.append(b)
        grad = g
    return (cost, mem, preds), fwd, bwd[::-1]
