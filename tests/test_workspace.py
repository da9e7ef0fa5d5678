"""numpy_attn.kernels.workspace: kept arrays, their memory order, and letting one go."""

import numpy as np

from numpy_attn.kernels.workspace import Workspace, as_workspace


def test_workspace_gives_back_the_same_array_for_the_same_request():
    ws = Workspace()
    a = ws.empty("a", (2, 3), np.float32)
    assert ws.empty("a", (2, 3), np.float32) is a
    assert ws.empty("b", (2, 3), np.float32) is not a
    b = ws.empty("a", (3, 4), np.float32)
    assert b is not a and b.shape == (3, 4)
    assert ws.empty("a", (3, 2), np.float64).dtype == np.float64


def test_a_smaller_request_gets_the_front_of_the_kept_array():
    """predict's last, shorter batch and the LSTM's one-step arrays under no_grad write into memory the workspace
    already holds: a C-contiguous view of the kept array's first elements; the kept array stays the kept one,
    and a larger request, or another dtype, gets a new array."""
    ws = Workspace()
    a = ws.empty("a", (4, 6), np.float32)
    b = ws.empty("a", (2, 5), np.float32)
    assert b.shape == (2, 5) and b.flags.c_contiguous and np.shares_memory(a, b)
    assert ws.empty("a", (4, 6), np.float32) is a
    c = ws.empty("a", (5, 6), np.float32)
    assert c.shape == (5, 6) and not np.shares_memory(a, c)
    assert not np.shares_memory(ws.empty("a", (2,), np.float64), c)


def test_empty_like_keeps_the_prototypes_memory_order():
    """As np.empty_like (order 'K'): heads split from (B, T, H*d) give (B, H, T, d) arrays in (B, T, H, d)
    memory, and so does the kept array; merging its heads back is then a view. A second request gets it again."""
    ws = Workspace()
    heads = np.zeros((2, 5, 12), np.float32).reshape(2, 5, 3, 4).transpose(0, 2, 1, 3)
    for name, shape in (("same", None), ("wider", (2, 3, 5, 6))):
        a = ws.empty_like(name, heads, shape)
        want = np.empty_like(heads, shape=shape)
        assert (a.shape, a.strides, a.dtype) == (want.shape, want.strides, want.dtype)
        assert np.shares_memory(a.transpose(0, 2, 1, 3).reshape(2, 5, -1), a)
        assert np.shares_memory(ws.empty_like(name, heads, shape), a)


def test_derived_is_built_once_for_the_same_arrays_and_the_last_two_are_kept():
    """What is built from kept arrays comes back while it is asked for with the same array objects; other arrays
    build it again. The last two are kept, the most recently used longest: a full batch's arrays, then a short
    last batch's (a new view each call), then the full batch's again find theirs."""
    ws, builds = Workspace(), []

    def views_of(*arrays):
        return ws.derived("views", arrays, lambda: builds.append(arrays) or [a[0] for a in arrays])

    full = ws.empty("a", (4, 6), np.float32)
    first = views_of(full)
    assert views_of(full) is first and len(builds) == 1
    short = [ws.empty("a", (2, 6), np.float32) for _ in range(2)]  # the front of full: a new view each call
    assert views_of(short[0]) is not first and views_of(full) is first and len(builds) == 2
    views_of(short[1])
    assert views_of(full) is first and len(builds) == 3
    views_of(short[0]), views_of(short[1])  # two others since full: its result is gone
    assert views_of(full) is not first and len(builds) == 6
    first[0][0] = 7.0  # a kept view reads and writes the array's memory as it is now
    assert full[0, 0] == 7.0


def test_release_hands_the_array_over():
    ws = Workspace()
    a = ws.empty("a", (3,), np.float64)
    ws.release("a")
    b = ws.empty("a", (3,), np.float64)
    assert b is not a and not np.shares_memory(a, b)
    ws.release("never kept")  # nothing to forget: no error


def test_as_workspace_passes_one_through_and_makes_a_fresh_one_for_none():
    ws = Workspace()
    assert as_workspace(ws) is ws
    a, b = as_workspace(None), as_workspace(None)
    assert isinstance(a, Workspace) and a is not b
    assert not np.shares_memory(a.empty("x", (2,), np.float64), b.empty("x", (2,), np.float64))
