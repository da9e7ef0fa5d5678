"""Core ops, forward + backward: linear, softmax, layer_norm (float32); each kernel beside its textbook twin."""

import numpy as np
import torch

from numpy_attn import functional as F
from numpy_attn import kernels as K

from .harness import Case


def _torch_fwd_bwd(fn, shapes, device):
    """A callable running fn(*leaves) forward and backward with a fixed upstream gradient."""
    gen = torch.Generator().manual_seed(0)
    leaves = [torch.randn(s, generator=gen).to(device).requires_grad_() for s in shapes]
    out = fn(*leaves)
    grad = torch.randn(out.shape, generator=gen).to(device)

    def step():
        for t in leaves:
            t.grad = None
        fn(*leaves).backward(grad)

    return step


def _numpy_fwd_bwd(fn, fn_backward, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grad = rng.standard_normal(fn(*arrays)[0].shape).astype(np.float32)
    return lambda: fn_backward(grad, fn(*arrays)[1])


def _linear(b, t, d_in, d_out):
    shapes = [(b, t, d_in), (d_out, d_in), (d_out,)]
    return Case(
        "linear fwd+bwd", f"x ({b},{t},{d_in}) -> {d_out}",
        lambda: _numpy_fwd_bwd(K.linear, K.linear_backward, shapes),
        lambda dev: _torch_fwd_bwd(torch.nn.functional.linear, shapes, dev),
        flops=3 * 2 * b * t * d_in * d_out,
        textbook=lambda: _numpy_fwd_bwd(F.linear, F.linear_backward, shapes),
    )


def _softmax(shape):
    return Case(
        "softmax fwd+bwd", f"{shape} over last",
        lambda: _numpy_fwd_bwd(K.softmax, K.softmax_backward, [shape]),
        lambda dev: _torch_fwd_bwd(lambda x: torch.softmax(x, -1), [shape], dev),
        textbook=lambda: _numpy_fwd_bwd(F.softmax, F.softmax_backward, [shape]),
    )


def _layer_norm(shape):
    d = shape[-1]
    shapes = [shape, (d,), (d,)]
    return Case(
        "layer_norm fwd+bwd", f"{shape}",
        lambda: _numpy_fwd_bwd(lambda x, w, b: K.layer_norm(x, d, w, b), K.layer_norm_backward, shapes),
        lambda dev: _torch_fwd_bwd(lambda x, w, b: torch.nn.functional.layer_norm(x, (d,), w, b), shapes, dev),
        textbook=lambda: _numpy_fwd_bwd(lambda x, w, b: F.layer_norm(x, d, w, b), F.layer_norm_backward, shapes),
    )


def _sdpa(b, h, t, d):
    shapes = [(b, h, t, d)] * 3
    return Case(
        "scaled_dot_product_attention fwd+bwd", f"q, k, v ({b},{h},{t},{d})",
        lambda: _numpy_fwd_bwd(K.scaled_dot_product_attention, K.scaled_dot_product_attention_backward, shapes),
        lambda dev: _torch_fwd_bwd(torch.nn.functional.scaled_dot_product_attention, shapes, dev),
        flops=3 * 4 * b * h * t * t * d,
        textbook=lambda: _numpy_fwd_bwd(F.scaled_dot_product_attention, F.scaled_dot_product_attention_backward,
                                        shapes),
    )


CASES = [
    _linear(32, 128, 64, 64),
    _linear(8, 1024, 256, 768),
    _softmax((32, 4, 128, 128)),
    _layer_norm((32, 128, 64)),
    _layer_norm((8, 1024, 256)),
    _sdpa(32, 4, 128, 16),
]
