"""The notebooks in notebooks/: each runs top to bottom in a fresh kernel of this Python, and each is stored
as a clean top-to-bottom run with its outputs.

Every notebook asserts its own gradient checks (central differences and PyTorch autograd), so a notebook
that runs is one whose checks passed. ``notebooks/execute.py`` is the runner, here and on the command
line (``python notebooks/execute.py --save`` stores the outputs after an edit). Its kernel is this
interpreter's: ipykernel's own spec for ``sys.executable``, whatever kernelspecs are installed elsewhere.
Each notebook takes 5-25 s on 2 cores; the limit below leaves room for a loaded CI machine.
"""

import importlib.util
import platform
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

PATHS = runner.notebooks()
SECONDS = 120  # per notebook, kernel start included (each runs within a minute on 2 cores)
STORED_BYTES = 400_000  # per notebook with its outputs: pictures at modest DPI


def test_the_notebooks_are_there():
    assert len(PATHS) >= 6, f"expected the topic notebooks in {NOTEBOOKS}, found {[p.name for p in PATHS]}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_runs(path):
    nb, seconds = runner.execute(path, timeout=SECONDS)
    assert seconds < SECONDS, f"{path.name}: ran {seconds:.0f} s, over the {SECONDS} s limit"
    version = nb.metadata["language_info"]["version"]
    assert version == platform.python_version(), f"{path.name}: the kernel ran Python {version}, pytest runs " \
                                                 f"{platform.python_version()}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_is_stored_with_its_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts}; store it from one top-to-bottom run "
        f"(python notebooks/execute.py --save {path.name})")
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored with an error output: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert any("image/png" in o.get("data", {}) for cell in code for o in cell.outputs), f"{path.name}: no picture"
    size = path.stat().st_size
    assert size < STORED_BYTES, f"{path.name}: {size} bytes stored, over {STORED_BYTES}; draw smaller figures"
