"""LSTM: the functional pairs and nn.LSTM / nn.LSTMCell against PyTorch (float64), finite differences,
the fast sequence pass against the plain cell, gradient accumulation, dropout between layers, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FD_TOL, arrays, assert_close, lstm_directions_threaded, num_threads, tensor, upstream_grads
from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn import kernels as K
from numpy_attn.gradcheck import check_function, check_module
from numpy_attn.kernels.lstm import BLOCK
from numpy_attn.kernels.workspace import Workspace
from torch_ref.convert import numpy_to_torch

# Short sequences, and ones that span several of the kernel's blocks of steps with a shorter last block.
LENGTHS = st.one_of(st.integers(1, 6), st.integers(BLOCK - 1, 2 * BLOCK + 3))


def draw_upstream(data, outputs):
    return [data.draw(upstream_grads(np.shape(o)), label="upstream gradient") for o in outputs]


def torch_backward(outputs, leaves, upstream):
    """backward() of sum_k sum(outputs_k * upstream_k) (None: no gradient): fills the parameters' .grad; returns the leaves' grads."""
    sum((o * tensor(g, False)).sum() for o, g in zip(outputs, upstream) if g is not None).backward()
    return [leaf.grad for leaf in leaves]


def torch_lstm_like(model):
    """A float64 torch.nn.LSTM / LSTMCell with the same configuration and weights as ``model``."""
    if isinstance(model, nn.LSTMCell):
        ref = torch.nn.LSTMCell(model.input_size, model.hidden_size, bias=model.bias)
    else:
        ref = torch.nn.LSTM(model.input_size, model.hidden_size, model.num_layers, bias=model.bias,
                            batch_first=model.batch_first, dropout=model.dropout, bidirectional=model.bidirectional)
    return numpy_to_torch(model, ref.double())


def assert_grads_match_torch(model, ref):
    torch_grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, torch_grads[name].grad, name=f"grad {name}")


# --- nn.LSTM against torch.nn.LSTM --------------------------------------------------------------

@given(data=st.data(), input_size=st.integers(1, 4), hidden_size=st.integers(1, 5), num_layers=st.integers(1, 3),
       bidirectional=st.booleans(), batch_first=st.booleans(), batch=st.integers(1, 3), length=LENGTHS,
       with_hx=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_lstm_matches_torch(data, input_size, hidden_size, num_layers, bidirectional, batch_first, batch, length,
                            with_hx, bias, seed):
    model = nn.LSTM(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                    bidirectional=bidirectional, dtype=np.float64, rng=seed)
    ref = torch_lstm_like(model)
    x = data.draw(arrays((batch, length, input_size) if batch_first else (length, batch, input_size)), label="x")
    state_shape = (num_layers * (2 if bidirectional else 1), batch, hidden_size)
    hx = (data.draw(arrays(state_shape), label="h0"), data.draw(arrays(state_shape), label="c0")) if with_hx else None
    output, (h_n, c_n) = model(x, hx)
    upstream = draw_upstream(data, (output, h_n, c_n))
    grad_x, (grad_h0, grad_c0) = model.backward(*upstream)

    leaves = [tensor(x)] + ([tensor(a) for a in hx] if with_hx else [])
    t_out, (t_h, t_c) = ref(leaves[0], tuple(leaves[1:]) if with_hx else None)
    t_grads = torch_backward([t_out, t_h, t_c], leaves, upstream)
    for name, ours, theirs in [("output", output, t_out), ("h_n", h_n, t_h), ("c_n", c_n, t_c),
                               ("grad_x", grad_x, t_grads[0])]:
        assert_close(ours, theirs, name=name)
    if with_hx:
        assert_close(grad_h0, t_grads[1], name="grad_h0")
        assert_close(grad_c0, t_grads[2], name="grad_c0")
    assert_grads_match_torch(model, ref)


@given(data=st.data(), length=st.integers(1, 5), bidirectional=st.booleans(), with_hx=st.booleans())
@settings(max_examples=10)
def test_lstm_unbatched_matches_torch(data, length, bidirectional, with_hx):
    """2-D input (T, input_size) and hx (num_layers * D, H), as PyTorch (batch_first does not apply)."""
    model = nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional, dtype=np.float64, rng=1)
    ref = torch_lstm_like(model)
    x = data.draw(arrays((length, 3)), label="x")
    state_shape = (4 if bidirectional else 2, 4)
    hx = (data.draw(arrays(state_shape)), data.draw(arrays(state_shape))) if with_hx else None
    output, (h_n, c_n) = model(x, hx)
    assert output.shape == (length, 8 if bidirectional else 4) and h_n.shape == state_shape
    upstream = draw_upstream(data, (output, h_n, c_n))
    grad_x, (grad_h0, grad_c0) = model.backward(*upstream)

    leaves = [tensor(x)] + ([tensor(a) for a in hx] if with_hx else [])
    t_out, (t_h, t_c) = ref(leaves[0], tuple(leaves[1:]) if with_hx else None)
    t_grads = torch_backward([t_out, t_h, t_c], leaves, upstream)
    for name, ours, theirs in zip(["output", "h_n", "c_n", "grad_x", "grad_h0", "grad_c0"],
                                  [output, h_n, c_n, grad_x, grad_h0, grad_c0], [t_out, t_h, t_c, *t_grads]):
        if theirs is not None:
            assert_close(ours, theirs, name=name)
    assert grad_h0.shape == grad_c0.shape == state_shape
    assert_grads_match_torch(model, ref)


def test_lstm_upstream_gradient_on_output_only_matches_torch():
    """backward(grad_output) alone: h_n and c_n get no gradient, as out.backward(g) in PyTorch."""
    rng = np.random.default_rng(3)
    model = nn.LSTM(2, 3, num_layers=2, batch_first=True, bidirectional=True, dtype=np.float64, rng=3)
    ref = torch_lstm_like(model)
    x, g = rng.standard_normal((2, 7, 2)), rng.standard_normal((2, 7, 6))
    model(x)
    grad_x, _ = model.backward(g)
    tx = tensor(x)
    ref(tx)[0].backward(torch.from_numpy(g))
    assert_close(grad_x, tx.grad, name="grad_x")
    assert_grads_match_torch(model, ref)


def test_lstm_float32_matches_torch_float32():
    """The float32 module (the training default) agrees with torch's float32 LSTM to float32 rounding."""
    rng = np.random.default_rng(4)
    model = nn.LSTM(1, 32, batch_first=True, bidirectional=True, rng=4)
    ref = numpy_to_torch(model, torch.nn.LSTM(1, 32, batch_first=True, bidirectional=True))
    x, g = rng.standard_normal((4, 50, 1)).astype(np.float32), rng.standard_normal((4, 50, 64)).astype(np.float32)
    output, (h_n, _) = model(x)
    grad_x, _ = model.backward(g)
    assert output.dtype == h_n.dtype == grad_x.dtype == model.weight_hh_l0.grad.dtype == np.float32
    tx = torch.from_numpy(x).requires_grad_()
    t_out, (t_h, _) = ref(tx)
    t_out.backward(torch.from_numpy(g))
    for name, ours, theirs in [("output", output, t_out), ("h_n", h_n, t_h), ("grad_x", grad_x, tx.grad)]:
        assert_close(ours, theirs, tol=1e-5, name=name)
    torch_grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, torch_grads[name].grad, tol=1e-5, name=f"grad {name}")


def test_lstm_parameters_mirror_torch():
    """Same names, order and shapes as torch.nn.LSTM; PyTorch's init rule U(-1/sqrt(H), 1/sqrt(H)); seedable."""
    model = nn.LSTM(3, 64, num_layers=2, bidirectional=True, rng=0)
    ref = torch.nn.LSTM(3, 64, num_layers=2, bidirectional=True)
    assert [(k, tuple(p.shape)) for k, p in model.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in ref.named_parameters()]
    assert list(model.state_dict()) == list(ref.state_dict())
    bound = 1 / math.sqrt(64)
    for name, p in model.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound, name
        assert p.data.min() < -0.9 * bound and p.data.max() > 0.9 * bound, f"{name} does not fill the interval"
    again = nn.LSTM(3, 64, num_layers=2, bidirectional=True, rng=0).state_dict()
    assert all(np.array_equal(v, again[k]) for k, v in model.state_dict().items())
    other = nn.LSTM(3, 64, num_layers=2, bidirectional=True, rng=1).state_dict()
    assert not np.array_equal(other["weight_ih_l0"], model.state_dict()["weight_ih_l0"])


def test_lstm_without_bias_has_no_bias_parameters():
    names = [k for k, _ in nn.LSTM(2, 3, bias=False, bidirectional=True).named_parameters()]
    assert names == [k for k, _ in torch.nn.LSTM(2, 3, bias=False, bidirectional=True).named_parameters()]


# --- finite differences -------------------------------------------------------------------------

@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_finite_differences(bidirectional):
    rng = np.random.default_rng(5)
    model = nn.LSTM(2, 3, num_layers=2, batch_first=True, bidirectional=bidirectional, dtype=np.float64, rng=5)
    d = 2 if bidirectional else 1
    x = rng.standard_normal((2, 4, 2))
    hx = (rng.standard_normal((2 * d, 2, 3)), rng.standard_normal((2 * d, 2, 3)))
    errors = check_module(model, x, hx)
    assert len(errors) == 3 + len(model.parameters())
    assert max(errors.values()) < FD_TOL, errors


def test_lstm_cell_module_finite_differences():
    rng = np.random.default_rng(6)
    cell = nn.LSTMCell(3, 4, dtype=np.float64, rng=6)
    errors = check_module(cell, rng.standard_normal((2, 3)), (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))))
    assert max(errors.values()) < FD_TOL, errors


def test_functional_lstm_finite_differences():
    """F.lstm / F.lstm_backward on two directions (D = 2), every input and weight."""
    rng = np.random.default_rng(7)
    D, T, B, I, H = 2, 3, 2, 2, 3
    inputs = [rng.standard_normal(s) for s in
              [(D, T, B, I), (D, B, H), (D, B, H), (D, 4 * H, I), (D, 4 * H, H), (D, 4 * H)]]
    errors = check_function(F.lstm, lambda grads, cache: F.lstm_backward(*grads, cache), inputs)
    assert len(errors) == 6
    assert max(errors.values()) < FD_TOL, errors


# --- the whole-sequence functions ---------------------------------------------------------------
# (the kernel against the textbook, step by step: tests/test_kernels.py)

@pytest.mark.parametrize("impl", [F, K], ids=["textbook", "kernel"])
@given(data=st.data(), which=st.sampled_from(["grad_out", "grad_h_n", "grad_c_n"]), length=LENGTHS)
@settings(max_examples=10)
def test_lstm_backward_none_upstream_is_zero(impl, data, which, length):
    """A None upstream gradient counts as zero: the same gradients, to the bit, as an explicit zero array."""
    D, T, B, I, H = 2, length, 2, 2, 3
    x, h0, c0, w_ih, w_hh, bias = [data.draw(arrays(s)) for s in
                                   [(D, T, B, I), (D, B, H), (D, B, H), (D, 4 * H, I), (D, 4 * H, H), (D, 4 * H)]]
    (out, h_n, c_n), cache = impl.lstm(x, h0, c0, w_ih, w_hh, bias)
    upstream = dict(zip(["grad_out", "grad_h_n", "grad_c_n"], draw_upstream(data, (out, h_n, c_n))))
    zero = {**upstream, which: np.zeros_like(upstream[which])}
    missing = {**upstream, which: None}
    for a, b in zip(impl.lstm_backward(*zero.values(), cache), impl.lstm_backward(*missing.values(), cache)):
        np.testing.assert_array_equal(a, b)


# --- nn.LSTMCell ------------------------------------------------------------------------------

@given(data=st.data(), input_size=st.integers(1, 4), hidden_size=st.integers(1, 5), batch=st.integers(1, 3),
       with_hx=st.booleans(), with_grad_c=st.booleans(), bias=st.booleans(), unbatched=st.booleans())
def test_lstm_cell_matches_torch(data, input_size, hidden_size, batch, with_hx, with_grad_c, bias, unbatched):
    cell = nn.LSTMCell(input_size, hidden_size, bias=bias, dtype=np.float64, rng=data.draw(st.integers(0, 99)))
    ref = torch_lstm_like(cell)
    lead = () if unbatched else (batch,)
    x = data.draw(arrays(lead + (input_size,)), label="x")
    hx = (data.draw(arrays(lead + (hidden_size,))), data.draw(arrays(lead + (hidden_size,)))) if with_hx else None
    h, c = cell(x, hx)
    grad_h, grad_c = draw_upstream(data, (h, c))
    grad_c = grad_c if with_grad_c else None
    grad_x, (grad_h0, grad_c0) = cell.backward(grad_h, grad_c)

    leaves = [tensor(x)] + ([tensor(a) for a in hx] if with_hx else [])
    t_h, t_c = ref(leaves[0], tuple(leaves[1:]) if with_hx else None)
    t_grads = torch_backward([t_h, t_c], leaves, [grad_h, grad_c])
    assert_close(h, t_h, name="h'")
    assert_close(c, t_c, name="c'")
    assert_close(grad_x, t_grads[0], name="grad_x")
    if with_hx:
        assert_close(grad_h0, t_grads[1], name="grad_h")
        assert_close(grad_c0, t_grads[2], name="grad_c")
    assert_grads_match_torch(cell, ref)


def test_lstm_cell_parameters_mirror_torch():
    cell, ref = nn.LSTMCell(3, 5, rng=0), torch.nn.LSTMCell(3, 5)
    assert [(k, p.shape) for k, p in cell.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in ref.named_parameters()]
    assert max(np.abs(p.data).max() for p in cell.parameters()) <= 1 / math.sqrt(5)


# --- accumulation -------------------------------------------------------------------------------

def test_lstm_gradients_accumulate_over_backward_calls():
    """Two forward/backward rounds add up: grads equal the sum of each round's grads (PyTorch's .grad)."""
    rng = np.random.default_rng(8)
    model = nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, rng=8)
    xs = [rng.standard_normal((4, 2, 2)) for _ in range(2)]
    gs = [rng.standard_normal((4, 2, 6)) for _ in range(2)]
    single = []
    for x, g in zip(xs, gs):
        model.zero_grad()
        model(x)
        model.backward(g)
        single.append({k: p.grad.copy() for k, p in model.named_parameters()})
    model.zero_grad()
    for x, g in zip(xs, gs):
        model(x)
        model.backward(g)
    for name, p in model.named_parameters():
        assert_close(p.grad, single[0][name] + single[1][name], name=name)
    # backward twice on one forward: the same gradient added twice
    model.zero_grad()
    model(xs[0])
    first, _ = model.backward(gs[0])
    again, _ = model.backward(gs[0])
    assert_close(again, first, name="grad_x (repeated backward)")
    for name, p in model.named_parameters():
        assert_close(p.grad, 2 * single[0][name], name=name)


def _round(model, x, g):
    """One forward/backward from zero gradients: every result, copied."""
    model.zero_grad()
    output, (h_n, c_n) = model(x)
    grad_x, (grad_h0, grad_c0) = model.backward(g, h_n, c_n)  # h_n, c_n as upstream: every input of the backward
    grads = {k: p.grad.copy() for k, p in model.named_parameters()}
    return [output, h_n, c_n, grad_x, grad_h0, grad_c0], grads


def test_lstm_reuses_its_workspace_without_changing_any_result():
    """nn.LSTM keeps its per-step arrays from call to call (numpy_attn.kernels.workspace): after rounds of other
    shapes, and of the same shape, a round gives bit for bit what a fresh module gives, and the arrays an
    earlier round returned are left as they were."""
    rng = np.random.default_rng(10)
    model = nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, rng=10)
    state = model.state_dict()
    kept = []
    for batch, length in [(2, 5), (2, 5), (3, 20), (1, 1), (2, 5)]:
        x, g = rng.standard_normal((batch, length, 2)), rng.standard_normal((batch, length, 6))
        fresh = nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
        fresh.load_state_dict(state)
        results, grads = _round(model, x, g)
        want, want_grads = _round(fresh, x, g)
        for a, b in zip(results + list(grads.values()), want + list(want_grads.values())):
            np.testing.assert_array_equal(a, b)
        kept.append((results, [r.copy() for r in results]))
    for results, copies in kept:
        for a, b in zip(results, copies):
            np.testing.assert_array_equal(a, b)


def test_lstm_kernel_with_a_workspace_gives_the_fresh_results():
    rng = np.random.default_rng(11)
    ws = Workspace()
    D, B, I, H = 2, 3, 2, 4
    weights = [rng.standard_normal(s) for s in ((D, 4 * H, I), (D, 4 * H, H), (D, 4 * H))]
    for T in (5, 5, BLOCK + 3):
        x, h0, c0 = rng.standard_normal((D, T, B, I)), rng.standard_normal((D, B, H)), rng.standard_normal((D, B, H))
        g = [rng.standard_normal((D, T, B, H)), rng.standard_normal((D, B, H)), rng.standard_normal((D, B, H))]
        (out, h_n, c_n), cache = K.lstm(x, h0, c0, *weights, workspace=ws)
        (want_out, want_h, want_c), want_cache = K.lstm(x, h0, c0, *weights)
        for a, b in [(out, want_out), (h_n, want_h), (c_n, want_c)]:
            np.testing.assert_array_equal(a, b)
        for a, b in zip(K.lstm_backward(*g, cache, workspace=ws), K.lstm_backward(*g, want_cache)):
            np.testing.assert_array_equal(a, b)


def test_lstm_backward_leaves_numpys_buffer_size_as_it_was():
    """The backward sets a smaller ufunc buffer for its block work (see _row_buffer) and restores it."""
    model = nn.LSTM(1, 4, bidirectional=True, dtype=np.float64, rng=0)
    before = np.getbufsize()
    model.backward(np.ones_like(model(np.ones((BLOCK + 2, 3, 1)))[0]))
    assert np.getbufsize() == before


def test_lstm_cell_gradients_accumulate():
    rng = np.random.default_rng(9)
    cell = nn.LSTMCell(2, 3, dtype=np.float64, rng=9)
    x, g = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    cell(x)
    cell.backward(g)
    once = {k: p.grad.copy() for k, p in cell.named_parameters()}
    cell.backward(g)
    for name, p in cell.named_parameters():
        assert_close(p.grad, 2 * once[name], name=name)


# --- dropout between layers ---------------------------------------------------------------------

class FixedMaskLSTM(nn.LSTM):
    """Restarts its Generator before every forward, so every forward draws the same dropout masks."""

    def forward(self, x, hx=None):
        self.rng = np.random.default_rng(11)
        return super().forward(x, hx)


def torch_layers_with_masks(model, x, hx, masks):
    """The stacked LSTM as separate one-layer torch LSTMs, our masks multiplied in between (time-major)."""
    d = 2 if model.bidirectional else 1
    seq, h_n, c_n = x, [], []
    for layer in range(model.num_layers):
        if layer > 0:
            seq = seq * tensor(masks[layer - 1], False)
        ref = torch.nn.LSTM(seq.shape[-1], model.hidden_size, bidirectional=model.bidirectional).double()
        state = {k: v for k, v in model.state_dict().items() if f"_l{layer}" in k}
        ref.load_state_dict({k.replace(f"_l{layer}", "_l0"): torch.from_numpy(v) for k, v in state.items()})
        rows = slice(layer * d, (layer + 1) * d)
        seq, (h, c) = ref(seq, (hx[0][rows], hx[1][rows]))
        h_n.append(h)
        c_n.append(c)
    return seq, torch.cat(h_n), torch.cat(c_n)


def test_lstm_dropout_masks_follow_the_seed_and_match_torch_with_those_masks():
    """In training mode the masks are F.dropout's, drawn from the module's Generator layer by layer;
    with the same masks applied between torch's layers, output and every gradient match torch."""
    rng = np.random.default_rng(10)
    p, T, B, H = 0.4, 5, 3, 4
    model = FixedMaskLSTM(2, H, num_layers=3, dropout=p, bidirectional=True, dtype=np.float64, rng=10)
    x = rng.standard_normal((T, B, 2))
    hx = (rng.standard_normal((6, B, H)), rng.standard_normal((6, B, H)))
    output, (h_n, c_n) = model(x, hx)
    again, _ = model(x, hx)
    np.testing.assert_array_equal(output, again)  # same seed, same masks
    gen = np.random.default_rng(11)  # the masks: F.dropout on ones, from the same Generator, in layer order
    masks = [F.dropout(np.ones((T, B, 2 * H)), p, True, gen)[0] for _ in range(2)]
    assert all(0 < (m == 0).mean() < 1 for m in masks)

    upstream = [rng.standard_normal(a.shape) for a in (output, h_n, c_n)]
    grad_x, (grad_h0, grad_c0) = model.backward(*upstream)
    leaves = [tensor(x), tensor(hx[0]), tensor(hx[1])]
    t_out, t_h, t_c = torch_layers_with_masks(model, leaves[0], leaves[1:], masks)
    t_grads = torch_backward([t_out, t_h, t_c], leaves, upstream)
    for name, ours, theirs in zip(["output", "h_n", "c_n", "grad_x", "grad_h0", "grad_c0"],
                                  [output, h_n, c_n, grad_x, grad_h0, grad_c0], [t_out, t_h, t_c, *t_grads]):
        assert_close(ours, theirs, name=name)


def test_lstm_dropout_backward_finite_differences_with_a_fixed_mask():
    rng = np.random.default_rng(12)
    model = FixedMaskLSTM(2, 3, num_layers=2, dropout=0.5, batch_first=True, bidirectional=True,
                          dtype=np.float64, rng=12)
    x = rng.standard_normal((2, 4, 2))
    errors = check_module(model, x)
    assert max(errors.values()) < FD_TOL, errors


def test_lstm_dropout_fresh_masks_in_training_and_none_in_eval():
    rng = np.random.default_rng(13)
    model = nn.LSTM(2, 4, num_layers=2, dropout=0.5, dtype=np.float64, rng=13)
    twin = nn.LSTM(2, 4, num_layers=2, dropout=0.5, dtype=np.float64, rng=13)
    x = rng.standard_normal((6, 3, 2))
    first, second = model(x)[0], model(x)[0]
    assert not np.allclose(first, second)  # the Generator moves on: a new mask each forward
    np.testing.assert_array_equal(twin(x)[0], first)  # same seed: the same sequence of masks
    model.eval()
    ref = torch_lstm_like(model).eval()
    assert_close(model(x)[0], ref(tensor(x))[0], name="eval output")
    assert_close(model(x)[0], model(x)[0], name="eval is deterministic")


def test_lstm_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(2, 3, dropout=0.5)


# --- bad input ----------------------------------------------------------------------------------

def test_lstm_rejects_bad_input():
    model = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, rng=0)
    good = np.zeros((2, 5, 3))
    state = np.zeros((4, 2, 4))
    with pytest.raises(ValueError, match="input_size 3"):
        model(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        model(np.zeros((2, 2, 5, 3)))
    with pytest.raises(ValueError, match="at least one time step"):
        model(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model(np.full((2, 5, 3), np.nan))
    with pytest.raises(TypeError, match="dtype float32"):
        model(good.astype(np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        model(np.zeros((2, 5, 3), dtype=int))
    with pytest.raises(ValueError, match=r"h0: expected shape \(4, 2, 4\)"):
        model(good, (np.zeros((2, 2, 4)), state))
    with pytest.raises(ValueError, match=r"c0: expected shape \(4, 2, 4\)"):
        model(good, (state, np.zeros((4, 2, 3))))
    with pytest.raises(ValueError, match="h0: contains NaN"):
        model(good, (np.full_like(state, np.nan), state))
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        model(good, state)


def test_lstm_lengths_that_all_reach_the_end_read_the_batch_unpadded():
    """lengths all T: every series runs every step, so the module reads the batch as an unpadded one (no
    packing, the kernel on its workspace): the output, the final states and every gradient are those of
    lengths=None, bit for bit."""
    rng = np.random.default_rng(13)
    model = nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, rng=13)
    x, g = rng.standard_normal((3, 6, 2)), rng.standard_normal((3, 6, 6))
    results = []
    for lengths in (None, [6, 6, 6]):
        model.zero_grad()
        out, (h_n, c_n) = model(x, lengths=lengths)
        grad_x, (grad_h0, grad_c0) = model.backward(g, h_n, c_n)
        results.append([out, h_n, c_n, grad_x, grad_h0, grad_c0] + [p.grad.copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("threaded", [False, True])
def test_lstm_under_no_grad_gives_the_same_output_and_refuses_a_backward(with_lengths, threaded):
    """Under nn.no_grad the kernel keeps one step's arrays instead of T (kernels.lstm, keep_cache=False), and
    (threaded: at every size, on two threads) runs each direction's loop and output copy on a thread of its
    own: the output and final states are the same bit for bit, a backward after it is refused with a message
    that names no_grad, and outside the block the module keeps its cache again (the forward's backward works)."""
    rng = np.random.default_rng(12)
    model = nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, rng=12)
    x = rng.standard_normal((4, BLOCK + 3, 2))
    lengths = [BLOCK + 3, 1, 7, BLOCK] if with_lengths else None
    want_out, (want_h, want_c) = model(x, lengths=lengths)
    want_out, want_h, want_c = want_out.copy(), want_h.copy(), want_c.copy()
    with nn.no_grad(), num_threads(2), lstm_directions_threaded(threaded):
        assert not nn.is_grad_enabled()
        out, (h_n, c_n) = model(x, lengths=lengths)
    assert nn.is_grad_enabled()
    for a, b in [(out, want_out), (h_n, want_h), (c_n, want_c)]:
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match=r"LSTM.backward\(\) called before forward\(\), or after a forward under "
                                           r"nn.no_grad\(\)"):
        model.backward(np.ones_like(out))
    out, _ = model(x, lengths=lengths)
    grad_x, _ = model.backward(np.ones_like(out))
    assert grad_x.shape == x.shape and np.abs(grad_x).max() > 0


def test_lstm_backward_rejects_bad_gradients_and_missing_forward():
    model = nn.LSTM(3, 4, batch_first=True, dtype=np.float64, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((2, 5, 4)))
    model(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(2, 5, 4\)"):
        model.backward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"grad_h_n: expected shape \(1, 2, 4\)"):
        model.backward(np.zeros((2, 5, 4)), np.zeros((2, 4)))


def test_lstm_rejects_bad_configuration():
    with pytest.raises(ValueError, match="num_layers"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="probability"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)


def test_lstm_cell_rejects_bad_input():
    cell = nn.LSTMCell(3, 4, rng=0)
    with pytest.raises(ValueError, match="input_size 3"):
        cell(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="dtype float64"):
        cell(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"h0: expected shape \(2, 4\)"):
        cell(np.zeros((2, 3), np.float32), (np.zeros((1, 4), np.float32), np.zeros((2, 4), np.float32)))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.LSTMCell(3, 4).backward(np.zeros((2, 4)))
