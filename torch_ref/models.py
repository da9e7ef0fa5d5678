"""The anomaly classifiers in PyTorch, built from PyTorch's own layers (``nn.LSTM``,
``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``), with the ``state_dict`` keys of their
``numpy_attn.models`` twins so weights move between the two with ``torch_ref.convert``.

Every model maps x: (B, T, C) to (prob: (B,), alpha: (B, T)), alpha the attention-pooling weights.
"""

import torch
from torch import nn

from .attention import AdditiveAttention, PositionalEncoding


class AttentionModel(nn.Module):
    """Seed 001's model, unchanged: BiLSTM -> additive attention pooling -> Linear -> Sigmoid."""

    def __init__(self, input_dim=1, hidden_dim=32):
        super().__init__()
        self.lstm = nn.LSTM(input_size=input_dim, hidden_size=hidden_dim, batch_first=True, bidirectional=True)
        self.attention = AdditiveAttention(2 * hidden_dim, 64)
        self.classifier = nn.Sequential(nn.Linear(2 * hidden_dim, 1), nn.Sigmoid())

    def forward(self, x):
        lstm_out, _ = self.lstm(x)
        context, alpha = self.attention(lstm_out)
        return self.classifier(context).squeeze(-1), alpha


class BiLSTMMHAClassifier(nn.Module):
    """BiLSTM -> multi-head self-attention with a residual and LayerNorm -> attention pooling -> classifier."""

    def __init__(self, input_dim=1, hidden_dim=32, num_heads=4):
        super().__init__()
        d = 2 * hidden_dim
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.mha = nn.MultiheadAttention(d, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.attention = AdditiveAttention(d, 64)
        self.classifier = nn.Sequential(nn.Linear(d, 1), nn.Sigmoid())

    def forward(self, x):
        h, _ = self.lstm(x)
        a, _ = self.mha(h, h, h, need_weights=False)
        z = self.norm(h + a)
        context, alpha = self.attention(z)
        return self.classifier(context).squeeze(-1), alpha


class TransformerClassifier(nn.Module):
    """Linear input projection -> sinusoidal positions -> pre-LayerNorm encoder layers -> LayerNorm ->
    attention pooling -> classifier."""

    def __init__(self, input_dim=1, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, max_len=5000):
        super().__init__()
        self.input_proj = nn.Linear(input_dim, d_model)
        self.pos_encoding = PositionalEncoding(d_model, max_len=max_len, dtype=self.input_proj.weight.dtype)
        self.layers = nn.Sequential(*[
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True,
                                       norm_first=True)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(d_model)
        self.attention = AdditiveAttention(d_model, 64)
        self.classifier = nn.Sequential(nn.Linear(d_model, 1), nn.Sigmoid())

    def forward(self, x):
        z = self.norm(self.layers(self.pos_encoding(self.input_proj(x))))
        context, alpha = self.attention(z)
        return self.classifier(context).squeeze(-1), alpha


MODELS = {"bilstm-attention": AttentionModel, "bilstm-mha": BiLSTMMHAClassifier, "transformer": TransformerClassifier}
