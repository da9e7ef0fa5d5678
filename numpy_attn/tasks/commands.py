"""The rules every command follows: ``numpy-attn train``, ``predict``, ``text``, ``detect``, ``check`` and the
kernel-regression example (``python -m numpy_attn.tasks.kernel_regression``).

1. Options are checked before anything is written. The shared ones have one definition here (``OPTIONS``:
   type and help), so every command refuses a bad value alike, naming the option, what it expected and what
   arrived; ``--help`` shows every default (``HelpFormatter``).
2. A run writes into a new folder beside ``--out`` and moves its files in when it has finished
   (``output_folder``). A run that fails leaves ``--out`` as it found it; a run into a folder that a
   previous run wrote replaces that run's files as a whole, the old ones removed only as the new set moves
   in, so the two never mix.
3. An error or Ctrl-C ends a command with one line on stderr (``run``): ``PROG: error: ...`` and exit status
   2 for a bad option, file or value (ValueError, OSError, FloatingPointError, MemoryError),
   ``PROG: interrupted; ...`` and 130 for Ctrl-C (128 + SIGINT, the shell's convention). SIGTERM (``kill``, a
   job scheduler's stop) stops a run as Ctrl-C does, with exit status 143 (128 + SIGTERM). Any other exception
   is a bug, and keeps its traceback. NumPy's warnings of overflow and invalid values are not printed: the
   trainers check every output, gradient and weight, and stop with the one line that says where.
"""

import argparse
import math
import os
import secrets
import shutil
import signal
import sys
import threading
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path

USER_ERRORS = (ValueError, OSError, FloatingPointError, MemoryError)
NUMPY_FLOAT_WARNINGS = "(overflow|invalid value|divide by zero) encountered"  # NumPy's RuntimeWarnings, e.g. in matmul
EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143


class UsageError(ValueError):
    """A command line its parser refused; ``prog`` names the (sub)command, e.g. ``numpy-attn train``."""

    def __init__(self, prog, message):
        super().__init__(message)
        self.prog = prog


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line to print (what the run kept, or that it wrote nothing); ``kept``: the path of the
    file the run kept (``output_folder``), or None; ``status``: the exit status (``exit_status``)."""

    def __init__(self, line, kept=None, status=EXIT_INTERRUPTED):
        super().__init__(line)
        self.kept, self.status = kept, status


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by ``run``'s handler where the run is: it stops the run as Ctrl-C does."""

    status = EXIT_TERMINATED


def exit_status(stop):
    """The exit status for a KeyboardInterrupt ``stop``: 143 for SIGTERM (``Terminated``, or an ``Interrupted``
    that came from one), 130 for Ctrl-C."""
    return getattr(stop, "status", EXIT_INTERRUPTED)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with every option's default, except where the default is None: a required option, or one
    worked out from the data, whose help says how ("(default: None)" would tell the reader nothing)."""

    def _get_help_string(self, action):  # the hook ArgumentDefaultsHelpFormatter itself overrides
        return action.help if action.default is None else super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with ``HelpFormatter``, whose errors raise ``UsageError`` for ``run`` to print in one
    line (argparse prints the usage block first, then exits)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        raise UsageError(self.prog, message)


# --- option types: argparse calls them on the text given (and on a default given as text) -----------------
def integer(low):
    """An argparse type: an integer >= ``low``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return parse


def positive_number(text):
    """An argparse type: a finite number > 0 (a learning rate; NaN and inf refused)."""
    return _number(text, lambda value: math.isfinite(value) and value > 0, "a finite number > 0")


def non_negative_number(text):
    """An argparse type: a finite number >= 0 (a noise level; NaN and inf refused)."""
    return _number(text, lambda value: math.isfinite(value) and value >= 0, "a finite number >= 0")


def probability(text):
    """An argparse type: a number in [0, 1] (a label smoothing; NaN refused)."""
    return _number(text, lambda value: 0.0 <= value <= 1.0, "a number in [0, 1]")


def fraction(text):
    """An argparse type: a number strictly between 0 and 1."""
    return _number(text, lambda value: 0.0 < value < 1.0, "a fraction strictly between 0 and 1")


def _number(text, accepts, expected):
    """``float(text)`` when ``accepts`` it (text that is no number counts as NaN), else the argparse error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not accepts(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def names_from(allowed, what):
    """An argparse type: one or more comma-separated names from ``allowed`` (``what`` they are, for the
    message), returned as a tuple."""

    def parse(text):
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        if not names or any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"expected {what} from {','.join(allowed)}, comma-separated, "
                                             f"got {text!r}")
        return names

    return parse


OPTIONS = {  # the options several commands share: one type and one help each, so they are checked alike
    "epochs": dict(type=integer(1), help="passes over the training set"),
    "batch_size": dict(type=integer(1), help="series per optimizer step"),
    "lr": dict(type=positive_number, help="learning rate"),
    "patience": dict(type=integer(1), help="early stopping: training ends after this many epochs without a "
                                            "lower validation loss"),
    "hidden": dict(type=integer(1), help="LSTM hidden size of the BiLSTM models"),
    "seed": dict(type=integer(0), help="seed of every random draw (data, weights, batches)"),
}


def add_options(parser, **defaults):
    """Add the shared ``OPTIONS`` named in ``defaults`` to ``parser``, each with this command's default:
    ``add_options(p, epochs=15, lr=3e-3)`` adds ``--epochs`` and ``--lr``."""
    for name, default in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), default=default, **OPTIONS[name])


def out_help(writes):
    """The help of ``--out`` for a command that writes the files ``writes``."""
    return (f"folder for {', '.join(writes)}: written beside it and moved in when the run has finished, "
            "replacing a previous run's files (a folder holding others is refused); a failed run leaves it as it was")


def run(parser, argv=None):
    """Parse ``argv`` (None: ``sys.argv[1:]``), call the function the parsed arguments name (``args.run(args)``,
    set with ``parser.set_defaults(run=..., prog=...)``) and return its exit status; errors and Ctrl-C end it
    with one line on stderr (see the module docstring)."""
    prog = parser.prog
    try:
        with _sigterm_raises_terminated():
            args, unknown = parser.parse_known_args(argv)
            prog = args.prog
            if unknown:  # parse_args would blame the main parser: name the command they were given to
                raise UsageError(prog, f"unrecognized arguments: {' '.join(unknown)}")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", NUMPY_FLOAT_WARNINGS, RuntimeWarning)
                return args.run(args)
    except UsageError as err:
        return _say(err.prog, f"error: {err}", EXIT_ERROR)
    except USER_ERRORS as err:
        return _say(prog, f"error: {err}", EXIT_ERROR)
    except KeyboardInterrupt as stop:
        return _say(prog, str(stop) or "interrupted; nothing written", exit_status(stop))


@contextmanager
def _sigterm_raises_terminated():
    """For the length of the block, SIGTERM raises ``Terminated`` in the main thread (Python's default ends the
    process at once, leaving the run's temporary folder behind); the previous handler afterwards. Signals
    reach only the main thread, so elsewhere (a command run from a thread) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated("interrupted by SIGTERM; nothing written")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(prog, message, status):
    print(f"{prog}: " + " ".join(message.split()), file=sys.stderr)  # one line, whatever the message holds
    return status


# --- the output folder --------------------------------------------------------------------------------------
@contextmanager
def output_folder(out, writes, keep_if_interrupted=None):
    """Yield a new empty folder beside ``out`` for a run's files; move them into ``out`` when the block ends.

    out: the run's folder. It must be absent, empty, or hold only files a previous run of this command wrote:
    names from ``writes`` (and their ``.tmp`` leftovers); anything else is refused with a ValueError before the
    block runs, so a run never deletes what it did not write. Missing parent folders are created.
    When the block ends normally, ``out`` (created when missing) holds exactly the new files: each replaces its
    namesake and the old files without one are removed, only now. When the block raises, the new folder is
    deleted (with the parents created for it) and ``out`` is untouched; Ctrl-C (or SIGTERM, ``Terminated``)
    becomes ``Interrupted``, with the exit status it calls for.
    keep_if_interrupted: the name of a file the run keeps whole as it goes (the best checkpoint so far, saved
    by rename): on Ctrl-C, when it exists, it alone moves into ``out`` as the run's set, and ``Interrupted``
    says where.
    """
    given, out = out, Path(os.path.abspath(out))  # absolute: "--out ." has a name and a parent
    check_out(given, writes)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # the deepest first
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    folder.mkdir()
    moved_in = False
    try:
        yield folder
        _move_in(folder, out)
        moved_in = True
    except KeyboardInterrupt as stop:
        status = exit_status(stop)
        kept = folder / keep_if_interrupted if keep_if_interrupted else None
        if kept is None or not kept.is_file():
            raise Interrupted("interrupted; nothing written", status=status) from None
        for path in folder.iterdir():
            if path != kept:
                path.unlink()  # e.g. the next checkpoint, half-written when Ctrl-C came
        _move_in(folder, out)
        moved_in = True
        kept_at = Path(given) / kept.name
        raise Interrupted(f"interrupted; {kept_at} kept", kept_at, status) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if not moved_in:
            for parent in created:
                with suppress(OSError):  # not empty: someone else wrote there meanwhile
                    parent.rmdir()


def check_out(out, writes):
    """Refuse, with a ValueError naming ``out``, a folder ``output_folder`` would not replace: a file, or a
    folder holding anything but the files ``writes`` names (and their ``.tmp`` leftovers). A command whose
    run takes a while before it writes calls it first, so a bad --out is refused at once."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file, not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not p.is_file() or p.name.removesuffix(".tmp") not in writes)
        if foreign:
            raise ValueError(f"out: {out} holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, "
                             f"which this command does not write; a run replaces the whole folder, so give a "
                             f"new or empty one")


def _move_in(folder, out):
    """Make ``out`` hold exactly the files of ``folder``: the old files without a namesake are removed, then
    each new file replaces its namesake (a rename: never half-written)."""
    out.mkdir(exist_ok=True)
    new = {path.name for path in folder.iterdir()}
    for old in out.iterdir():
        if old.name not in new:
            old.unlink()
    for name in new:
        os.replace(folder / name, out / name)
