"""``nn.LSTM`` and ``nn.LSTMCell``: PyTorch's constructor arguments, parameter names, shapes and
initialisation, with an explicit backward (backpropagation through time) built on ``functional.lstm``.
``nn.LSTM`` also reads a padded batch of series of different lengths as PyTorch reads a packed one
(``lengths``; see ``_Packing``)."""

import math
import warnings

import numpy as np

from .. import functional as F
from .. import kernels as K
from .._validate import as_float_array, as_generator, as_module_input, check_dtype, check_probability
from ..kernels.lstm import copy_output as copy_lstm_output
from ..kernels.workspace import Workspace
from . import init
from .grad_mode import is_grad_enabled
from .module import Module


def _add_lstm_parameters(module, suffix, input_size, hidden_size, bias, dtype, rng):
    """Register weight_ih{suffix} (4H, in), weight_hh{suffix} (4H, H) and, with ``bias``, bias_ih{suffix}
    and bias_hh{suffix} (4H,), in PyTorch's order, each drawn from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does."""
    bound = 1.0 / math.sqrt(hidden_size)
    shapes = {"weight_ih": (4 * hidden_size, input_size), "weight_hh": (4 * hidden_size, hidden_size)}
    if bias:
        shapes.update(bias_ih=(4 * hidden_size,), bias_hh=(4 * hidden_size,))
    for name, shape in shapes.items():
        setattr(module, name + suffix, init.uniform(shape, bound, dtype, rng))


def _check_sizes(input_size, hidden_size):
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _initial_state(hx, shape, dtype, who):
    """(h0, c0) from ``hx``, zeros when None; each must have ``shape`` and the module's dtype."""
    if hx is None:
        zeros = np.zeros(shape, dtype)
        return zeros, zeros
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{who} hx: expected a tuple (h0, c0), got {type(hx).__name__}")
    state = []
    for value, name in zip(hx, ("h0", "c0")):
        value = as_float_array(value, f"{who} {name}")
        check_dtype(value, f"{who} {name}", dtype)
        if value.shape != shape:
            raise ValueError(f"{who} {name}: expected shape {shape}, got {value.shape}")
        state.append(value)
    return tuple(state)


def _upstream(grad, shape, name):
    """An upstream gradient checked against the shape of the output it belongs to (None stays None)."""
    if grad is None:
        return None
    grad = as_float_array(grad, name)
    if grad.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (the shape of the forward output), got {grad.shape}")
    return grad


def as_lengths(lengths, batch, steps, name="lengths"):
    """``lengths`` as an int64 array (B,) of values in [1, T], or a TypeError / ValueError naming ``name``."""
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers (each series' number of steps), got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"{name}: expected shape ({batch},), one length per series, got {lengths.shape}")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"{name}: expected lengths in [1, {steps}] (the padded length), got values from "
                         f"{lengths.min()} to {lengths.max()}")
    return lengths.astype(np.int64)


def _in_reading_order(per_direction):
    """[forward, reverse] arrays of shape (T, ...) with the reverse one flipped in time, i.e. in the order
    each direction reads its sequence. Flipping twice is the identity, so this also undoes itself."""
    return [a if d == 0 else a[::-1] for d, a in enumerate(per_direction)]


class _Packing:
    """How ``nn.LSTM`` reads a padded batch as PyTorch reads a packed one (``pack_padded_sequence``).

    Series b holds lengths[b] = L_b real steps, then padding up to T. Each direction reads only the real
    steps, in its own reading order r = 0, ..., L_b - 1:

        forward:  step r reads x_r                  reverse:  step r reads x_{L_b - 1 - r}

    so the reverse direction starts at the series' own last step, not at the padding. In reading order
    every series starts at r = 0 from h0 and ends at r = L_b - 1, in both directions. Sorted longest
    first (``order``), the series still running at step r are a prefix of the batch, and the steps split
    into segments [begin, end) between consecutive distinct lengths, in each of which the first n series
    all run: PyTorch's ``PackedSequence.batch_sizes``, grouped. One ``kernels.lstm`` call per segment
    advances those n series, from the states the last segment left them in; the series of length
    ``end`` stop there, so each series' final state is its own h_{L_b - 1}, c_{L_b - 1}.
    The backward runs the segments in reverse: each takes dL/dh, dL/dc at its end (the upstream h_n, c_n
    gradient of the series that stop there, plus what the next segment sent back for the others) and
    returns them at its start. Nothing reads a padded step, so its output is 0 (``pad_packed_sequence``'s
    fill), its upstream gradient is ignored and its input gets gradient 0.

    ``steps[d, t, b]``: the reading step of time t in direction d (t for the forward direction, and for
    the reverse one L_b - 1 - t on the real steps, t itself on the padding: a padded step maps to itself,
    where the outputs hold 0). It is its own inverse, so one gather reorders in either direction.
    """

    def __init__(self, lengths, steps, directions):
        self.order = np.argsort(-lengths, kind="stable")  # longest first                      (B,)
        self.rank = np.argsort(self.order)  # series b is row rank[b] of the sorted batch       (B,)
        t = np.arange(steps)[:, None]
        reverse = np.where(t < lengths, lengths - 1 - t, t)
        self.steps = np.stack([np.broadcast_to(t, reverse.shape), reverse][:directions])  # (D, T, B)
        ends = np.unique(lengths)  # ascending
        running = (lengths[:, None] >= ends).sum(axis=0)  # series running up to each end
        self.segments = list(zip(np.concatenate([[0], ends[:-1]]), ends, running))  # (begin, end, n)

    def to_reading_order(self, a):
        """a: (T, B, D, K) per direction in time order -> (D, T, B, K) in reading order, the batch sorted."""
        directions = np.arange(len(self.steps))[:, None, None]
        return a[self.steps[:, :, self.order], self.order, directions]

    def to_time_order(self, a):
        """The inverse: a (D, T, B, K) in reading order, the batch sorted -> (T, B, D, K) in time order."""
        directions = np.arange(len(self.steps))
        return a[directions, self.steps.transpose(1, 2, 0), self.rank[:, None]]


class LSTMCell(Module):
    """One LSTM step with its own parameters: weight_ih (4H, input_size), weight_hh (4H, H), bias_ih, bias_hh (4H,).

    forward(x: (B, input_size) or (input_size,), hx=(h, c) each (B, H) or (H,), default zeros) -> (h', c').
    backward(grad_h, grad_c=None) -> (grad_x, (grad_h, grad_c)) and adds the parameter gradients.
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        _add_lstm_parameters(self, "", input_size, hidden_size, bias, dtype, as_generator(rng))

    def forward(self, x, hx=None):
        x = as_module_input(x, f"LSTMCell input (input_size {self.input_size})", (1, 2), self.input_size,
                            self.weight_ih.dtype)
        h, c = _initial_state(hx, x.shape[:-1] + (self.hidden_size,), x.dtype, "LSTMCell")
        biases = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        (h_new, c_new), self._cache = F.lstm_cell(x, h, c, self.weight_ih.data, self.weight_hh.data, *biases)
        return h_new, c_new

    def backward(self, grad_h, grad_c=None):
        cache = self._saved()
        shape = cache[2].shape  # c: the shape of h' and c'
        grad_h = _upstream(grad_h, shape, "LSTMCell grad_h")
        grads = F.lstm_cell_backward(grad_h, _upstream(grad_c, shape, "LSTMCell grad_c"), cache)
        grad_x, grad_h_prev, grad_c_prev = grads[:3]
        for name, grad in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), grads[3:]):
            if grad is not None:  # no bias gradients without biases
                getattr(self, name).accumulate(grad)
        return grad_x, (grad_h_prev, grad_c_prev)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class LSTM(Module):
    """A stack of ``num_layers`` LSTM layers, each one direction or two (``bidirectional``), as ``torch.nn.LSTM``.

    Parameters per layer k and direction (suffix "" or "_reverse"): weight_ih_l{k} (4H, in_k), weight_hh_l{k}
    (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,); in_0 = input_size, in_k = D * H after (D = 2 if bidirectional).
    With dropout > 0, in training mode each layer's output but the last goes through dropout, masks drawn
    from the module's Generator (``rng``).

    forward(x, hx=None, lengths=None) -> (output, (h_n, c_n)):
        x: (T, B, input_size), or (B, T, input_size) with batch_first, or unbatched (T, input_size);
        hx = (h0, c0), each (num_layers * D, B, H) ((num_layers * D, H) unbatched), default zeros;
        lengths: None, or (B,) integers in [1, T]: series b is x's first lengths[b] steps and the rest is
        padding, read as PyTorch reads ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` (see
        ``_Packing``): no padded step is read, the reverse direction starts at the series' own last step;
        output: (T, B, D * H) or (B, T, D * H) (unbatched (T, D * H)), the last layer's h_t, the two directions
        concatenated [forward | reverse], 0 at padded steps (``pad_packed_sequence(..., total_length=T)``);
        h_n, c_n: (num_layers * D, B, H), row layer * D + direction, each series' own final states.
    backward(grad_output, grad_h_n=None, grad_c_n=None) -> (grad_x, (grad_h0, grad_c0)), shapes of x and hx;
        adds every parameter's gradient into ``.grad``. A None upstream gradient counts as zero; with
        lengths, the upstream gradient at padded steps is ignored (those outputs are constant 0) and
        grad_x is 0 there.
    Under ``nn.no_grad()`` the forward keeps no cache (one step's gates at a time), so no backward can follow.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=np.float32, rng=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"num_layers: expected a positive integer, got {num_layers!r}")
        check_probability(dropout, "LSTM dropout")
        if dropout > 0 and num_layers == 1:
            warnings.warn("LSTM dropout acts between layers, so with num_layers=1 it does nothing "
                          f"(dropout={dropout}, num_layers=1), as in PyTorch", UserWarning, stacklevel=2)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, dropout, bidirectional
        self.rng = as_generator(rng)
        self._suffixes = ("", "_reverse") if bidirectional else ("",)
        # One per layer, reused call after call: a layer's cache lives in its workspace until the next forward.
        self._workspaces = [Workspace() for _ in range(num_layers)]
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else len(self._suffixes) * hidden_size
            for suffix in self._suffixes:
                _add_lstm_parameters(self, f"_l{layer}{suffix}", layer_input, hidden_size, bias, dtype, self.rng)

    def _directions(self, layer):
        """The Parameters of ``layer``, one dict per direction: {"weight_ih": ..., "weight_hh": ..., ...}."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        return [{n: getattr(self, f"{n}_l{layer}{s}") for n in names} for s in self._suffixes]

    def _stacked_weights(self, layer):
        """weight_ih (D, 4H, in), weight_hh (D, 4H, H), bias (D, 4H) = b_ih + b_hh or None: ``K.lstm``'s arguments."""
        dirs = self._directions(layer)
        bias = np.stack([d["bias_ih"].data + d["bias_hh"].data for d in dirs]) if self.bias else None
        return np.stack([d["weight_ih"].data for d in dirs]), np.stack([d["weight_hh"].data for d in dirs]), bias

    def _time_major(self, a, unbatched):
        """(T, B, K) view of an array laid out like the input (x, output, grad_output)."""
        return a[:, None] if unbatched else (a.swapaxes(0, 1) if self.batch_first else a)

    def _input_layout(self, a, unbatched):
        """The inverse of ``_time_major``."""
        return a[:, 0] if unbatched else (a.swapaxes(0, 1) if self.batch_first else a)

    def forward(self, x, hx=None, lengths=None):
        x = as_module_input(x, f"LSTM input (input_size {self.input_size})", (2, 3), self.input_size,
                            self.weight_ih_l0.dtype)
        unbatched = x.ndim == 2
        seq = self._time_major(x, unbatched)  # (T, B, I)
        T, B = seq.shape[:2]
        if T == 0 or B == 0:
            raise ValueError(f"LSTM input: expected at least one time step and one sequence, got shape {x.shape}")
        packing = None
        if lengths is not None:
            if unbatched:
                raise ValueError(f"LSTM lengths: given for an unbatched input of shape {x.shape}; lengths "
                                 "describe the series of a batch")
            lengths = as_lengths(lengths, B, T, "LSTM lengths")
            if lengths.min() < T:  # series that all run T steps are read as an unpadded batch: the same steps
                packing = _Packing(lengths, T, len(self._suffixes))
        D, H = len(self._suffixes), self.hidden_size
        state_shape = (self.num_layers * D,) + ((H,) if unbatched else (B, H))
        h0, c0 = (s[:, None] if unbatched else s for s in _initial_state(hx, state_shape, x.dtype, "LSTM"))
        h_n, c_n = np.empty((2, self.num_layers * D, B, H), x.dtype)
        caches, keep_cache = [], is_grad_enabled()
        for layer in range(self.num_layers):
            mask = None
            if layer > 0 and self.training:  # dropout on every layer's output but the last, as PyTorch
                seq, mask = F.dropout(seq, self.dropout, True, self.rng)
            rows = slice(layer * D, (layer + 1) * D)
            # The layer's output in the input's layout (C-contiguous for the next consumer), [forward | reverse]
            # in time order; out is its (T, B, D*H) view, the next layer's seq.
            output = np.empty(x.shape[:-1] + (D * H,), x.dtype)
            out = self._time_major(output, unbatched)
            run = self._layer if packing is None else self._packed_layer
            h_n[rows], c_n[rows], cache = run(layer, seq, h0[rows], c0[rows], out, packing, keep_cache)
            seq = out
            caches.append((mask, cache))
        h_n, c_n = (h_n[:, 0], c_n[:, 0]) if unbatched else (h_n, c_n)
        self._cache = (caches, packing, unbatched, output.shape, h_n.shape) if keep_cache else None
        return output, (h_n, c_n)

    def _layer(self, layer, seq, h0, c0, out, _, keep_cache):
        """One layer over the whole batch, both directions in one ``kernels.lstm`` loop: seq (T, B, in), h0, c0
        (D, B, H) -> (h_n, c_n (D, B, H), cache or None), the output written into out (T, B, D*H) in time
        order."""
        D, ws = len(self._suffixes), self._workspaces[layer]
        xs = np.stack(_in_reading_order([seq] * D), out=ws.empty("LSTM input", (D,) + seq.shape, seq.dtype))
        (out_d, h_n, c_n), cache = K.lstm(xs, h0, c0, *self._stacked_weights(layer), workspace=ws,
                                          keep_cache=keep_cache)  # (D, T, B, H)
        copy_lstm_output(out_d, out)
        return h_n, c_n, cache

    def _packed_layer(self, layer, seq, h0, c0, out, packing, keep_cache):
        """``_layer`` for series of their own lengths: one ``kernels.lstm`` call per segment of ``packing``."""
        D, H = len(self._suffixes), self.hidden_size
        xs = packing.to_reading_order(np.broadcast_to(seq[:, :, None], seq.shape[:2] + (D,) + seq.shape[2:]))
        h, c = h0[:, packing.order], c0[:, packing.order]  # (D, B, H), sorted: each series' latest state
        out_d = np.zeros(xs.shape[:-1] + (H,), seq.dtype)  # (D, T, B, H) in reading order; 0 where nothing runs
        weights, caches = self._stacked_weights(layer), []
        for begin, end, n in packing.segments:
            (out_d[:, begin:end, :n], h[:, :n], c[:, :n]), cache = K.lstm(
                xs[:, begin:end, :n], h[:, :n], c[:, :n], *weights,
                keep_cache=keep_cache)  # the first n series, steps begin..end-1
            caches.append(cache)
        out[...] = packing.to_time_order(out_d).reshape(out.shape)
        return h[:, packing.rank], c[:, packing.rank], caches

    def backward(self, grad_output, grad_h_n=None, grad_c_n=None):
        caches, packing, unbatched, output_shape, state_shape = self._saved()
        D, H = len(self._suffixes), self.hidden_size
        grad_output = _upstream(grad_output, output_shape, "LSTM grad_output")
        grad_n = [None if g is None else (g[:, None] if unbatched else g)
                  for g in (_upstream(grad_h_n, state_shape, "LSTM grad_h_n"),
                            _upstream(grad_c_n, state_shape, "LSTM grad_c_n"))]
        dtype = self.weight_ih_l0.dtype
        grad = (np.zeros(output_shape, dtype) if grad_output is None else grad_output)
        grad = self._time_major(grad, unbatched)  # (T, B, D*H)
        grad_h0, grad_c0 = np.empty((2, self.num_layers * D) + grad.shape[1:2] + (H,), dtype)
        for layer in reversed(range(self.num_layers)):
            mask, cache = caches[layer]
            rows = slice(layer * D, (layer + 1) * D)
            run = self._layer_backward if packing is None else self._packed_layer_backward
            grad_xs, grad_h0[rows], grad_c0[rows] = run(
                layer, grad.reshape(grad.shape[:2] + (D, H)),  # (T, B, D, H): each direction's part
                *[None if g is None else g[rows] for g in grad_n], cache, packing)
            grad = sum(grad_xs)  # both directions read the same input: their gradients add            (T, B, in)
            grad = F.dropout_backward(grad, mask)
        if unbatched:
            grad_h0, grad_c0 = grad_h0[:, 0], grad_c0[:, 0]
        return self._input_layout(grad, unbatched), (grad_h0, grad_c0)

    def _layer_backward(self, layer, grad, grad_h_n, grad_c_n, cache, _):
        """The backward of ``_layer``: grad (T, B, D, H) -> (grad_xs (D, T, B, in), each direction's gradient of
        the layer's input in time order; grad_h0, grad_c0 (D, B, H)); adds the layer's parameter gradients."""
        D, ws = len(self._suffixes), self._workspaces[layer]
        grad_out = np.stack(_in_reading_order(np.moveaxis(grad, 2, 0)),  # (D, T, B, H), each direction's order
                            out=ws.empty("LSTM grad_output", (D,) + grad.shape[:2] + grad.shape[3:], grad.dtype))
        grad_xs, grad_h0, grad_c0, *grad_w = K.lstm_backward(grad_out, grad_h_n, grad_c_n, cache, workspace=ws)
        self._accumulate(layer, *grad_w)
        return _in_reading_order(grad_xs), grad_h0, grad_c0

    def _packed_layer_backward(self, layer, grad, grad_h_n, grad_c_n, caches, packing):
        """The backward of ``_packed_layer``: its segments in reverse, dL/dh and dL/dc carried from each
        segment's start to the end of the one before."""
        D = len(self._suffixes)
        grad_out = packing.to_reading_order(grad)  # (D, T, B, H), sorted; the padded steps' entries are never read
        # dL/dh, dL/dc at the end of the segment at hand: h_n's and c_n's for the series that stop there, what
        # the later segments sent back for the others
        dh, dc = (np.zeros_like(grad_out[:, 0]) if g is None else g[:, packing.order] for g in (grad_h_n, grad_c_n))
        in_size = self.input_size if layer == 0 else D * self.hidden_size
        grad_xs = np.zeros(grad_out.shape[:-1] + (in_size,), grad_out.dtype)  # (D, T, B, in); 0 on the padding
        for (begin, end, n), cache in reversed(list(zip(packing.segments, caches))):
            grad_xs[:, begin:end, :n], dh[:, :n], dc[:, :n], *grad_w = K.lstm_backward(
                grad_out[:, begin:end, :n], dh[:, :n], dc[:, :n], cache)  # now dL/dh, dL/dc at the start
            self._accumulate(layer, *grad_w)
        return np.moveaxis(packing.to_time_order(grad_xs), 2, 0), dh[:, packing.rank], dc[:, packing.rank]

    def _accumulate(self, layer, grad_w_ih, grad_w_hh, grad_bias):
        """Add one layer's weight gradients, (D, 4H, in), (D, 4H, H), (D, 4H) or None, into its Parameters."""
        for d, params in enumerate(self._directions(layer)):
            params["weight_ih"].accumulate(grad_w_ih[d])
            params["weight_hh"].accumulate(grad_w_hh[d])
            if self.bias:  # a = ... + b_ih + b_hh: both biases get dL/da
                params["bias_ih"].accumulate(grad_bias[d])
                params["bias_hh"].accumulate(grad_bias[d])

    def extra_repr(self):
        defaults = dict(num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False)
        changed = [f"{k}={getattr(self, k)}" for k, v in defaults.items() if getattr(self, k) != v]
        return ", ".join([f"{self.input_size}, {self.hidden_size}"] + changed)
