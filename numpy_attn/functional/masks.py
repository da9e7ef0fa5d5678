"""Attention masks, all turned into one additive bias on the scores: 0 where a key takes part, -inf where
it is hidden (exp(-inf) = 0, so a hidden key gets weight exactly 0).

Two conventions, as in PyTorch, and they differ for bools:

- SDPA (``F.scaled_dot_product_attention``): a **bool** ``attn_mask`` is True where the key *takes part*.
- ``nn.MultiheadAttention``: a **bool** mask is True where the key is *not allowed* (padding, the future).

In both a **float** mask is added as it is (finite values and -inf; NaN and +inf are refused), and the
causal mask hides key j > query i: ``tril(ones(L, S))``, aligned top-left (query i sees keys 0..i).
"""

import numpy as np


def causal_bias(L, S, dtype):
    """(L, S): 0 on and below the diagonal, -inf above it (key j > query i)."""
    return np.where(np.tri(L, S, dtype=bool), 0.0, -np.inf).astype(dtype)


def as_bias(mask, name, dtype, true_means="takes part"):
    """A bool or float mask as an additive bias in ``dtype``.

    true_means: "takes part" (SDPA's bools) or "hidden" (MultiheadAttention's bools).
    """
    m = np.asarray(mask)
    if m.dtype == bool:
        keep = m if true_means == "takes part" else ~m
        return np.where(keep, 0.0, -np.inf).astype(dtype)
    if m.dtype.kind != "f":
        raise TypeError(f"{name}: expected a bool or floating-point array, got dtype {m.dtype}")
    if np.isnan(m).any() or np.isposinf(m).any():
        raise ValueError(f"{name}: a float mask may hold finite values and -inf, got NaN or +inf")
    return m.astype(dtype, copy=False)


def attention_bias(attn_mask, is_causal, L, S, dtype):
    """SDPA's masks as one bias, broadcastable to (..., L, S); None when nothing is masked.

    attn_mask: bool (True = takes part), float (added) or None; is_causal: hide the future. Giving both is
    an error, as in PyTorch (fold the causal mask into attn_mask instead).
    """
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask and is_causal=True: give one (PyTorch refuses both); "
                         "fold the causal mask into attn_mask")
    if is_causal:
        return causal_bias(L, S, dtype)
    return None if attn_mask is None else as_bias(attn_mask, "attn_mask", dtype)


def check_bias_shape(bias, attn_mask, scores_shape):
    """The bias must broadcast to the scores' shape (..., L, S) without changing it."""
    shape = np.shape(attn_mask) if attn_mask is not None else bias.shape
    try:
        ok = np.broadcast_shapes(bias.shape, scores_shape) == tuple(scores_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"attn_mask: expected a shape broadcastable to (..., L, S) = {tuple(scores_shape)}, "
                         f"got {shape}")


def merge_masks(attn_mask, key_padding_mask, is_causal, batch, num_heads, L, S, dtype):
    """``nn.MultiheadAttention``'s masks as one additive bias, broadcastable to (B, H, L, S), or None.

    attn_mask: (L, S) or (B*H, L, S); key_padding_mask: (B, S), True = that key is padding. Bools are
    True where *not allowed*; floats are added. The two are summed (PyTorch turns each into a float mask
    and adds them). is_causal: with attn_mask given it is only a hint that attn_mask is causal (PyTorch's
    meaning) and attn_mask is used; without one, the causal mask is built (PyTorch raises there).
    """
    bias = None
    if attn_mask is not None:
        bias = as_bias(attn_mask, "attn_mask", dtype, true_means="hidden")
        if bias.shape == (batch * num_heads, L, S):
            bias = bias.reshape(batch, num_heads, L, S)
        elif bias.shape != (L, S):
            raise ValueError(f"attn_mask: expected shape ({L}, {S}) or ({batch * num_heads}, {L}, {S}) "
                             f"= (L, S) or (B*num_heads, L, S), got {bias.shape}")
    elif is_causal:
        bias = causal_bias(L, S, dtype)
    if key_padding_mask is not None:
        pad = as_bias(key_padding_mask, "key_padding_mask", dtype, true_means="hidden")
        if pad.shape != (batch, S):
            raise ValueError(f"key_padding_mask: expected shape ({batch}, {S}) = (B, S), got {pad.shape}")
        pad = pad.reshape(batch, 1, 1, S)  # the same keys are padding for every head and every query
        bias = pad if bias is None else bias + pad
    return bias
