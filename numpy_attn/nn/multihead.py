"""Multi-head attention modules, each returning its output and its attention weights.

- ``MultiHeadSelfAttention``: pre-LayerNorm applied once, heads split and merged as in
  ``functional.multi_head_attention``, dropout on the weights, no output projection.
- ``MultiheadAttention``: ``torch.nn.MultiheadAttention`` (names, shapes, init, mask conventions).

Backward: each ``backward`` takes the gradient of the output only (the returned weights are for
reading and plotting; no gradient flows back through them).
"""

import numpy as np

from .. import functional as F
from .. import kernels as K
from .._validate import as_float_array, as_generator, as_module_input, check_dtype, check_probability
from ..kernels import parallel
from ..kernels.workspace import Workspace
from . import init
from .attention import used_weights
from .grad_mode import is_grad_enabled
from .layer_norm import LayerNorm
from .linear import Linear
from .module import Module


class MultiHeadSelfAttention(Module):
    """Seed 003's MySelfAttention, corrected: h = LayerNorm(x) once, then multi-head attention of h.

        h = norm(x)                                   (B, T, D)   (identity when norm=False)
        Q, K, V = h W_q^T, h W_k^T, h W_v^T           (B, T, D) -> heads (B, T, H, D/H)
        A = dropout(softmax(einsum('bnhd,bmhd->bhnm', Q, K) / sqrt(D/H)))
        y = einsum('bhnm,bmhd->bnhd', A, V).reshape(B, T, D)

    Parameters: query, key, value: Linear(D, D, bias=False); norm: LayerNorm(D) (when norm=True).
    forward(x: (B, T, D)) -> (y: (B, T, D), weights: (B, H, T, T)); backward(grad_y) -> dx: (B, T, D).
    """

    def __init__(self, latent_dim, num_heads, dropout=0.0, norm=True, dtype=np.float32, rng=None):
        super().__init__()
        _check_heads(latent_dim, num_heads)
        check_probability(dropout, "MultiHeadSelfAttention dropout")
        rng = as_generator(rng)
        self.num_heads, self.dropout, self.rng = num_heads, dropout, rng
        self.query = Linear(latent_dim, latent_dim, bias=False, dtype=dtype, rng=rng)
        self.key = Linear(latent_dim, latent_dim, bias=False, dtype=dtype, rng=rng)
        self.value = Linear(latent_dim, latent_dim, bias=False, dtype=dtype, rng=rng)
        self.norm = LayerNorm(latent_dim, dtype=dtype) if norm else None

    def forward(self, x):
        x = as_module_input(x, "MultiHeadSelfAttention input", 3, self.query.in_features, self.query.weight.dtype)
        h = x if self.norm is None else self.norm(x)  # the seed normalised three times; once is the same value
        p = self.dropout if self.training else 0.0
        y, self._cache = K.multi_head_attention(self.query(h), self.key(h), self.value(h), self.num_heads,
                                                dropout_p=p, rng=self.rng)
        return y, used_weights(self._cache)

    def backward(self, grad_y):
        dq, dk, dv = K.multi_head_attention_backward(grad_y, self._saved())
        dh = self.query.backward(dq) + self.key.backward(dk) + self.value.backward(dv)  # h feeds all three
        return dh if self.norm is None else self.norm.backward(dh)


class MultiheadAttention(Module):
    """``torch.nn.MultiheadAttention``: out = concat_h(softmax(Q_h K_h^T / sqrt(d) + bias) V_h) W_o^T + b_o.

    Parameters (PyTorch's names, shapes and init): in_proj_weight (3E, E) = [W_q; W_k; W_v], xavier
    uniform; or, when kdim or vdim differ from E, q_proj_weight (E, E), k_proj_weight (E, kdim),
    v_proj_weight (E, vdim), each xavier uniform; in_proj_bias (3E,) zeros; out_proj: Linear(E, E)
    with its bias zeroed.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
            average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights)
      query (L, B, E), key (S, B, kdim), value (S, B, vdim); (B, L, E) ... when batch_first;
      unbatched (L, E), (S, kdim), (S, vdim) also work.
      Masks in MHA's convention (see ``functional.merge_masks``): bool True = *not allowed*, float added;
      attn_mask (L, S) or (B*num_heads, L, S); key_padding_mask (B, S), True = padding.
      attn_weights: (B, L, S) averaged over heads, (B, H, L, S) if not average_attn_weights, None if
      not need_weights; after dropout in training, as in PyTorch.
      A query row whose keys are all hidden attends to nothing: its attention output is zero (so the
      module outputs out_proj.bias there) and its weights are zero; PyTorch gives NaN on that row.
    backward(grad_attn_output) -> (grad_query, grad_key, grad_value), adding into the parameter grads.
      Self-attention (one array passed as query, key and value): that array's gradient is the **sum**
      grad_query + grad_key + grad_value (PyTorch's x.grad): ``self_attention_grad(mha.backward(g))``.
    Under ``nn.no_grad`` the forward keeps nothing for a backward (which then refuses), and with
    need_weights=False the weights (B, H, L, S) are computed a tile at a time and never stored whole.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, kdim=None, vdim=None,
                 dtype=np.float32, rng=None):
        super().__init__()
        _check_heads(embed_dim, num_heads)
        check_probability(dropout, "MultiheadAttention dropout")
        rng = as_generator(rng)
        E = embed_dim
        self.embed_dim, self.num_heads, self.head_dim = E, num_heads, E // num_heads
        self.kdim = E if kdim is None else kdim
        self.vdim = E if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        self._workspace = Workspace()  # the internal arrays, kept from call to call (see forward)
        self.dropout, self.batch_first, self.rng = dropout, batch_first, rng
        if self._qkv_same_embed_dim:
            self.in_proj_weight = init.xavier_uniform((3 * E, E), dtype, rng)
        else:
            self.q_proj_weight = init.xavier_uniform((E, E), dtype, rng)
            self.k_proj_weight = init.xavier_uniform((E, self.kdim), dtype, rng)
            self.v_proj_weight = init.xavier_uniform((E, self.vdim), dtype, rng)
        self.in_proj_bias = init.constant((3 * E,), 0.0, dtype) if bias else None
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype, rng=rng)
        if bias:
            self.out_proj.bias.data[...] = 0.0  # PyTorch's _reset_parameters zeroes it

    def _proj_weights(self):
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.data
        return (self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data)

    @parallel.own_cores()  # its tiles and large products run on this package's threads
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        self_attention = query is key and key is value
        query, key, value, batched = self._check_inputs(query, key, value)
        if not batched:  # unbatched: a batch of one, squeezed again at the end
            key_padding_mask = None if key_padding_mask is None else np.asarray(key_padding_mask)[None]
        query, key, value = (self._to_batch_first(x, batched) for x in (query, key, value))
        if self_attention:
            key = value = query  # keep "the same array" so the fused projection applies
        (B, L, _), S = query.shape, key.shape[1]
        bias = F.merge_masks(attn_mask, key_padding_mask, is_causal, B, self.num_heads, L, S, query.dtype)

        # q, k, v, A, the context and the backward's dq, dk, dv are the workspace's arrays, rewritten by each
        # call: the last cache is dropped first, so a backward can only ever see this call's arrays. Under
        # no_grad nothing is kept for a backward, and without need_weights A is not kept either
        # (``kernels.attention``, keep_weights).
        self._cache, ws, grad = None, self._workspace, is_grad_enabled()
        in_bias = None if self.in_proj_bias is None else self.in_proj_bias.data
        (q, k, v), proj_cache = K.in_projection(query, key, value, self._proj_weights(), in_bias, workspace=ws)
        p = self.dropout if self.training else 0.0
        context, attn_cache = K.multi_head_attention(q, k, v, self.num_heads, bias, p, rng=self.rng, workspace=ws,
                                                     keep_weights=grad or need_weights)
        out = self.out_proj(context)  # (B, L, E): a new array, the caller's
        self._cache = (proj_cache, attn_cache, batched) if grad else None

        weights = None
        if need_weights:
            weights = used_weights(attn_cache)  # (B, H, L, S)
            weights = weights.mean(axis=1) if average_attn_weights else weights
            weights = weights if batched else weights[0]
        if weights is not None and np.may_share_memory(weights, attn_cache.weights):  # bounds only: cheap, and safe
            ws.release("weights")  # A went to the caller: the next call writes its A elsewhere
        return self._from_batch_first(out, batched), weights

    @parallel.own_cores()
    def backward(self, grad_attn_output):
        proj_cache, attn_cache, batched = self._saved()
        g = self._to_batch_first(np.asarray(grad_attn_output), batched)
        d_context = self.out_proj.backward(g)  # out = context W_o^T + b_o
        dq, dk, dv = K.multi_head_attention_backward(d_context, attn_cache, self._workspace)
        d_query, d_key, d_value, d_w, d_b = K.in_projection_backward((dq, dk, dv), proj_cache)
        if self._qkv_same_embed_dim:
            self.in_proj_weight.accumulate(d_w)
        else:
            for param, grad in zip((self.q_proj_weight, self.k_proj_weight, self.v_proj_weight), d_w):
                param.accumulate(grad)
        if self.in_proj_bias is not None:
            self.in_proj_bias.accumulate(d_b)
        return tuple(self._from_batch_first(d, batched) for d in (d_query, d_key, d_value))

    def _check_inputs(self, query, key, value):
        query = as_float_array(query, "MultiheadAttention query", ndim=(2, 3))
        # Self-attention passes one array three times: its values are checked once.
        key = query if key is query else as_float_array(key, "MultiheadAttention key", ndim=query.ndim)
        value = key if value is key else as_float_array(value, "MultiheadAttention value", ndim=query.ndim)
        for x, name, size in ((query, "query", self.embed_dim), (key, "key", self.kdim), (value, "value", self.vdim)):
            check_dtype(x, f"MultiheadAttention {name}", self.out_proj.weight.dtype)
            if x.shape[-1] != size:
                raise ValueError(f"MultiheadAttention {name}: expected last dimension {size}, got shape {x.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention value: expected leading shape {key.shape[:-1]} (key's), "
                             f"got shape {value.shape}")
        if query.ndim == 3 and query.shape[self._batch_axis] != key.shape[self._batch_axis]:
            raise ValueError(f"MultiheadAttention key: batch size {key.shape[self._batch_axis]} differs from "
                             f"query's {query.shape[self._batch_axis]}")
        return query, key, value, query.ndim == 3

    @property
    def _batch_axis(self):
        return 0 if self.batch_first else 1

    def _to_batch_first(self, x, batched):
        """(T, B, D) or (T, D) -> a (B, T, D) view; batch-first input as is."""
        if not batched:
            return x[None]
        return x if self.batch_first else x.swapaxes(0, 1)

    def _from_batch_first(self, x, batched):
        if not batched:
            return x[0]
        return x if self.batch_first else x.swapaxes(0, 1)

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}, kdim={self.kdim}, vdim={self.vdim}")


def self_attention_grad(grads):
    """x's gradient when x was query, key and value: grad_query + grad_key + grad_value, summed into
    grad_query (the three are new arrays of the backward's, so no other copy is made)."""
    grad_query, grad_key, grad_value = grads
    grad_query += grad_key
    grad_query += grad_value
    return grad_query


def _check_heads(embed_dim, num_heads):
    if embed_dim <= 0 or num_heads <= 0:
        raise ValueError(f"embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
