"""Multi-head self-attention, forward + backward, float32: numpy_attn.nn.MultiheadAttention against
torch.nn.MultiheadAttention on the same weights.

Both sides run self-attention (one array as query, key and value), batch_first, training mode, no
dropout, ``need_weights=False``: that is PyTorch's fastest training path (it calls the fused
``scaled_dot_product_attention`` kernel; ``need_weights=True`` would make it materialise and average
the weights). The NumPy side computes the same maths (it never skips the (L, S) weights) and forms the
input gradient as the sum of its three gradients, as PyTorch's x.grad does.

The textbook column does the same step with ``numpy_attn.functional``: ``in_projection``, the einsum
``multi_head_attention`` and ``linear`` for the output projection, with the module's weights.

FLOPs of one forward: projections 2 N E (3E) + 2 N E E (N = B L tokens), scores Q K^T 2 B L L E,
mixing A V 2 B L L E; the backward is two products per forward product, so forward + backward is
3 x (8 N E^2 + 4 B L^2 E).
"""

import numpy as np
import torch

from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn.nn.multihead import self_attention_grad

from .harness import Case


def _numpy_mha(b, t, e, h):
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(e, h, batch_first=True, dtype=np.float32, rng=0)
    x = rng.standard_normal((b, t, e)).astype(np.float32)
    g = rng.standard_normal((b, t, e)).astype(np.float32)

    def step():
        m.zero_grad()
        m(x, x, x, need_weights=False)
        return self_attention_grad(m.backward(g))  # x.grad: x was query, key and value

    return step


def _textbook_mha(b, t, e, h):
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(e, h, batch_first=True, dtype=np.float32, rng=0)
    w_in, b_in, w_out, b_out = (p.data for p in (m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
                                                 m.out_proj.bias))
    x = rng.standard_normal((b, t, e)).astype(np.float32)
    g = rng.standard_normal((b, t, e)).astype(np.float32)

    def step():
        (q, k, v), proj = F.in_projection(x, x, x, w_in, b_in)
        context, attn = F.multi_head_attention(q, k, v, h)
        _, out = F.linear(context, w_out, b_out)
        d_context = F.linear_backward(g, out)[0]
        d_query, d_key, d_value = F.in_projection_backward(F.multi_head_attention_backward(d_context, attn), proj)[:3]
        return d_query + d_key + d_value  # x.grad: x was query, key and value

    return step


def _torch_mha(b, t, e, h, device):
    gen = torch.Generator().manual_seed(0)
    m = torch.nn.MultiheadAttention(e, h, batch_first=True).to(device)
    x = torch.randn((b, t, e), generator=gen).to(device).requires_grad_()
    g = torch.randn((b, t, e), generator=gen).to(device)

    def step():
        m.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = m(x, x, x, need_weights=False)
        out.backward(g)

    return step


def _mha(b, t, e, h):
    n = b * t
    return Case(
        "MultiheadAttention self fwd+bwd", f"B={b} T={t} E={e} H={h}",
        lambda: _numpy_mha(b, t, e, h),
        lambda dev: _torch_mha(b, t, e, h, dev),
        flops=3 * (8 * n * e * e + 4 * b * t * t * e),
        notes={"torch_path": "need_weights=False (fused SDPA)"},
        textbook=lambda: _textbook_mha(b, t, e, h),
    )


CASES = [
    _mha(32, 128, 64, 4),
    _mha(8, 1024, 256, 8),
]
