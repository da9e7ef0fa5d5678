"""Run the notebooks top to bottom, each in a fresh kernel, and (with --save) store them with their outputs.

    python notebooks/execute.py                 # run every notebook, report each one's time, save nothing
    python notebooks/execute.py --save          # ... and write each back with its outputs (do this after an edit)
    python notebooks/execute.py --save 03_lstm_and_anomaly_classifier.ipynb

The kernel is always this Python: ``python3`` looked up in no kernelspec folder, which jupyter_client
resolves to ipykernel's own spec for ``sys.executable``; a ``python3`` kernelspec installed elsewhere
(another environment, ``~/.local/share/jupyter``) is never picked. Each notebook runs in its own folder.
``tests/test_notebooks.py`` runs them the same way, through ``execute``.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TIMEOUT = 120  # seconds for one cell


def notebooks():
    """Every notebook in this folder, in reading order (the file names start with their number)."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def execute(path, save=False, timeout=TIMEOUT):
    """Run the notebook at ``path`` in a fresh kernel of this Python; return (the executed notebook, seconds).

    A cell that raises makes nbclient raise ``CellExecutionError`` naming the cell and the error.
    save: write the notebook back with its outputs (no timing metadata, so a rerun changes only what changed).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = NotebookClient(nb, km=kernel, timeout=timeout, record_timing=False, coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    if save:
        nbformat.write(nb, path)
    return nb, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook file names in this folder (default: all)")
    parser.add_argument("--save", action="store_true", help="write each notebook back with its outputs")
    args = parser.parse_args(argv)
    paths = [HERE / name for name in args.names] or notebooks()
    for path in paths:
        _, seconds = execute(path, save=args.save)
        print(f"{path.name}: {seconds:.1f} s{' (saved)' if args.save else ''}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
