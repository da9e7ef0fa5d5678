"""Optimizers follow PyTorch's trajectory step for step when fed the same gradients (float64)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_close
from numpy_attn import optim
from numpy_attn.nn import Parameter
from numpy_attn.nn.utils import clip_grad_norm_

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, betas=(0.5, 0.9), weight_decay=0.3)),
]


@pytest.mark.parametrize("name, kwargs", CONFIGS)
@given(seed=st.integers(0, 2**16))
def test_trajectory_matches_torch(name, kwargs, seed):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,)]
    start = [rng.standard_normal(s) for s in shapes]
    ours = [Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, foreach=False, **kwargs)
    for step in range(30):
        grads = [rng.standard_normal(s) * 10 ** rng.uniform(-3, 1) for s in shapes]
        for p, t, g in zip(ours, theirs, grads):
            p.grad, t.grad = g.copy(), torch.tensor(g)
        opt.step()
        topt.step()
        for i, (p, t) in enumerate(zip(ours, theirs)):
            # each step adds a few roundings of size u |p|; 30 steps stay far below 1e-12
            assert_close(p.data, t.detach(), tol=1e-12, name=f"{name} step {step} param {i}")


def test_parameters_without_gradient_are_left_alone():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    assert (b.data == 1).all() and not (a.data == 1).any()
    opt.zero_grad()
    assert a.grad is None


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        optim.Adam([np.ones(2)])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([Parameter(np.ones(1))], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([Parameter(np.ones(1))], lr=0.1, nesterov=True)


NAN, INF = float("nan"), float("inf")
BAD_HYPERPARAMETERS = [  # (optimizer, the bad argument, the argument named in the error)
    *[(name, dict(lr=v), "lr") for name in ("SGD", "Adam", "AdamW") for v in (NAN, INF, -INF, -1e-3)],
    *[(name, dict(eps=v), "eps") for name in ("Adam", "AdamW") for v in (NAN, INF, -1e-8)],
    *[(name, dict(weight_decay=v), "weight_decay") for name in ("SGD", "Adam", "AdamW") for v in (NAN, INF, -0.1)],
    *[(name, dict(betas=v), "betas") for name in ("Adam", "AdamW")
      for v in ((NAN, 0.9), (0.9, NAN), (-0.1, 0.9), (0.9, 1.0), (INF, 0.9), (0.9,), (0.9, 0.99, 0.999))],
    *[("SGD", dict(momentum=v), "momentum") for v in (NAN, INF, -0.5)],
    *[("SGD", dict(dampening=v), "dampening") for v in (NAN, INF, -INF)],
]


@pytest.mark.parametrize("name, kwargs, argument", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_are_refused_naming_the_argument(name, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}: expected"):
        getattr(optim, name)([Parameter(np.ones(1))], **kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.0, momentum=0.0, dampening=-0.5, weight_decay=0.0)),  # PyTorch takes any dampening
    ("Adam", dict(lr=0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)),
    ("AdamW", dict(lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)),
])
def test_edge_hyperparameters_are_accepted_as_by_torch(name, kwargs):
    getattr(torch.optim, name)([torch.ones(1, requires_grad=True)], **kwargs)  # the edge is legal there too
    getattr(optim, name)([Parameter(np.ones(1))], **kwargs)
    getattr(optim, name)([Parameter(np.ones(1))], **{**kwargs, "lr": np.float32(1e-3)})  # NumPy scalars are numbers


@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       max_norm=st.sampled_from([0.5, 1.0, 50.0]), seed=st.integers(0, 2**16))
def test_clip_grad_norm_is_torchs(sizes, scale, max_norm, seed):
    """The joint norm returned and every clipped gradient as ``torch.nn.utils.clip_grad_norm_`` (float64), for
    gradients below, near and far above the cap; a Parameter without a gradient is skipped."""
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal((n, 2)) * scale for n in sizes]
    params = [Parameter(np.zeros_like(g)) for g in grads] + [Parameter(np.zeros(3))]  # the last: grad None
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(params, tensors, grads):
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = clip_grad_norm_(params, max_norm)
    t_total = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert total == pytest.approx(t_total.item(), rel=1e-14)
    for p, t in zip(params, tensors):
        assert_close(p.grad, t.grad.numpy(), tol=1e-14, name="clipped gradient")
    assert params[-1].grad is None
    assert np.sqrt(sum((p.grad ** 2).sum() for p in params[:-1])) <= max_norm * (1 + 1e-12)


@pytest.mark.parametrize("max_norm", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_clip_grad_norm_refuses_a_bad_cap(max_norm):
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    with pytest.raises(ValueError, match="max_norm: expected a finite number > 0"):
        clip_grad_norm_([p], max_norm)
