"""PyTorch references for the additive-attention family, written the way a PyTorch user writes them
(D2L, the PyTorch tutorials, the seeds), with the same state_dict keys as the NumPy modules so
``torch_ref.convert`` copies weights across. Autograd gives every gradient.

Masks: True / j < valid_len = takes part. Where our NumPy code defines a fully hidden row as zero
weights, these references do the same by filling hidden scores with -1e6 (D2L's trick) and then
zeroing the hidden weights; every test keeps the scores far above -1e6, so that fill is exact.
"""

import math

import torch
from torch import nn


def masked_softmax(scores, keep):
    """softmax over the last dim of the kept entries; hidden ones (keep False) get weight 0."""
    if keep is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(~keep, -1e6), dim=-1).masked_fill(~keep, 0.0)


class AdditiveAttention(nn.Sequential):
    """Attention pooling: e = scorer(h), alpha = softmax_t(e), context = sum_t alpha_t h_t. The module is its
    scorer Sequential(Linear, Tanh, Linear), as ``numpy_attn.nn.AdditiveAttention``: a model that names it
    ``attention`` has seed 001's keys ``attention.0.weight``, ``attention.2.weight``."""

    def __init__(self, input_dim, attn_dim=64):
        super().__init__(nn.Linear(input_dim, attn_dim), nn.Tanh(), nn.Linear(attn_dim, 1))

    def forward(self, h, mask=None):
        e = super().forward(h).squeeze(-1)  # (B, T)
        alpha = masked_softmax(e, mask)
        context = torch.sum(alpha.unsqueeze(-1) * h, dim=1)  # (B, D)
        return context, alpha


class BahdanauAttention(nn.Module):
    """D2L's AdditiveAttention (d2l.ai, 11.3), zero weights for a query with valid_len 0."""

    def __init__(self, key_size, query_size, num_hiddens, dropout=0.0):
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        queries, keys = self.W_q(queries), self.W_k(keys)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))  # (B, Lq, Lk, H)
        scores = self.w_v(features).squeeze(-1)  # (B, Lq, Lk)
        keep = None
        if valid_lens is not None:
            lens = valid_lens if valid_lens.dim() == 2 else valid_lens.unsqueeze(1)  # (B, Lq or 1)
            keep = torch.arange(keys.shape[1]) < lens.unsqueeze(-1)  # (B, Lq or 1, Lk)
        self.attention_weights = masked_softmax(scores, keep)
        return torch.bmm(self.dropout(self.attention_weights), values)


class NWKernelRegression(nn.Module):
    """D2L's parametric Nadaraya-Watson regression (d2l.ai, 11.2)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.rand((1,)))

    def forward(self, queries, keys, values):
        queries = queries.repeat_interleave(keys.shape[1]).reshape((-1, keys.shape[1]))
        self.attention_weights = nn.functional.softmax(-((queries - keys) * self.w) ** 2 / 2, dim=1)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)


class SEGate(nn.Module):
    """Squeeze (mean over ``dim``), excite (Linear-ReLU-Linear-Sigmoid), rescale."""

    def __init__(self, channels, reduction=4, dim=1):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.dim = dim
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x.mean(dim=self.dim)).unsqueeze(self.dim)


class PositionalEncoding(nn.Module):
    """The PyTorch tutorial's sinusoidal encoding (batch_first, pe kept as (max_len, d_model)); odd
    d_model gets one cosine column fewer.

    The table is computed in float64 and stored in ``dtype``: float64 unless told, so that on its own it is
    the exact reference the NumPy table is checked against; a model passes its parameters' dtype. As a
    buffer it then follows the model through ``.to()``, ``.double()`` and ``.float()``.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=True, dtype=torch.float64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.batch_first = batch_first
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
        self.register_buffer("pe", pe.to(dtype))

    def forward(self, x):
        pe = self.pe[: x.shape[1]] if self.batch_first else self.pe[: x.shape[0]].unsqueeze(1)
        return self.dropout(x + pe)


class LearnedPositionalEncoding(nn.Module):
    """A trained table added to the input: x + weight[:T]."""

    def __init__(self, max_len, d_model, dropout=0.0, batch_first=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(p=dropout)
        self.batch_first = batch_first

    def forward(self, x):
        pe = self.weight[: x.shape[1]] if self.batch_first else self.weight[: x.shape[0]].unsqueeze(1)
        return self.dropout(x + pe)


class SelfAttention(nn.Module):
    """Seed 000's self-attention (Q, K, V: nn.Linear; softmax(Q K^T / sqrt(dim_k)) V), returning the weights
    too; ``keep`` (bool, True = takes part, broadcastable to (B, T, T)) hides keys with ``masked_softmax``."""

    def __init__(self, input_dim, dim_q, dim_v):
        super().__init__()
        self.dim_q, self.dim_k, self.dim_v = dim_q, dim_q, dim_v
        self.Q = nn.Linear(input_dim, dim_q)
        self.K = nn.Linear(input_dim, dim_q)
        self.V = nn.Linear(input_dim, dim_v)

    def forward(self, x, keep=None):
        Q, K, V = self.Q(x), self.K(x), self.V(x)
        weights = masked_softmax(torch.bmm(Q, K.permute(0, 2, 1)) / math.sqrt(self.dim_k), keep)
        return torch.bmm(weights, V), weights


class MultiHeadSelfAttention(nn.Module):
    """Seed 003's MySelfAttention with its einsum fixed ('bnhd,bmhd->bhnm', then 'bhnm,bmhd->bnhd'),
    LayerNorm applied once (nn.Identity when norm=False), returning (y, dropped weights)."""

    def __init__(self, latent_dim, num_heads, dropout=0.0, norm=True):
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(latent_dim, latent_dim, bias=False)
        self.key = nn.Linear(latent_dim, latent_dim, bias=False)
        self.value = nn.Linear(latent_dim, latent_dim, bias=False)
        self.norm = nn.LayerNorm(latent_dim) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, D = x.shape
        H = self.num_heads
        h = self.norm(x)
        Q, K, V = (proj(h).view(B, T, H, D // H) for proj in (self.query, self.key, self.value))
        weights = self.dropout(torch.softmax(torch.einsum("bnhd,bmhd->bhnm", Q, K) / math.sqrt(D // H), dim=-1))
        return torch.einsum("bhnm,bmhd->bnhd", weights, V).reshape(B, T, D), weights
