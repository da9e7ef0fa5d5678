"""The classifiers in PyTorch, built from PyTorch's own layers (``nn.LSTM``, ``nn.MultiheadAttention``,
``nn.TransformerEncoderLayer``), with the ``state_dict`` keys of their ``numpy_attn.models`` twins so
weights move between the two with ``torch_ref.convert``.

Every model maps x: (B, T, C) and lengths (B,) or None to (out, alpha: (B, T)), alpha the attention-pooling
weights, out P(class 1) (B,) with the binary head (num_classes None: Linear(D, 1), Sigmoid) or logits
(B, K) with K classes (Linear(D, K), for ``nn.CrossEntropyLoss``).

Variable length, the way a PyTorch user writes it: the padding zeroed, ``pack_padded_sequence`` into the
LSTM and ``pad_packed_sequence`` out of it, ``key_padding_mask`` (True = padding) in the attention, and the
pooling's softmax over each series' own steps.
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import AdditiveAttention, PositionalEncoding


def classifier_head(d, num_classes):
    """Sequential(Linear(d, 1), Sigmoid()) for num_classes None, else Sequential(Linear(d, K))."""
    if num_classes is None:
        return nn.Sequential(nn.Linear(d, 1), nn.Sigmoid())
    return nn.Sequential(nn.Linear(d, num_classes))


def run_lstm(lstm, x, lengths):
    """The batch_first LSTM's output (B, T, D*H): over the packed series when lengths is given, padded back
    to T with zeros."""
    if lengths is None:
        return lstm(x)[0]
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


class PooledClassifier(nn.Module):
    """The shared head: attention pooling over the kept steps, then the classifier. A subclass defines
    ``encode(x, lengths, padding) -> z (B, T, D)``, padding (B, T) True at padded steps, or None; an encoder
    that reads each of C channels on its own returns z (B, C, T, D), pooled over all its (channel, step)
    pairs, and alpha (B, T) is then the weights summed over the channels."""

    def forward(self, x, lengths=None):
        padding = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            padding = torch.arange(x.shape[1], device=x.device) >= lengths.to(x.device)[:, None]
            x = x.masked_fill(padding[..., None], 0.0)
        z = self.encode(x, lengths, padding)
        keep = None if padding is None else ~padding
        if z.dim() == 3:
            context, alpha = self.attention(z, keep)
        else:
            B, C, T, D = z.shape
            context, alpha = self.attention(z.reshape(B, C * T, D), None if keep is None else keep.repeat(1, C))
            alpha = alpha.reshape(B, C, T).sum(dim=1)
        out = self.classifier(context)
        return (out.squeeze(-1) if self.num_classes is None else out), alpha


class AttentionModel(PooledClassifier):
    """Seed 001's model: BiLSTM -> additive attention pooling -> Linear -> Sigmoid (its keys and binary
    head by default). channels=C > 1: one LSTM reads each channel's features x[..., c::C] as a series of
    its own (the C channels of a batch as B C series), the pooling runs over every (channel, step) pair."""

    def __init__(self, input_dim=1, hidden_dim=32, num_classes=None, channels=1):
        super().__init__()
        self.num_classes, self.channels = num_classes, channels
        self.lstm = nn.LSTM(input_size=input_dim // channels, hidden_size=hidden_dim, batch_first=True,
                            bidirectional=True)
        self.attention = AdditiveAttention(2 * hidden_dim, 64)
        self.classifier = classifier_head(2 * hidden_dim, num_classes)

    def encode(self, x, lengths, padding):
        C = self.channels
        if C == 1:
            return run_lstm(self.lstm, x, lengths)
        B, T, FC = x.shape
        u = x.reshape(B, T, FC // C, C).permute(0, 3, 1, 2).reshape(B * C, T, FC // C)
        h = run_lstm(self.lstm, u, None if lengths is None else lengths.repeat_interleave(C))
        return h.reshape(B, C, T, -1)


class BiLSTMMHAClassifier(PooledClassifier):
    """BiLSTM -> multi-head self-attention with a residual and LayerNorm -> attention pooling -> classifier."""

    def __init__(self, input_dim=1, hidden_dim=32, num_heads=4, num_classes=None):
        super().__init__()
        d = 2 * hidden_dim
        self.num_classes = num_classes
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.mha = nn.MultiheadAttention(d, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.attention = AdditiveAttention(d, 64)
        self.classifier = classifier_head(d, num_classes)

    def encode(self, x, lengths, padding):
        h = run_lstm(self.lstm, x, lengths)
        a, _ = self.mha(h, h, h, key_padding_mask=padding, need_weights=False)
        return self.norm(h + a)


class TransformerClassifier(PooledClassifier):
    """Linear input projection -> sinusoidal positions -> pre-LayerNorm encoder layers -> LayerNorm ->
    attention pooling -> classifier."""

    def __init__(self, input_dim=1, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, max_len=5000,
                 num_classes=None):
        super().__init__()
        self.num_classes = num_classes
        self.input_proj = nn.Linear(input_dim, d_model)
        self.pos_encoding = PositionalEncoding(d_model, max_len=max_len, dtype=self.input_proj.weight.dtype)
        self.layers = nn.Sequential(*[
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True,
                                       norm_first=True)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(d_model)
        self.attention = AdditiveAttention(d_model, 64)
        self.classifier = classifier_head(d_model, num_classes)

    def encode(self, x, lengths, padding):
        z = self.pos_encoding(self.input_proj(x))
        for layer in self.layers:
            z = layer(z, src_key_padding_mask=padding)
        return self.norm(z)


MODELS = {"bilstm-attention": AttentionModel, "bilstm-mha": BiLSTMMHAClassifier, "transformer": TransformerClassifier}
