"""The numbered lines of a text data file, plain or gzip-compressed, for the line-based readers (.ts, .tsv, .csv).

Every reader reports a bad file the same way, as one ValueError that starts ``<file> line <n>:`` (lines
numbered from 1, as an editor shows them) and says what was expected and what arrived.
"""

import gzip
import zlib
from pathlib import Path


def location(path, lineno):
    """The place in a file that an error message starts with: ``<file> line <n>``."""
    return f"{path} line {lineno}"


class TextLines:
    """The non-blank lines of ``path`` as (lineno, stripped text), one pass; ``.gz`` files are gunzipped.

    An iterator and a context manager (leaving the ``with`` closes the file), so a reader can read a header
    in one loop and carry on with the data in the next. last_lineno: the number of the last line read so far
    (0 before the first, and for an empty file), so a reader that reaches the end can point at it. Text is
    UTF-8 (a byte-order mark is dropped); bytes that are not, or a broken gzip stream, raise a ValueError
    naming the line.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.last_lineno = 0
        self._lines = self._read()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._lines)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._lines.close()

    def _read(self):
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        try:
            with opener(self.path, "rb") as f:
                for raw in f:
                    self.last_lineno += 1
                    line = raw.decode("utf-8-sig").strip()
                    if line:
                        yield self.last_lineno, line
        except UnicodeDecodeError as err:
            at = location(self.path, self.last_lineno)
            raise ValueError(f"{at}: expected UTF-8 text, got bytes that are not ({err.reason})") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            at = location(self.path, self.last_lineno + 1)
            raise ValueError(f"{at}: expected gzip-compressed text, got a broken stream ({err})") from None
