"""numpy_attn.parallel: work shared out among threads, every item once, errors raised in the caller."""

import os
import signal
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import num_threads
from numpy_attn import parallel


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
