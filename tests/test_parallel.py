"""numpy_attn.kernels.parallel: work shared out among threads, every item once, errors raised in the caller."""

import os
import signal
import threading
import time
from concurrent.futures import Future
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import blas_thread_counts, num_threads
from numpy_attn.kernels import parallel
from numpy_attn.kernels.blas import limit_blas_threads


@given(sizes=st.lists(st.integers(0, 4), max_size=9), threads=st.integers(1, 4))
def test_share_out_runs_every_item_once_and_a_group_on_one_thread(sizes, threads):
    groups = [[(g, i) for i in range(n)] for g, n in enumerate(sizes)]
    ran, lock = [], threading.Lock()

    def work(items):
        with lock:
            ran.extend((item, threading.get_ident()) for item in items)

    with num_threads(threads):
        parallel.share_out(work, groups)
    assert sorted(item for item, _ in ran) == [item for group in groups for item in group]
    thread_of = {}
    for (g, _), ident in ran:
        assert thread_of.setdefault(g, ident) == ident  # a group's items add into the same memory: one thread
    assert len(set(thread_of.values())) <= threads


def test_share_out_raises_an_error_from_a_worker_thread():
    def work(items):
        if items[0] == "bad":
            raise ArithmeticError("from the worker")

    with num_threads(2), pytest.raises(ArithmeticError, match="from the worker"):
        parallel.share_out(work, [["fine"], ["bad"]])


def test_workers_see_the_callers_numpy_error_settings():
    seen = []

    def work(items):
        seen.append(np.geterr()["divide"])

    with num_threads(2), np.errstate(divide="raise"):
        parallel.share_out(work, [[1], [2]])
    assert seen == ["raise", "raise"]


def test_share_out_hands_each_group_to_the_thread_that_is_free():
    """While one thread is held up on a group, the other takes every group after it. With the list cut into
    fixed halves, group 1 would wait behind group 0 on the held-up thread, group 0 would wait for group 3,
    and the wait would time out."""
    rest_done = threading.Event()
    ran, lock = [], threading.Lock()

    def work(items):
        if items == [0]:
            assert rest_done.wait(timeout=10), "groups 1-3 did not run while group 0 was held up"
        with lock:
            ran.append(items[0])
            if sorted(ran) == [1, 2, 3]:
                rest_done.set()

    with num_threads(2):
        parallel.share_out(work, [[0], [1], [2], [3]])
    assert sorted(ran) == [0, 1, 2, 3]


def test_share_out_stops_handing_out_groups_after_an_error():
    ran = []

    def work(items):
        if items == ["bad"]:
            raise ArithmeticError("from a group")
        time.sleep(0.001)
        ran.append(items[0])

    with num_threads(2), pytest.raises(ArithmeticError, match="from a group"):
        parallel.share_out(work, [["bad"]] + [[i] for i in range(200)])
    assert len(ran) < 200  # the other thread stopped at its next group (running them all takes 0.2 s or more)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match=r"num_threads: expected an integer >= 1, got"):
        parallel.set_num_threads(bad)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_gets_threads_of_its_own():
    """A child process has none of its parent's threads: work handed to the parent's pool would never run."""
    with num_threads(2):
        parallel.share_out(lambda items: None, [[1], [2]])  # the parent's pool exists now
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if the work ran; killed by SIGALRM if it hangs
            signal.alarm(20)
            done = []
            parallel.share_out(done.extend, [[1], [2]])
            os._exit(0 if sorted(done) == [1, 2] else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@given(m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 30), threads=st.integers(2, 3),
       transposed=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_matmul_in_blocks_is_the_product(m, k, n, threads, transposed, dtype):
    """Rows of a (or columns of b) in one block per thread: every entry is still a dot product over k, so it
    differs from np.matmul's by at most two dot-product rounding errors, 2 gamma_k (|a| @ |b|),
    gamma_k = k u / (1 - k u). The output starts as NaN: a block left out would show."""
    rng = np.random.default_rng([m, k, n])
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(dtype)
    a = a.T if transposed else a  # a strided operand, as g2.T in linear_backward
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    with num_threads(threads), mock.patch.object(parallel, "SPLIT_MACS", 1), parallel.own_cores():
        assert parallel.matmul(a, b, out=out) is out
        fresh = parallel.matmul(a, b)
    u = np.finfo(dtype).eps / 2
    bound = 2 * (k * u / (1 - k * u)) * (np.abs(a) @ np.abs(b))
    for got in (out, fresh):
        assert got.dtype == dtype and np.all(np.abs(got - a @ b) <= bound)


def test_matmul_shares_out_a_large_product_only_inside_own_cores():
    calls = []
    tall, wide = (np.ones((8, 4)), np.ones((4, 6))), (np.ones((2, 4)), np.ones((4, 8)))  # 192 and 64 multiply-adds
    with num_threads(2), mock.patch.object(parallel, "share_out", lambda work, groups: calls.append(groups)):
        with mock.patch.object(parallel, "SPLIT_MACS", 64):
            parallel.matmul(*tall)  # outside own_cores: the BLAS's own threads
            with parallel.own_cores():
                parallel.matmul(*tall)
                parallel.matmul(*wide)
        with mock.patch.object(parallel, "SPLIT_MACS", 65), parallel.own_cores():
            parallel.matmul(*wide)  # too small
    halves = [[slice(0, 4)], [slice(4, 8)]]
    assert calls == [halves, halves]  # the rows of a (8 > 6), then the columns of b (8 > 2)


def test_own_cores_holds_the_blas_to_one_thread_while_threads_are_on():
    with limit_blas_threads(2):
        outside = blas_thread_counts()
        with num_threads(2), parallel.own_cores():
            assert set(blas_thread_counts()) == {1}
        with num_threads(1), parallel.own_cores():
            assert blas_thread_counts() == outside
        assert blas_thread_counts() == outside


def test_matmuls_gives_each_product_and_wakes_the_threads_once_for_them():
    rng = np.random.default_rng(3)
    pairs = [(rng.standard_normal((6, 5)), rng.standard_normal((5, 4))), (rng.standard_normal((5, 6)).T,
                                                                          rng.standard_normal((5, 3)))]
    calls = []
    real_share_out = parallel.share_out

    def counting_share_out(work, groups):
        calls.append(groups)
        real_share_out(work, groups)

    with num_threads(2), mock.patch.object(parallel, "share_out", counting_share_out), \
            mock.patch.object(parallel, "SPLIT_MACS", 6 * 5 * 3):
        outside = parallel.matmuls(*pairs)  # outside own_cores: np.matmul each, no threads
        with parallel.own_cores():
            inside = parallel.matmuls(*pairs)
            with mock.patch.object(parallel, "SPLIT_MACS", 6 * 5 * 4 + 1):
                small = parallel.matmuls(*pairs)  # both too small: np.matmul each
    assert calls == [[[0], [1]]]  # one share_out, a whole product per thread
    for got in (outside, inside, small):
        for (a, b), product in zip(pairs, got):
            np.testing.assert_array_equal(product, a @ b)  # each product is one BLAS call, as a @ b


def test_share_out_inside_shared_out_work_runs_on_that_thread():
    """A worker that shared out again would wait on the pool it belongs to, for ever: a nested call runs its
    items inline. The pool here runs what it is given at once and counts it, so a regression fails the
    test instead of hanging it."""
    class CountingPool:
        submitted = 0

        def submit(self, fn, *args):
            CountingPool.submitted += 1
            done = Future()
            done.set_result(fn(*args))
            return done

        def shutdown(self, wait=True):
            pass

    ran = []

    def outer(items):
        for item in items:
            parallel.share_out(ran.extend, [[(item, 0)], [(item, 1)]])

    with num_threads(2), mock.patch.object(parallel, "_pool", CountingPool()), \
            mock.patch.object(parallel, "_pool_pid", os.getpid()):
        parallel.share_out(outer, [["a"], ["b"]])
    assert CountingPool.submitted == 1  # the outer call's second run; the nested calls ran inline
    assert sorted(ran) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
