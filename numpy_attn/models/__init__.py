"""The anomaly classifiers: x (B, T, C) -> (P(anomalous) (B,), attention over time (B, T))."""

from .bilstm_attention import BiLSTMAttentionClassifier
from .bilstm_mha import BiLSTMMHAClassifier
from .transformer import TransformerClassifier

MODELS = {
    "bilstm-attention": BiLSTMAttentionClassifier,
    "bilstm-mha": BiLSTMMHAClassifier,
    "transformer": TransformerClassifier,
}
