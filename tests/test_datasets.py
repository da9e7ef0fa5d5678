"""numpy_attn.datasets: the bundled datasets, the readers of each format, their errors, and znormalize.

The bundled data is checked against the archives' table (data/README.md) and against its own raw text; the
readers by round trips (a random split written in each format and read back exactly: float32 values are
written as the shortest decimal of their float64 value, which parses back to the same float32) and by one
malformed file per rule, whose error must name the file and the line.
"""

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numpy_attn.datasets import (
    Dataset,
    LabelledSeries,
    bundled_files,
    load,
    names,
    read,
    read_npz,
    read_ts,
    read_ts_header,
    read_ucr,
    znormalize,
)

# --- the bundled datasets -------------------------------------------------------------------------------
TABLE = {  # name: (train cases, test cases, classes, channels, shortest, longest), from data/README.md
    "GunPoint": (50, 150, 2, 1, 150, 150),
    "ItalyPowerDemand": (67, 1029, 2, 1, 24, 24),
    "BasicMotions": (40, 40, 4, 6, 100, 100),
    "JapaneseVowels": (270, 370, 9, 12, 7, 29),
}
_LOADED = {}


def _load(name):
    """Each dataset read once per test run."""
    if name not in _LOADED:
        _LOADED[name] = load(name)
    return _LOADED[name]


def test_names_are_the_bundled_classification_datasets():
    assert names() == list(TABLE)


@pytest.mark.parametrize("name", TABLE)
def test_bundled_dataset_matches_the_archive_table(name):
    n_train, n_test, n_classes, channels, shortest, longest = TABLE[name]
    data = _load(name)
    assert data.name == name and len(data.class_names) == n_classes
    for split, n in ((data.train, n_train), (data.test, n_test)):
        assert split.X.dtype == np.float32 and split.lengths.dtype == np.int64 and split.labels.dtype.kind == "U"
        assert split.X.shape == (n, split.lengths.max(), channels)
        assert split.lengths.shape == split.labels.shape == (n,)
        padding = np.arange(split.X.shape[1])[None, :] >= split.lengths[:, None]  # (N, T)
        assert (split.X[padding] == 0).all()
    lengths = np.concatenate([data.lengths_train, data.lengths_test])
    assert (lengths.min(), lengths.max()) == (shortest, longest)
    for y in (data.y_train, data.y_test):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(n_classes))


@pytest.mark.parametrize("name", TABLE)
def test_bundled_values_match_the_raw_text(name):
    """The first and the last training case, every value, against a plain split of the file's own lines."""
    data, path = _load(name), bundled_files(name)["train"]
    with gzip.open(path, "rt") as f:
        text = f.read().splitlines()
    cases = [line for line in text[text.index("@data") + 1 :] if line.strip()]
    assert len(cases) == len(data.train.labels)
    for n in (0, len(cases) - 1):
        *channels, label = cases[n].split(":")
        assert data.train.labels[n] == label
        for c, channel in enumerate(channels):
            values = np.array([np.float32(v) for v in channel.split(",")])
            assert data.train.lengths[n] == len(values)
            np.testing.assert_array_equal(data.train.X[n, : len(values), c], values)


def test_bundled_files_keep_their_header_comments():
    with gzip.open(bundled_files("GunPoint")["train"], "rt") as f:
        head = f.read(2000)
    assert head.startswith("#This dataset involves one female actor and one male actor")
    assert "#correlated. The data in the archive is just the X-axis.\n@problemName GunPoint" in head


def test_the_anomaly_series_is_bundled_as_plain_csv():
    files = bundled_files("kdd-tsad_135")
    assert files["train"].name == "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv"
    assert files["test"].name == "135_UCR_Anomaly_InternalBleeding16_TEST.csv"
    train, test = (files[s].read_text().splitlines() for s in ("train", "test"))
    assert train[0] == test[0] == "timestamp,value,is_anomaly"
    assert (len(train) - 1, len(test) - 1) == (1200, 7501) and test[1 : len(train)] == train[1:]
    anomalous = [i for i, row in enumerate(test[1:]) if row.endswith(",1")]
    assert (anomalous[0], anomalous[-1]) == (4187, 4198)


def test_load_is_case_insensitive_and_names_the_choices_when_unknown():
    assert load("gunpoint").name == "GunPoint"
    assert set(bundled_files("BASICMOTIONS")) == {"train", "test"}
    with pytest.raises(ValueError, match="unknown dataset 'Gunpowder'; the bundled ones are GunPoint, Italy"):
        load("Gunpowder")
    with pytest.raises(ValueError, match="anomaly detection.*bundled_files"):
        load("KDD-TSAD_135")


def test_class_names_sort_numbers_by_value_and_encode_into_them():
    data = _load("BasicMotions")
    assert data.class_names == ("Badminton", "Running", "Standing", "Walking")
    assert data.encode(np.array(["Walking", "Badminton"])).tolist() == [3, 0]
    with pytest.raises(ValueError, match="unknown class label 'Swimming'"):
        data.encode(["Running", "Swimming"])
    split = _split(["10", "2", "-1", "a10", "a2", "1.5"])
    assert Dataset.from_splits("toy", split, split).class_names == ("-1", "1.5", "2", "10", "a2", "a10")


def test_a_dataset_refuses_a_label_outside_its_class_names():
    with pytest.raises(ValueError, match="toy.ts: class label '3' is not one of"):
        Dataset("toy", _split(["1"]), _split(["3"]), ("1", "2"))


def _split(labels):
    n = len(labels)
    return LabelledSeries(np.zeros((n, 1, 1), np.float32), np.ones(n, np.int64), np.array(labels), "toy.ts")


# --- round trips ----------------------------------------------------------------------------------------
LABELS = st.text(alphabet="ab-_.19é", min_size=1, max_size=3)


@st.composite
def random_split(draw, univariate):
    """(X (N, T, C) float32 zero-padded, lengths (N,) with max T, labels (N,) str, equal length?)."""
    n, t = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    c = 1 if univariate else draw(st.integers(1, 3))
    equal = draw(st.booleans())
    lengths = np.full(n, t) if equal else draw(hnp.arrays(np.int64, n, elements=st.integers(1, t)))
    lengths[draw(st.integers(0, n - 1))] = t
    values = st.floats(-1e6, 1e6, width=32, allow_subnormal=False)
    X = draw(hnp.arrays(np.float32, (n, t, c), elements=values))
    X[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
    return X, lengths, np.array(draw(st.lists(LABELS, min_size=n, max_size=n))), equal


def _text(values):
    """The shortest decimals of float32 values' float64 twins: each reads back to the same float32."""
    return [repr(float(v)) for v in values]


def write_ts(path, X, lengths, labels, equal, declared=()):
    """A .ts file (gzipped for a .gz name) that declares the labels used plus ``declared``."""
    c = X.shape[2]
    header = ["#written by test_datasets", "@problemName Random", "@timeStamps false", "@missing false"]
    header += [f"@univariate {str(c == 1).lower()}", f"@dimensions {c}", f"@equalLength {str(equal).lower()}"]
    header += [f"@seriesLength {X.shape[1]}"] if equal else []
    header += [f"@classLabel true {' '.join(sorted(set(labels.tolist()) | set(declared)))}", "@data"]
    cases = [
        ":".join(",".join(_text(X[n, :length, k])) for k in range(c)) + f":{label}"
        for n, (length, label) in enumerate(zip(lengths, labels))
    ]
    text = "\n".join(header + cases) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


def write_ucr(path, X, lengths, labels, equal=None):
    """UCR 2018: label first, each series NaN-padded to the longest (``equal`` unused: a shared signature)."""
    sep = "\t" if path.suffix == ".tsv" else ","
    rows = [
        sep.join([label] + _text(X[n, :length, 0]) + ["NaN"] * (X.shape[1] - length))
        for n, (length, label) in enumerate(zip(lengths, labels))
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_npz(path, X, lengths, labels, equal=None):
    padded = np.where(np.arange(X.shape[1])[None, :, None] < lengths[:, None, None], X, np.nan)
    np.savez(path, X=padded[:, :, 0] if X.shape[2] == 1 else padded, y=labels)


WRITERS = {".ts": write_ts, ".ts.gz": write_ts, ".tsv": write_ucr, ".csv": write_ucr, ".npz": write_npz}


@pytest.mark.parametrize("ending", WRITERS)
@given(data=st.data())
def test_round_trip(ending, data, tmp_path_factory):
    X, lengths, labels, equal = data.draw(random_split(univariate=ending in (".tsv", ".csv")))
    path = tmp_path_factory.mktemp("round_trip") / f"split{ending}"
    WRITERS[ending](path, X, lengths, labels, equal)
    split = read(path)
    np.testing.assert_array_equal(split.X, X)
    np.testing.assert_array_equal(split.lengths, lengths)
    np.testing.assert_array_equal(split.labels, labels)
    assert split.X.dtype == np.float32 and split.lengths.dtype == np.int64 and split.source == str(path)


def test_declared_labels_become_the_class_names_even_when_absent(tmp_path):
    path = tmp_path / "toy.ts"
    write_ts(path, np.ones((2, 3, 1), np.float32), np.array([3, 3]), np.array(["1", "10"]), True, declared=["2"])
    split = read_ts(path)
    data = Dataset.from_splits("toy", split, split, read_ts_header(path).class_labels)
    assert data.class_names == ("1", "2", "10") and data.y_train.tolist() == [0, 2]


def test_windows_line_endings_and_a_byte_order_mark_read_the_same(tmp_path):
    plain, windows = tmp_path / "plain.ts", tmp_path / "windows.ts"
    write_ts(plain, np.arange(6, dtype=np.float32).reshape(2, 3, 1), np.array([3, 2]), np.array(["a", "b"]), False)
    windows.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    np.testing.assert_array_equal(read(plain).X, read(windows).X)


def test_npz_integer_labels_become_their_text(tmp_path):
    path = tmp_path / "split.npz"
    np.savez(path, X=np.ones((2, 3)), y=np.array([3, -1]))
    assert read_npz(path).labels.tolist() == ["3", "-1"]


# --- bad files: one ValueError naming the file and the line ---------------------------------------------
HEAD = "#a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n"
TOY = HEAD + "@seriesLength 3\n@classLabel true 1 2\n@data\n"  # lines 1-9; the first case is line 10
MULTI = "@dimensions 2\n@classLabel true 1 2\n@data\n"  # lines 1-3
BAD_TS = [  # (what is wrong, file text, line, what the message says)
    ("too few values", TOY + "1,2,3:1\n1,2:2\n", 11, "expected 3 values (@seriesLength), got 2"),
    ("a case before @data", "@problemName Toy\n1,2,3:1\n", 2, "expected '@data' before the first case"),
    ("undeclared label", TOY + "1,2,3:1\n\n1,2,3:x\n", 12, "class label 'x' is not declared in @classLabel (1, 2)"),
    ("channels vs @dimensions", MULTI + "1:2:3:1\n", 4, "expected 2 channel(s) (@dimensions), got 3"),
    ("channels vs @univariate", TOY + "1,2,3:4,5,6:1\n", 10, "expected 1 channel(s) (@univariate true), got 2"),
    (
        "channels vs the first case",
        "@classLabel true 1\n@data\n1:2:1\n1:1", 4,
        "expected 2 channel(s) (as on line 3), got 1",
    ),
    ("a channel shorter than the first", MULTI + "1,2:3:1\n", 4, "channel 2 has 1 values, channel 1 has 2"),
    (
        "lengths vs @equalLength",
        HEAD + "@classLabel true 1\n@data\n1,2:1\n1:1", 10,
        "(@equalLength true, as on line 9)",
    ),
    ("a word for a number", TOY + "1,two,3:1\n", 10, "line 10: value 2: expected a number or '?' (missing), got 'two'"),
    ("an empty channel", MULTI + "1,2::1\n", 4, "channel 2, value 1: expected a number or '?' (missing), got ''"),
    ("infinity", TOY + "1,inf,3:1\n", 10, "value 2: expected a finite number, got 'inf'"),
    ("no label", TOY + "1,2,3\n", 10, "expected the values and the class label separated by ':', got no ':'"),
    ("an empty file", "", 1, "expected '@data', got an empty file"),
    ("only comments", "# nothing\n\n", 2, "expected '@data', got the end of the file"),
    ("no cases", TOY + "# none\n", 9, "expected cases after '@data', got none"),
    ("time stamps", "@timeStamps true\n", 1, "@timeStamps: expected false (time-stamped series are not supported)"),
    ("an unknown tag", "@targetLabel true\n", 1, "unknown header line '@targetLabel'; expected one of @problemName"),
    (
        "a tag twice",
        "@dimensions 2\n@missing false\n@dimensions 3", 3,
        "@dimensions appears a second time (first on line 1)",
    ),
    ("not a boolean", "@univariate maybe\n", 1, "@univariate: expected true or false, got 'maybe'"),
    ("not a length", "@seriesLength -3\n", 1, "@seriesLength: expected a positive integer, got '-3'"),
    ("no labels declared", "@classLabel false\n", 1, "@classLabel: expected 'true' and the distinct class labels"),
    ("a label declared twice", "@classLabel true 1 1", 1, "@classLabel: expected 'true' and the distinct class"),
    ("@classLabel absent", "@univariate true\n@data\n1:1", 2, "expected '@classLabel true <labels...>' before"),
    (
        "a contradiction",
        "@univariate true\n@dimensions 2\n@classLabel true 1\n@data", 4,
        "@univariate true contradicts @",
    ),
    ("a header after @data", TOY + "1,2,3:1\n@dimensions 2", 11, "expected a case, got the header line '@dimensions'"),
]
BAD_UCR = [
    ("a short line", "1\t1\t2\t3\n\n2\t1\t2\n", 3, "expected 3 values after the label (as on line 1), got 2"),
    ("a word for a number", "1\t1\tx\t3\n", 1, "value 2: expected a number or '?' (missing), got 'x'"),
    ("only NaN", "1\t1\t2\n2\tNaN\tNaN\n", 2, "expected at least one value, got only NaN"),
    ("no values", "1\n", 1, "expected a class label and then values, separated by tabs, got '1'"),
    ("an empty file", "", 1, "expected one series a line, got an empty file"),
]


@pytest.mark.parametrize("ending", [".ts", ".tsv", ".csv"])
@given(head=st.sampled_from(["", TOY, MULTI, HEAD]), tail=st.text(alphabet="0123456789.,:;?-e \t\n#@NaTtrufls"))
def test_any_text_reads_or_raises_one_value_error(ending, head, tail, tmp_path_factory):
    """Never a traceback: whatever the text, a split or one ValueError that names the file and the line."""
    path = tmp_path_factory.mktemp("fuzz") / f"any{ending}"
    path.write_text(head + tail)
    try:
        split = read(path)
    except ValueError as error:
        assert str(error).startswith(f"{path} line "), str(error)
    else:
        assert len(split.labels) >= 1 and np.isfinite(split.X).all()


@pytest.mark.parametrize("text, line, message", [case[1:] for case in BAD_TS], ids=[case[0] for case in BAD_TS])
def test_bad_ts_file_names_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.ts"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        read(path)
    assert str(error.value).startswith(f"{path} line {line}: ") and message in str(error.value), str(error.value)


@pytest.mark.parametrize("text, line, message", [case[1:] for case in BAD_UCR], ids=[case[0] for case in BAD_UCR])
def test_bad_ucr_file_names_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        read(path)
    assert str(error.value).startswith(f"{path} line {line}: ") and message in str(error.value), str(error.value)


def test_bad_csv_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,0.5,0.25\n2,0.5,\n")
    with pytest.raises(ValueError, match=f"^{path} line 2: value 2: expected a number or '\\?' \\(missing\\), got ''"):
        read_ucr(path)


@pytest.mark.parametrize(
    "raw, line, message",
    [
        (b"@classLabel true 1\n@data\n1:\xff\n", 3, "expected UTF-8 text"),
        (gzip.compress(b"@classLabel true 1\n@data\n1:1\n")[:-8], 4, "expected gzip-compressed text"),
        (b"not gzip at all\n", 1, "expected gzip-compressed text"),
    ],
    ids=["not UTF-8", "a truncated gzip stream", "not gzip"],
)
def test_unreadable_bytes_name_the_file_and_line(tmp_path, raw, line, message):
    path = tmp_path / ("bad.ts" if raw.startswith(b"@") else "bad.ts.gz")
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=f"^{path} line {line}: {message}"):
        read(path)


def _save_object_array(path):
    np.savez(path, X=np.ones((1, 2)), y=np.array([{"label": 1}], dtype=object))


BAD_NPZ = [  # (what is wrong, arrays to save or a writer, what the message says)
    ("no y", dict(X=np.ones((2, 3))), "expected arrays 'X' and 'y', got ['X']"),
    ("Python objects", _save_object_array, "'y' holds Python objects; expected an array of numbers or strings"),
    ("float labels", dict(X=np.ones((2, 3)), y=np.array([1.0, 2.0])), "store y.astype(np.int64)"),
    ("labels for another N", dict(X=np.ones((2, 3)), y=np.array(["a"])), "'y': expected (2,) class labels"),
    ("X of 4 dimensions", dict(X=np.ones((2, 3, 1, 1)), y=np.array(["a", "b"])), "expected an (N, T) or (N, T, C)"),
    ("no series", dict(X=np.ones((0, 3)), y=np.array([], dtype=str)), "expected at least one series, step and channel"),
    ("infinity", dict(X=np.array([[1.0, 2.0], [1.0, np.inf]]), y=np.array(["a", "b"])),
     "series 2 (X[1]): value 2: expected a finite number, got inf"),
    ("an all-NaN series", dict(X=np.array([[1.0, 2.0], [np.nan] * 2]), y=np.array(["a", "b"])),
     "series 2 (X[1]): expected at least one value, got only NaN"),
]


@pytest.mark.parametrize("arrays, message", [case[1:] for case in BAD_NPZ], ids=[case[0] for case in BAD_NPZ])
def test_bad_npz_names_the_file_and_series(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    arrays(path) if callable(arrays) else np.savez(path, **arrays)
    with pytest.raises(ValueError) as error:
        read(path)
    assert str(error.value).startswith(f"{path}") and message in str(error.value), str(error.value)
    assert "pickle" not in str(error.value)


def test_a_file_that_is_not_an_npz_archive_is_refused(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_text("X,y\n")
    with pytest.raises(ValueError, match="expected an .npz archive"):
        read(path)


def test_unknown_ending_and_unknown_missing_option_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a file ending in .ts, .ts.gz, .tsv.*got 'data.txt'"):
        read(tmp_path / "data.txt")
    with pytest.raises(ValueError, match="missing: expected 'error' or 'interpolate', got 'drop'"):
        read(tmp_path / "data.ts", missing="drop")


# --- missing values -------------------------------------------------------------------------------------
def test_ts_missing_values_refused_by_default_and_interpolated_on_request(tmp_path):
    path = tmp_path / "gaps.ts"
    path.write_text(MULTI.replace("@data", "@seriesLength 4\n@data") + "?,2,NaN,4:?,?,?,nan:2\n")
    with pytest.raises(ValueError, match=f"^{path} line 5: channel 1, value 1 is missing .*missing='interpolate'"):
        read(path)
    with pytest.raises(ValueError, match=f"^{path} line 5: channel 2 has only missing values"):
        read(path, missing="interpolate")
    path.write_text(MULTI + "?,2,NaN,4,?:1,?,3,?,nan:2\n")
    split = read(path, missing="interpolate")
    np.testing.assert_array_equal(split.X[0].T, [[2, 2, 3, 4, 4], [1, 2, 3, 3, 3]])
    assert split.lengths.tolist() == [5]


def test_ucr_trailing_nan_ends_a_series_and_inner_nan_is_missing(tmp_path):
    path = tmp_path / "gaps.tsv"
    path.write_text("1\t1\tNaN\t3\tNaN\tNaN\n2\t1\t2\t3\t4\t5\n")
    with pytest.raises(ValueError, match=f"^{path} line 1: value 2 is missing"):
        read(path)
    split = read(path, missing="interpolate")
    assert split.lengths.tolist() == [3, 5]
    np.testing.assert_array_equal(split.X[0, :, 0], [1, 2, 3, 0, 0])


def test_npz_inner_nan_is_missing(tmp_path):
    path = tmp_path / "gaps.npz"
    np.savez(path, X=np.array([[1.0, np.nan, 5.0, np.nan]]), y=np.array(["a"]))
    with pytest.raises(ValueError, match="series 1 \\(X\\[0\\]\\): value 2 is missing"):
        read(path)
    split = read(path, missing="interpolate")
    assert split.lengths.tolist() == [3] and split.X[0, :, 0].tolist() == [1, 3, 5]


# --- znormalize -----------------------------------------------------------------------------------------
@st.composite
def padded_series(draw):
    """(X (N, T, C) float64 on a grid of eighths, lengths (N,))."""
    n, t, c = draw(st.integers(1, 4)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    X = draw(hnp.arrays(np.float64, (n, t, c), elements=st.integers(-800, 800).map(lambda k: k / 8)))
    return X, draw(hnp.arrays(np.int64, n, elements=st.integers(1, t)))


@given(padded_series())
def test_znormalize_gives_mean_0_std_1_over_each_series_own_steps(series):
    X, lengths = series
    Z = znormalize(X, lengths)
    assert Z.shape == X.shape and Z.dtype == X.dtype
    for n, length in enumerate(lengths):
        assert (Z[n, length:] == 0).all()
        for c in range(X.shape[2]):
            valid, z = X[n, :length, c], Z[n, :length, c]
            if valid.min() == valid.max():
                assert (z == 0).all()
            else:
                np.testing.assert_allclose([z.mean(), z.std()], [0, 1], atol=1e-12)
                np.testing.assert_allclose(z * valid.std() + valid.mean(), valid, atol=1e-9)


def test_znormalize_keeps_float32_and_zeroes_constant_channels_and_padding():
    X = np.array([[[1, 7], [3, 7], [9, 9]], [[4, 4], [5, 5], [6, 6]]], dtype=np.float32)  # (2, 3, 2)
    Z = znormalize(X, np.array([2, 1]))
    assert Z.dtype == np.float32
    np.testing.assert_array_equal(Z, [[[-1, 0], [1, 0], [0, 0]], [[0, 0], [0, 0], [0, 0]]])
    with pytest.raises(ValueError, match="znormalize lengths: expected lengths in \\[1, 3\\], got 0..2"):
        znormalize(X, np.array([2, 0]))
