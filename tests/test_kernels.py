"""Each kernel of numpy_attn.kernels against its textbook twin in numpy_attn.functional, in float64: the output
and every gradient, over the kernel's tilings, row blocks, time blocks and thread counts.

The twins compute the same sums in different orders and groupings (a product as a BLAS call or an einsum,
a row sum as x 1, a softmax without its shift, a row sum through out), so they differ by rounding only.
A sum of n terms is off by at most n u sum|terms| (u = 1.1e-16); the sizes drawn here keep n below about
50, so TWIN_TOL = 1e-12, measured against the size of the summed terms (``assert_close``'s scale), leaves
a margin over that bound and still fails on any wrong or missing term.
"""

import importlib
import re
import warnings
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import arrays, assert_close, lstm_directions_threaded, num_threads, shapes, upstream_grads
from numpy_attn import functional as F
from numpy_attn import kernels as K
from numpy_attn.kernels import attention as attention_kernel
from numpy_attn.kernels.lstm import BLOCK
from numpy_attn.kernels import parallel, rows
from numpy_attn.kernels.workspace import Workspace
from test_sdpa import sdpa_problems

# The module, not the function ``numpy_attn.kernels.lstm`` that the package's namespace holds under that name.
lstm_kernel = importlib.import_module("numpy_attn.kernels.lstm")

TWIN_TOL = 1e-12
THREADS = st.sampled_from([1, 2, 3])
ROW_BLOCK_BYTES = st.sampled_from([8, 100, 1 << 20])  # blocks of one row, of a few rows, all rows in one
TILE_BYTES = st.sampled_from([8, 24, 40, 64, 200, 1 << 20])  # one row ... whole groups of matrices


@contextmanager
def row_blocks_of(block_bytes):
    """Row blocks of about ``block_bytes``."""
    with mock.patch.object(rows, "BLOCK_BYTES", block_bytes):
        yield


def assert_twins(kernel_results, textbook_results, names, scale):
    """Every result of the kernel equals the textbook's to TWIN_TOL; None where the textbook has None."""
    for name, got, want in zip(names, kernel_results, textbook_results):
        if want is None:
            assert got is None, name
        else:
            assert_close(got, want, tol=TWIN_TOL, name=name, scale=scale)


@contextmanager
def sharing_products(threads):
    """Inside this block the kernels' products are split among ``threads`` threads, however small."""
    with num_threads(threads), mock.patch.object(parallel, "SPLIT_MACS", 1), parallel.own_cores():
        yield


# --- linear ------------------------------------------------------------------------------------------

@given(data=st.data(), lead=shapes(1, 3), n_in=st.integers(1, 6), n_out=st.integers(1, 6), bias=st.booleans(),
       threads=THREADS)
def test_linear_kernel_is_the_textbook(data, lead, n_in, n_out, bias, threads):
    """Every branch: one output feature (the outer product), several (the shared-out products), bias or not."""
    x, w = data.draw(arrays(lead + (n_in,)), label="x"), data.draw(arrays((n_out, n_in)), label="weight")
    b = data.draw(arrays((n_out,)), label="bias") if bias else None
    g = data.draw(upstream_grads(lead + (n_out,)), label="upstream")
    want_y, cache = F.linear(x, w, b)
    want = F.linear_backward(g, cache)
    with sharing_products(threads):
        y, cache = K.linear(x, w, b)
        got = K.linear_backward(g, cache)
    rows_n = int(np.prod(lead))
    mx, mw, mg = (np.abs(a).max() for a in (x, w, g))
    assert_close(y, want_y, tol=TWIN_TOL, name="y", scale=n_in * mx * mw + (np.abs(b).max() if bias else 0))
    assert_twins(got, want, ("grad_x", "grad_weight", "grad_bias"), scale=max(n_out, rows_n) * mg * max(mx, mw))


# --- attention pooling's scorer ----------------------------------------------------------------------

@given(data=st.data(), lead=shapes(1, 3), n_in=st.integers(1, 6), attn=st.integers(1, 6), block_bytes=ROW_BLOCK_BYTES,
       threads=THREADS)
def test_additive_scores_kernel_is_the_textbook(data, lead, n_in, attn, block_bytes, threads):
    """e = w2 . tanh(W1 h + b1) + b2 against the textbook's layers one after the other, over row blocks of one row
    to all rows, on one to three threads. The score sums A terms w2_j t_j, each t_j off by at most a's rounding
    (tanh' <= 1), a summing D terms: the error scale is A max|w2| (D max|h| max|W1| + max|b1| + 1) + |b2|."""
    h = data.draw(arrays(lead + (n_in,)), label="h")
    w1, b1 = data.draw(arrays((attn, n_in)), label="weight1"), data.draw(arrays((attn,)), label="bias1")
    w2, b2 = data.draw(arrays((1, attn)), label="weight2"), data.draw(arrays((1,)), label="bias2")
    hidden, _ = F.tanh(F.linear(h, w1, b1)[0])
    want = F.linear(hidden, w2, b2)[0][..., 0]
    with row_blocks_of(block_bytes), num_threads(threads):
        got = K.additive_scores(h, w1, b1, w2, b2, workspace=Workspace())
    a_terms = n_in * np.abs(h).max() * np.abs(w1).max() + np.abs(b1).max()
    assert_close(got, want, tol=TWIN_TOL, name="e", scale=attn * np.abs(w2).max() * (a_terms + 1) + abs(b2[0]))


def test_additive_scores_kernel_refuses_the_wrong_width():
    with pytest.raises(ValueError, match=r"additive_scores h: expected last dimension 3, got shape \(2, 4\)"):
        K.additive_scores(np.zeros((2, 4)), np.zeros((5, 3)), np.zeros(5), np.zeros((1, 5)), np.zeros(1))


# --- tanh --------------------------------------------------------------------------------------------

@given(data=st.data(), shape=shapes(1, 4), block_bytes=ROW_BLOCK_BYTES, threads=THREADS)
def test_tanh_kernel_is_the_textbook_to_the_last_bit(data, shape, block_bytes, threads):
    """The same calls in the same order on every value, whichever block and thread computes it: equal, not close."""
    x = data.draw(arrays(shape), label="x") * 4
    g = data.draw(upstream_grads(shape), label="upstream")
    want_t, cache = F.tanh(x)
    want_dx = F.tanh_backward(g, cache)
    with row_blocks_of(block_bytes), num_threads(threads):
        t, cache = K.tanh(x)
        dx = K.tanh_backward(g, cache)
    np.testing.assert_array_equal(t, want_t)
    np.testing.assert_array_equal(dx, want_dx)


# --- softmax -----------------------------------------------------------------------------------------

@given(data=st.data(), shape=shapes(1, 4), scale=st.sampled_from([1.0, 1e2, 1e4]), hidden=st.booleans(),
       block_bytes=ROW_BLOCK_BYTES, threads=THREADS)
def test_softmax_kernel_is_the_textbook(data, shape, scale, hidden, block_bytes, threads):
    """Any axis; huge logits (the kernel's shifted path) and small ones (its unshifted path); -inf entries,
    whole rows of them included (hidden positions: weight 0)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = data.draw(arrays(shape), label="x") * scale
    if hidden:
        x = np.where(data.draw(hnp.arrays(bool, shape, elements=st.booleans()), label="hidden"), -np.inf, x)
    g = data.draw(upstream_grads(shape), label="upstream")
    want_a, cache = F.softmax(x, axis)
    want_dx = F.softmax_backward(g, cache)
    with row_blocks_of(block_bytes), num_threads(threads):
        a, cache = K.softmax(x, axis)
        dx = K.softmax_backward(g, cache)
    assert_close(a, want_a, tol=TWIN_TOL, name="a", scale=1.0)
    assert_close(dx, want_dx, tol=TWIN_TOL, name="dx", scale=np.abs(g).max() * shape[axis])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_softmax_kernel_refuses_nan_and_inf_with_their_index_in_x(bad, threads):
    """The kernel checks the scores inside its row blocks: a bad score in a later block, on another thread,
    is still refused with its index in the whole array; -inf (a hidden position) is accepted."""
    x = np.zeros((4, 3, 5))
    x[0, 0, 0] = -np.inf
    x[3, 1, 2] = bad
    with row_blocks_of(8 * 5), num_threads(threads):  # one row a block
        refusal = "softmax input: contains NaN or +inf (first at index (3, 1, 2))"
        with pytest.raises(ValueError, match=re.escape(refusal)):
            K.softmax(x)
        x[3, 1, 2] = 0.0
        assert np.isfinite(K.softmax(x)[0]).all()


# --- layer_norm --------------------------------------------------------------------------------------

@given(data=st.data(), lead=shapes(1, 2), norm=shapes(1, 2, min_side=2), affine=st.booleans(),
       block_bytes=ROW_BLOCK_BYTES, threads=THREADS)
def test_layer_norm_kernel_is_the_textbook(data, lead, norm, affine, block_bytes, threads):
    x = data.draw(arrays(lead + norm), label="x")
    w, b = (data.draw(arrays(norm), label=n) if affine else None for n in ("weight", "bias"))
    g = data.draw(upstream_grads(x.shape), label="upstream")
    want_y, cache = F.layer_norm(x, norm, w, b)
    want = F.layer_norm_backward(g, cache)
    with row_blocks_of(block_bytes), num_threads(threads):
        y, cache = K.layer_norm(x, norm, w, b)
        got = K.layer_norm_backward(g, cache)
    D = int(np.prod(norm))
    rstd = 1.0 / np.sqrt(x.reshape(-1, D).var(axis=1).min() + 1e-5)  # the largest 1 / sigma of a row
    mx, mg, mw = np.abs(x).max(), np.abs(g).max(), (np.abs(w).max() if affine else 1.0)
    assert_close(y, want_y, tol=TWIN_TOL, name="y", scale=D * rstd * mx * mw + (np.abs(b).max() if affine else 0))
    assert_twins(got, want, ("grad_x", "grad_weight", "grad_bias"),
                 scale=D * int(np.prod(lead)) * mg * mw * rstd * max(mx, 1.0))


# --- scaled dot-product attention --------------------------------------------------------------------

@settings(max_examples=40)
@given(problem=sdpa_problems(every_row_sees_a_key=False), tile_bytes=TILE_BYTES, threads=THREADS,
       dropout_p=st.sampled_from([0.0, 0.3]))
def test_attention_kernel_is_the_textbook(problem, tile_bytes, threads, dropout_p):
    """Masks of every kind (rows that see no key included), broadcast batch dims, huge integer logits,
    dropout (both draw the same mask from the same seed), tiles of one row up to groups of matrices, on one
    to three threads."""
    args, grad_out = problem
    want_out, cache = F.scaled_dot_product_attention(**args, dropout_p=dropout_p, rng=3)
    want = F.scaled_dot_product_attention_backward(grad_out, cache)
    with mock.patch.object(attention_kernel, "TILE_BYTES", tile_bytes), num_threads(threads):
        out, kernel_cache = K.scaled_dot_product_attention(**args, dropout_p=dropout_p, rng=3)
        got = K.scaled_dot_product_attention_backward(grad_out, kernel_cache)
    assert_close(out, want_out, tol=TWIN_TOL, name="out", scale=np.abs(args["v"]).max() / (1 - dropout_p))
    assert_close(kernel_cache.weights, cache.weights, tol=TWIN_TOL, name="weights", scale=1.0)
    _assert_attention_grads(got, want, args, grad_out)


@given(problem=sdpa_problems(every_row_sees_a_key=False), tile_bytes=TILE_BYTES, threads=THREADS,
       dropout_p=st.sampled_from([0.0, 0.3]))
def test_attention_kernel_without_weights_gives_the_same_output(problem, tile_bytes, threads, dropout_p):
    """keep_weights=False (nn.no_grad, need_weights=False): the same calls on each tile, its scores in a
    tile-sized array of its thread's, so out is equal bit for bit; no cache, and no (..., L, S) array is kept
    (the tiles' arrays hold at most a tile: one row up to groups of whole matrices)."""
    args, _ = problem
    with mock.patch.object(attention_kernel, "TILE_BYTES", tile_bytes), num_threads(threads):
        want, _ = K.scaled_dot_product_attention(**args, dropout_p=dropout_p, rng=3)
        ws = Workspace()
        got, cache = K.scaled_dot_product_attention(**args, dropout_p=dropout_p, rng=3, workspace=ws,
                                                    keep_weights=False)
    assert cache is None
    np.testing.assert_array_equal(got, want)
    kept = {name: a for name, a in ws._arrays.items() if name.startswith("tile scores")}
    assert "weights" not in ws._arrays and len(kept) <= threads
    L, S = args["q"].shape[-2], args["k"].shape[-2]
    assert all(a.size <= max(S * L, tile_bytes // a.itemsize) for a in kept.values())


def _assert_attention_grads(got, want, args, grad_out):
    """dq, dk, dv judged together against their largest entry and the size of what they sum: a part that is
    zero by the maths (dq and dk with one key) holds rounding noise of the size of the other terms."""
    L, S = args["q"].shape[-2], args["k"].shape[-2]
    terms = max(np.abs(g).max() for g in want) + np.abs(grad_out).max() * np.abs(args["v"]).max() * S
    assert_twins(got, want, ("dq", "dk", "dv"), scale=terms * max(L, S))


def test_attention_kernel_with_a_workspace_is_the_textbook():
    """The kernel's kept arrays over calls of changing shapes give the textbook's numbers."""
    rng, ws = np.random.default_rng(3), Workspace()
    for shape, causal in [((2, 3, 5, 4), True), ((2, 3, 5, 4), False), ((1, 7, 2), True)]:
        q, k, v, g = (rng.standard_normal(shape) for _ in range(4))
        want_out, cache = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        want = F.scaled_dot_product_attention_backward(g, cache)
        out, kernel_cache = K.scaled_dot_product_attention(q, k, v, is_causal=causal, workspace=ws)
        got = K.scaled_dot_product_attention_backward(g, kernel_cache, workspace=ws)
        assert_close(out, want_out, tol=TWIN_TOL, name="out", scale=np.abs(v).max())
        _assert_attention_grads(got, want, dict(q=q, k=k, v=v), g)


# --- multi-head attention ----------------------------------------------------------------------------

@st.composite
def multihead_problems(draw):
    B, L, S, H = (draw(st.integers(1, 3), label=n) for n in ("B", "L", "S", "H"))
    d, dv = draw(st.integers(1, 3), label="d"), draw(st.integers(1, 3), label="dv")
    q, k = draw(arrays((B, L, H * d)), label="q"), draw(arrays((B, S, H * d)), label="k")
    v = draw(arrays((B, S, H * dv)), label="v")
    mask_shape = draw(st.sampled_from([None, (L, S), (B, 1, L, S), (B, H, L, S)]), label="mask shape")
    mask = None if mask_shape is None else draw(hnp.arrays(bool, mask_shape, elements=st.booleans()), label="mask")
    grad_out = draw(upstream_grads((B, L, H * dv)), label="upstream")
    return (q, k, v, H), mask, grad_out


@settings(max_examples=40)
@given(problem=multihead_problems(), causal=st.booleans(), dropout_p=st.sampled_from([0.0, 0.4]),
       tile_bytes=TILE_BYTES, threads=THREADS)
def test_multihead_kernel_is_the_textbook(problem, causal, dropout_p, tile_bytes, threads):
    """The einsum heads against the kernel's batched products, with SDPA-convention masks or causal."""
    (q, k, v, H), mask, grad_out = problem
    kwargs = dict(attn_mask=None if causal else mask, is_causal=causal, dropout_p=dropout_p, rng=5)
    want_out, cache = F.multi_head_attention(q, k, v, H, **kwargs)
    want = F.multi_head_attention_backward(grad_out, cache)
    with mock.patch.object(attention_kernel, "TILE_BYTES", tile_bytes), num_threads(threads):
        out, kernel_cache = K.multi_head_attention(q, k, v, H, **kwargs, workspace=Workspace())
        got = K.multi_head_attention_backward(grad_out, kernel_cache)
    assert_close(out, want_out, tol=TWIN_TOL, name="out", scale=np.abs(v).max() / (1 - dropout_p))
    assert_close(kernel_cache.weights, cache.weights, tol=TWIN_TOL, name="weights", scale=1.0)
    _assert_attention_grads(got, want, dict(q=q, k=k, v=v), grad_out)


@given(data=st.data(), mode=st.sampled_from(["self", "packed", "separate"]), bias=st.booleans(),
       E=st.integers(1, 4), kdim=st.integers(1, 4), vdim=st.integers(1, 4), threads=THREADS)
def test_in_projection_kernel_is_the_textbook(data, mode, bias, E, kdim, vdim, threads):
    """'self': one array as query, key and value (the kernel's one wide product); 'packed': (3E, E) weights;
    'separate': W_q (E, E), W_k (E, kdim), W_v (E, vdim)."""
    if mode != "separate":
        kdim = vdim = E
    query = data.draw(arrays((2, 3, E)), label="query")
    key, value = (query, query) if mode == "self" else (data.draw(arrays((2, 4, kdim)), label="key"),
                                                        data.draw(arrays((2, 4, vdim)), label="value"))
    weights = (tuple(data.draw(arrays((E, n)), label=f"W_{c}") for c, n in zip("qkv", (E, kdim, vdim)))
               if mode == "separate" else data.draw(arrays((3 * E, E)), label="in_proj_weight"))
    b_in = data.draw(arrays((3 * E,)), label="in_proj_bias") if bias else None
    want_qkv, cache = F.in_projection(query, key, value, weights, b_in)
    grads = tuple(data.draw(upstream_grads(x.shape), label=f"grad {c}") for c, x in zip("qkv", want_qkv))
    want = F.in_projection_backward(grads, cache)
    with sharing_products(threads):
        qkv, kernel_cache = K.in_projection(query, key, value, weights, b_in, workspace=Workspace())
        got = K.in_projection_backward(grads, kernel_cache)
    scale = 8 * max(E, kdim, vdim) * 3.5 * 3.5  # sums of at most 8 products of entries below 3.5
    assert_twins(qkv, want_qkv, "qkv", scale=scale)
    assert_twins(got[:3], want[:3], ("d_query", "d_key", "d_value"), scale=scale)
    for got_w, want_w in zip(got[3] if mode == "separate" else [got[3]], want[3] if mode == "separate" else [want[3]]):
        assert_close(got_w, want_w, tol=TWIN_TOL, name="d_weights", scale=scale)
    assert_twins(got[4:], want[4:], ("d_bias",), scale=scale)


# --- LSTM --------------------------------------------------------------------------------------------

# Short sequences, and ones that span several of the kernel's blocks of steps with a shorter last block.
LENGTHS = st.one_of(st.integers(1, 6), st.integers(BLOCK - 1, 2 * BLOCK + 3))


def lstm_error_scale(x, h0, w_ih, w_hh, bias):
    """The size of the terms of one pre-activation a = x W_ih^T + h W_hh^T + b (|h| <= 1 after a step): where
    a cancels to ~0 both twins are only good to u times this, as they sum it in different orders (the kernel
    with the sigmoid rows negated and the bias in the product)."""
    I, H = x.shape[-1], h0.shape[-1]
    b = 0.0 if bias is None else np.abs(bias).max()
    return I * np.abs(x).max() * np.abs(w_ih).max() + H * max(np.abs(h0).max(), 1.0) * np.abs(w_hh).max() + b


def assert_lstm_twins(x, h0, c0, w_ih, w_hh, bias, upstream):
    want_outs, cache = F.lstm(x, h0, c0, w_ih, w_hh, bias)
    want = F.lstm_backward(*upstream, cache)
    outs, kernel_cache = K.lstm(x, h0, c0, w_ih, w_hh, bias, workspace=Workspace())
    got = K.lstm_backward(*upstream, kernel_cache)
    T, terms = x.shape[1], lstm_error_scale(x, h0, w_ih, w_hh, bias)
    assert_twins(outs[:2], want_outs[:2], ("out", "h_n"), scale=terms)
    assert_close(outs[2], want_outs[2], tol=TWIN_TOL, name="c_n", scale=T * terms + np.abs(c0).max())
    # BPTT multiplies the carried gradient by each step's Jacobian: where it grows through time, an error made
    # at step t grows with it. So the backward's errors are judged against T * terms times the largest
    # gradient on the way (the upstream ones and the carried ones that reach x, h0 and c0).
    carried = max([np.abs(g).max() for g in want[:3]] + [np.abs(u).max() for u in upstream if u is not None])
    assert_twins(got, want, ("grad_x", "grad_h0", "grad_c0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
                 scale=T * terms * carried)


@settings(max_examples=25)
@given(data=st.data(), directions=st.integers(1, 2), length=LENGTHS, batch=st.integers(1, 3),
       input_size=st.integers(1, 3), hidden_size=st.integers(1, 4), bias=st.booleans(),
       missing=st.sampled_from([None, "grad_out", "grad_h_n", "grad_c_n"]))
def test_lstm_kernel_is_the_textbook(data, directions, length, batch, input_size, hidden_size, bias, missing):
    """Every input and weight gradient, with or without a bias, with one upstream gradient None (zero)."""
    D, T, B, I, H = directions, length, batch, input_size, hidden_size
    x, h0, c0, w_ih, w_hh = (data.draw(arrays(s), label=n) for n, s in [
        ("x", (D, T, B, I)), ("h0", (D, B, H)), ("c0", (D, B, H)), ("weight_ih", (D, 4 * H, I)),
        ("weight_hh", (D, 4 * H, H))])
    b = data.draw(arrays((D, 4 * H)), label="bias") if bias else None
    upstream = [None if name == missing else data.draw(upstream_grads(s), label=name)
                for name, s in [("grad_out", (D, T, B, H)), ("grad_h_n", (D, B, H)), ("grad_c_n", (D, B, H))]]
    assert_lstm_twins(x, h0, c0, w_ih, w_hh, b, upstream)


def test_lstm_kernel_is_the_textbook_where_the_gradient_grows_through_time():
    """A case a drawn test once found: T = 30, every recurrent weight -2.875, the gradient reaching x and h0
    about 1e5 times the upstream one. An error scale without that growth failed it at 1.4e-10."""
    rng = np.random.default_rng(0)
    D, T, B, I, H = 1, 30, 2, 2, 3
    x, h0, c0 = rng.uniform(-3, 3, (D, T, B, I)), rng.uniform(-3, 3, (D, B, H)), rng.uniform(-3, 3, (D, B, H))
    w_ih, bias = rng.uniform(-3, 3, (D, 4 * H, I)), rng.uniform(-3, 3, (D, 4 * H))
    w_hh = np.full((D, 4 * H, H), -2.875)
    upstream = [rng.uniform(0.5, 3.5, s) for s in ((D, T, B, H), (D, B, H), (D, B, H))]
    assert_lstm_twins(x, h0, c0, w_ih, w_hh, bias, upstream)


@settings(max_examples=25)
@given(data=st.data(), directions=st.integers(1, 2), length=LENGTHS, batch=st.integers(1, 3),
       input_size=st.integers(1, 3), hidden_size=st.integers(1, 4), bias=st.booleans(), float32=st.booleans(),
       threads=THREADS, threaded_everywhere=st.booleans())
def test_lstm_kernel_without_cache_gives_the_same_outputs(data, directions, length, batch, input_size,
                                                          hidden_size, bias, float32, threads, threaded_everywhere):
    """keep_cache=False (nn.no_grad) writes each step's gates and cell over the last step's, and with two
    directions and threads (at every size, when threaded_everywhere) runs each direction's loop on its own
    thread: the same calls on the same numbers, so out, h_n and c_n are equal bit for bit, and no cache comes
    back. The workspace is first used by a longer forward that keeps its cache, so the one-step arrays are the
    front of its arrays."""
    D, T, B, I, H = directions, length, batch, input_size, hidden_size
    dtype = np.float32 if float32 else np.float64
    x, h0, c0, w_ih, w_hh = (data.draw(arrays(s), label=n).astype(dtype) for n, s in [
        ("x", (D, T, B, I)), ("h0", (D, B, H)), ("c0", (D, B, H)), ("weight_ih", (D, 4 * H, I)),
        ("weight_hh", (D, 4 * H, H))])
    b = data.draw(arrays((D, 4 * H)), label="bias").astype(dtype) if bias else None
    want, _ = K.lstm(x, h0, c0, w_ih, w_hh, b)
    ws = Workspace()
    K.lstm(np.concatenate([x, x], axis=1), h0, c0, w_ih, w_hh, b, workspace=ws)
    with num_threads(threads), lstm_directions_threaded(threaded_everywhere):
        got, cache = K.lstm(x, h0, c0, w_ih, w_hh, b, workspace=ws, keep_cache=False)
    assert cache is None
    for a, expected in zip(got, want):
        np.testing.assert_array_equal(a, expected)


def test_lstm_kernel_runs_the_directions_at_once_at_a_real_size():
    """At a size the threshold threads (H * B = 4,096, 64 steps), the two directions' loops run at once on two
    threads, each on its own arrays, with the BLAS on one thread as fit and predict hold it: out, h_n and c_n
    equal the one stacked loop's (keep_cache=True) bit for bit. Small drawn sizes cannot show a race: NumPy
    keeps Python's lock through calls on a few values, so the threads never overlap there."""
    rng = np.random.default_rng(5)
    D, T, B, I, H = 2, 64, 128, 2, 32
    assert H * B >= lstm_kernel.THREADED_GATE_VALUES and T >= lstm_kernel.THREADED_STEPS
    x = rng.standard_normal((D, T, B, I)).astype(np.float32)
    h0, c0 = (0.5 * rng.standard_normal((D, B, H)).astype(np.float32) for _ in range(2))
    w_ih, w_hh = (0.3 * rng.standard_normal((D, 4 * H, n)).astype(np.float32) for n in (I, H))
    bias = 0.1 * rng.standard_normal((D, 4 * H)).astype(np.float32)
    with num_threads(2), parallel.own_cores():
        want, _ = K.lstm(x, h0, c0, w_ih, w_hh, bias)
        with mock.patch.object(lstm_kernel, "_forward_steps", wraps=lstm_kernel._forward_steps) as loops:
            got, cache = K.lstm(x, h0, c0, w_ih, w_hh, bias, keep_cache=False)
    assert cache is None
    assert [call.args[0].shape[0] for call in loops.call_args_list] == [1, 1]  # one loop per direction
    for a, expected in zip(got, want):
        np.testing.assert_array_equal(a, expected)


@given(directions=st.integers(1, 2), length=st.integers(1, 9), batch=st.integers(1, 3), hidden=st.integers(1, 3),
       copy_bytes=st.sampled_from([1, 40, 100, 1 << 15]), batch_first=st.booleans(), threads=THREADS,
       threaded_everywhere=st.booleans())
def test_lstm_copy_output_puts_each_direction_in_time_order(directions, length, batch, hidden, copy_bytes, batch_first,
                                                             threads, threaded_everywhere):
    """Blocks of one step, of a few with a shorter last one, and all steps at once; a time-major output or a
    batch-first one's (T, B, D*H) view; the directions one after the other or (threaded_everywhere) each on a
    thread of its own: the reverse direction's reading step T-1-t lands at time t."""
    D, T, B, H = directions, length, batch, hidden
    out_d = np.arange(D * T * B * H, dtype=float).reshape(D, T, B, H)
    want = np.concatenate([out_d[0]] + ([out_d[1][::-1]] if D == 2 else []), axis=-1)  # (T, B, D*H)
    output = np.full((B, T, D * H) if batch_first else (T, B, D * H), np.nan)
    with mock.patch.object(lstm_kernel, "COPY_BYTES", copy_bytes), num_threads(threads), \
            lstm_directions_threaded(threaded_everywhere):
        lstm_kernel.copy_output(out_d, output.swapaxes(0, 1) if batch_first else output)
    np.testing.assert_array_equal(output.swapaxes(0, 1) if batch_first else output, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_kernel_saturated_gates_are_exact_and_silent(dtype):
    """Pre-activations of +-1e4: exp(-a) overflows to inf for the kernel's sigmoid gates, and 1 / (1 + inf) = 0
    is the right sigmoid; every gate must come out exactly 0, 1 or -1, as the textbook's, with no overflow warning."""
    rng = np.random.default_rng(0)
    D, T, B, I, H = 2, 5, 3, 1, 4  # one input: a = +-1e4 x, no sum that could cancel
    x = rng.choice([-1.0, 1.0], (D, T, B, I)).astype(dtype)
    w_ih = rng.choice([-1e4, 1e4], (D, 4 * H, I)).astype(dtype)
    w_hh = np.zeros((D, 4 * H, H), dtype)
    zeros = np.zeros((D, B, H), dtype)
    want, _ = F.lstm(x, zeros, zeros, w_ih, w_hh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (out, h_n, c_n), (*_, z, _, _, _) = K.lstm(x, zeros, zeros, w_ih, w_hh)
    assert set(np.unique(z)) <= {-1.0, 0.0, 1.0}
    for got, expected in zip((out, h_n, c_n), want):
        np.testing.assert_array_equal(got, expected)
