"""Independent pieces of work on every core: Python threads, each running NumPy calls on its own piece.

NumPy runs a ufunc on one core, and only large matrix products on several (in its BLAS). NumPy lets go
of Python's lock (the GIL) inside a ufunc or a product on more than a few hundred elements, so two
threads that each run such calls on different arrays run them at the same time. Attention's (L, S)
work comes in tiles of about 1 MB (``kernels/attention.py``), each a few hundred microseconds of NumPy
calls, and the tiles of different (batch, head) matrices touch different memory: the tiles are shared
out among the threads. Each tile is computed by the same calls as on one thread, so the numbers are the
same.

While the threads run, the BLAS is held to one thread per call: two threads calling a BLAS that starts
threads of its own oversubscribe the cores. After a product on two BLAS threads, OpenBLAS's idle worker
spins for a while (``blas.py``) and takes the core the second thread needs. So a module that shares its
work out runs its whole forward and backward in an ``own_cores`` block: the BLAS held to one thread
throughout, its large products shared out as well (``matmul``, which ``kernels.linear`` uses).
docs/performance.md has what each of these choices measured.

``set_num_threads(n)`` / ``get_num_threads()`` (as ``torch.set_num_threads``): 1 turns it off; the
default is the number of cores this process may run on.
"""

import contextvars
import os
import threading
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from .._validate import as_int
from .blas import limit_blas_threads


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_num_threads = _usable_cores()
_pool = None  # the worker threads (num_threads - 1 of them: the calling thread takes a share too), made on first use
_pool_pid = None  # the process that made _pool: a forked child has none of its threads and makes its own
_owned = contextvars.ContextVar("numpy_attn_own_cores", default=False)  # inside an own_cores block
_sharing = contextvars.ContextVar("numpy_attn_sharing", default=False)  # inside share_out's work


def set_num_threads(n):
    """Run shared-out work on at most ``n`` threads (the calling one included); 1: all on the calling thread."""
    global _num_threads, _pool
    n = as_int(n, "num_threads", 1)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    _num_threads = n


def get_num_threads():
    return _num_threads


def share_out(work, groups):
    """Run ``work(group)`` for each group of ``groups`` (a list of lists of items), on every thread.

    Items of different groups must touch different output memory; the items of a group run in order on
    one thread. The groups are handed out one at a time, in order, to whichever thread is free: up to
    ``get_num_threads()`` threads, the calling one included, each taking the next group when it has done
    its last, so the threads finish within about one group of each other however the cores' speeds
    drift (one fixed share per thread leaves a core idle at the end).
    A group is computed by the same calls on any thread, so the numbers do not depend on which thread took
    it. An exception in any thread is raised here, after every thread has stopped taking groups.
    The BLAS limit is process-wide: calls from several of your own threads at once share one pool and may
    leave the BLAS at one thread afterwards (each restores the count it found). A ``share_out`` called
    from inside ``work`` runs its groups on its own thread (a worker waiting on the pool it is part of
    would wait for ever).
    """
    n = max(1, min(_num_threads, len(groups)))
    if n == 1 or _sharing.get():
        for group in groups:
            work(group)
        return
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(_num_threads - 1, thread_name_prefix="numpy_attn"), os.getpid()
    next_group, failed = _handout(groups), threading.Event()

    def take_groups():
        try:
            for group in iter(next_group, None):
                if failed.is_set():
                    return
                work(group)
        except BaseException:
            failed.set()  # the other threads stop at their next group
            raise

    token = _sharing.set(True)
    try:
        with limit_blas_threads(1):
            # Each worker runs in a copy of this thread's context (np.errstate holds there too, and _sharing).
            futures = [_pool.submit(contextvars.copy_context().run, take_groups) for _ in range(n - 1)]
            try:
                take_groups()
            finally:
                wait(futures)  # every thread done before the BLAS limit is lifted
    finally:
        _sharing.reset(token)
    for f in futures:
        f.result()  # raises a worker's exception, if any


def _handout(groups):
    """A function that returns the next group of ``groups`` on each call, None when none is left; safe to
    call from several threads at once (the lock makes "take the next one" a single step)."""
    it, lock = iter(groups), threading.Lock()

    def next_group():
        with lock:
            return next(it, None)

    return next_group


# A product of fewer multiply-adds than this is done whole: waking another thread and waiting for it
# costs more than splitting saves (docs/performance.md).
SPLIT_MACS = 1 << 23


def matmul(a, b, out=None):
    """a @ b for 2-D a: (M, K) and b: (K, N); out: None or an (M, N) array to write into.

    Inside an ``own_cores`` block (the BLAS held to one thread) a large product is cut into one block per
    thread, rows of a (or columns of b, when N > M), each block one BLAS product (``share_out``).
    Elsewhere, and below SPLIT_MACS, it is ``np.matmul`` on the BLAS's own threads: splitting there costs
    more than it saves, as each ``share_out`` lifts the BLAS limit at its end and wakes the BLAS's workers.
    Entry (i, j) is still the dot product of row i of a and column j of b, computed by the BLAS; only the
    thread that computes it changes (the BLAS may order a sum differently for a block, so float results can
    differ in the last bits, as they do between BLAS thread counts).
    """
    (M, K), N = a.shape, b.shape[1]
    n = min(_num_threads, max(M, N))
    if not _owned.get() or n == 1 or M * N * K < SPLIT_MACS:
        return np.matmul(a, b, out=out)
    out = np.empty((M, N), np.result_type(a, b)) if out is None else out
    by_rows = M >= N
    cuts = [(M if by_rows else N) * i // n for i in range(n + 1)]

    def work(blocks):
        for block in blocks:
            if by_rows:
                np.matmul(a[block], b, out=out[block])
            else:
                np.matmul(a, b[:, block], out=out[:, block])

    share_out(work, [[slice(lo, hi)] for lo, hi in zip(cuts, cuts[1:])])
    return out


def matmuls(*pairs):
    """[a @ b for (a, b) in pairs], 2-D each. Inside ``own_cores``, with at least as many products as
    threads and SPLIT_MACS multiply-adds or more for each thread: whole products shared out among the threads
    (each takes the next one when free), so the threads wake once for all of them; else ``matmul`` one by
    one."""
    if (not _owned.get() or _num_threads == 1 or len(pairs) < _num_threads
            or sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs) < _num_threads * SPLIT_MACS):
        return [matmul(a, b) for a, b in pairs]
    outs = [np.empty((a.shape[0], b.shape[1]), np.result_type(a, b)) for a, b in pairs]

    def work(items):
        for i in items:
            np.matmul(*pairs[i], out=outs[i])

    share_out(work, [[i] for i in range(len(pairs))])
    return outs


@contextmanager
def own_cores():
    """A block (a module's whole forward or backward) in which this package's threads have the cores: while
    they are on (``get_num_threads() > 1``), the BLAS is held to one thread throughout, not only inside
    each ``share_out``, and ``matmul`` shares large products out. A BLAS call on several threads in
    between (a bias gradient's matrix-vector product is one) would leave OpenBLAS's worker spinning for
    a while on the core the next tiles need. Nested blocks are one block. ``@own_cores()`` decorates
    a method (``nn.MultiheadAttention.forward``) so that each call runs in a block of its own. The BLAS
    limit is process-wide, as ``share_out``'s: blocks in several of your threads at once may leave the
    BLAS at one thread afterwards."""
    if _num_threads == 1 or _owned.get():
        yield
        return
    token = _owned.set(True)
    try:
        with limit_blas_threads(1):
            yield
    finally:
        _owned.reset(token)
