"""`python -m training.draft`: kinds, bounds, values, labels and errors of a drafted spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from riskserve.settings import PROJECT_ROOT
from riskserve.spec import load_spec, parse_spec
from riskserve.tables import encode_frame
from tests.german_like import german_credit
from training.data import prepare
from training.draft import draft, main
from training.drafting.columns import identifier, round_outwards
from training.drafting.yaml_text import number, quote

AWKWARD = [
    "... < 0 DM",
    "0 <= ... < 200 DM",
    "... >= 200 DM / salary assignments for at least 1 year",
    'others: "misc", e.g. holidays',
    "yes",
    "on",
    "no",
    "null",
    "~",
    "#hash",
    "- dash",
    "key: value",
    "{brace}",
    "[list]",
    "it's",
    "back\\slash",
    "tab\there",
    "ünïcødé €",
    "12",
    "0x1F",
    "1e3",
    "&anchor",
    "*alias",
    "!tag",
    "%percent",
    "@at",
    "`tick`",
    "|pipe",
    ">fold",
]


def table(n: int = 200, seed: int = 1) -> pd.DataFrame:
    """A mixed table: every kind, awkward category values, a left-out column of each sort."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.uniform(0.5, 980.0, n), 2)
    frame = pd.DataFrame(
        {
            "Customer ID": [f"C{i:05d}" for i in range(n)],
            "row": np.arange(n),
            "Age (years)": rng.integers(19, 76, n),
            "Amount $": amount,
            "whole floats": rng.integers(-40, 3, n).astype(float),
            "Negative share": np.round(rng.uniform(-0.987, -0.0123, n), 4),
            "card present": rng.random(n) < 0.5,
            "Flag text": np.where(rng.random(n) < 0.5, "TRUE", "false"),
            "Answer": np.where(rng.random(n) < 0.5, "yes", "no"),
            "Awkward": np.asarray(AWKWARD)[np.arange(n) % len(AWKWARD)],
            "Country": "DE",
            "Notes": np.nan,
            "class": np.where(rng.random(n) < 0.3, "bad", "good"),
        }
    )
    return frame


def drafted(frame: pd.DataFrame, tmp_path: Path, **kwargs):
    result = draft(
        frame, kwargs.pop("target", "class"), "own_model", tmp_path / "data.csv", **kwargs
    )
    return result, parse_spec(result.text, "draft")


def test_kinds_names_and_left_out_columns(tmp_path):
    result, spec = drafted(table(), tmp_path)
    kinds = {f.source_column: (f.name, f.kind) for f in spec.features}
    assert kinds == {
        "Age (years)": ("age_years", "int"),
        "Amount $": ("amount", "float"),
        "whole floats": ("whole_floats", "int"),
        "Negative share": ("negative_share", "float"),
        "card present": ("card_present", "bool"),
        "Flag text": ("flag_text", "bool"),
        "Answer": ("answer", "category"),
        "Awkward": ("awkward", "category"),
    }
    assert spec.feature("answer").values == ("no", "yes")
    notes = "\n".join(result.notes)
    for column, why in [
        ("Customer ID", "an ID"),
        ("row", "an ID"),
        ("Country", "constant"),
        ("Notes", "empty in every row"),
    ]:
        assert f"left out column {column!r}: {why}" in notes
        assert f'# Left out: "{column}": {why}' in result.text
    assert spec.task == "binary" and spec.positive_label == "bad"
    assert spec.response.probability == "probability_of_bad"
    assert spec.decision.policy == "bands" and spec.decision.threshold == 0.5


def test_awkward_category_values_round_trip_exactly(tmp_path):
    _, spec = drafted(table(), tmp_path)
    assert spec.feature("awkward").values == tuple(sorted(AWKWARD))
    for value in AWKWARD:
        assert yaml.safe_load(f"v: {quote(value)}") == {"v": value}
    for value in ["line\nbreak", "\u2028", "\x85", "\ufeff", "\x00", "😀", '"', "\\"]:
        assert yaml.safe_load(quote(value)) == value


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5, 1e-05, 1.5e-07, 1e20, 123456789.125, 7])
def test_numbers_load_back_as_numbers(value):
    assert yaml.safe_load(number(value)) == value
    assert type(yaml.safe_load(number(value))) is type(value)


def test_bounds_cover_every_row_of_the_file_and_the_example_is_a_row(tmp_path):
    frame = table()
    _, spec = drafted(frame, tmp_path)
    encoded = encode_frame(spec, frame)
    assert encoded.rejected_rows == 0, encoded.rejects.head()
    assert prepare(spec, frame).rows == len(frame)
    first = {f.name: frame[f.source_column].iloc[0] for f in spec.features}
    assert spec.example["age_years"] == first["age_years"]
    assert spec.example["awkward"] == first["awkward"]
    assert spec.example["card_present"] is bool(first["card_present"])
    age = spec.feature("age_years")
    low, high = frame["Age (years)"].min(), frame["Age (years)"].max()
    assert age.ge <= low and high <= age.le <= round_outwards(high, up=True)
    share = spec.feature("negative_share")
    assert share.ge <= frame["Negative share"].min() and share.le >= frame["Negative share"].max()


@pytest.mark.parametrize(
    ("value", "up", "expected"),
    [
        (18424, True, 19000),
        (250, False, 250),
        (0.973, True, 0.98),
        (-0.987, False, -0.99),
        (-0.0123, True, -0.012),
        (72, True, 72),
        (0, True, 0),
        (1234.5, False, 1200),
    ],
)
def test_round_outwards(value, up, expected):
    assert round_outwards(value, up) == expected


def test_identifiers_are_valid_field_names():
    assert identifier("Savings account/bonds") == "savings_account_bonds"
    assert identifier("2nd applicant") == "f_2nd_applicant"
    assert identifier("Ämter (€)") == "amter"
    assert identifier("!!!") == "column"
    frame = pd.DataFrame(
        {
            "json": [1, 2, 3, 4] * 5,
            "JSON ": [4, 3, 2, 1] * 5,
            "Class": [1, 2] * 10,
            "class": ["a", "b"] * 10,
        }
    )
    spec = parse_spec(draft(frame, "class", "m", Path("x.csv"), positive="a").text)
    assert spec.feature_names == ["json_value", "json_value_2", "class_2"]


@pytest.mark.parametrize(
    ("labels", "positive"),
    [
        ([1, 0], "1"),
        ([1.0, 0.0], "1"),
        (["bad", "good"], "bad"),
        (["Yes", "No"], "Yes"),
        ([True, False], "True"),
        (["true", "false"], "true"),
        (["default", "no default"], "default"),
        (["Charged Off", "Fully Paid"], "Charged Off"),
        (["Y", "N"], "Y"),
    ],
)
def test_positive_label_inferred_from_common_codings(labels, positive, tmp_path):
    frame = table()
    frame["class"] = np.asarray(labels)[np.arange(len(frame)) % 2]
    result, spec = drafted(frame, tmp_path)
    assert spec.positive_label == positive
    assert "inferred from the coding" in result.text
    # Training reads the same labels: the positive class is found.
    assert prepare(spec, frame).target.sum() == len(frame) // 2


def test_positive_given_and_multiclass(tmp_path):
    frame = table()
    frame["class"] = np.where(np.arange(len(frame)) % 2, "A", "B")
    _, spec = drafted(frame, tmp_path, positive="B")
    assert spec.positive_label == "B" and spec.response.probability == "probability_of_b"
    frame["class"] = np.asarray(["setosa", "versicolor", "virginica"])[np.arange(len(frame)) % 3]
    _, spec = drafted(frame, tmp_path)
    assert (spec.task, spec.classes, spec.decision.policy) == (
        "multiclass",
        ("setosa", "versicolor", "virginica"),
        "argmax",
    )
    assert spec.decision.field == "class"
    assert prepare(spec, frame).rows == len(frame)


def test_sparse_columns(tmp_path):
    frame = table()
    frame.loc[frame.index[::4], "Amount $"] = np.nan  # 25% empty: left out
    frame.loc[frame.index[1::12], "Answer"] = np.nan  # 8% empty: kept, rows lost in training
    result, spec = drafted(frame, tmp_path)
    assert "amount" not in spec.feature_names
    assert "empty in 25% of the rows" in "\n".join(result.notes)
    assert spec.training.max_rejected_fraction >= 0.09
    prepared = prepare(spec, frame)
    assert len(prepared.target) == len(frame) - len(frame.index[1::12])


def test_bands_follow_the_base_rate(tmp_path):
    frame = table(400)
    frame["class"] = np.where(np.arange(400) % 50 == 0, "fraud", "legit")  # 2%
    _, spec = drafted(frame, tmp_path)
    assert [level.below for level in spec.decision.levels] == [0.02, 0.04, None]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training.draft", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_a_spec_that_loads(tmp_path):
    data = tmp_path / "applicants.csv"
    german_credit(300).to_csv(data, index=False)
    out = tmp_path / "specs" / "mine.yaml"
    done = run(
        tmp_path, "--data", str(data), "--target", "class", "--name", "mine", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "wrote" in done.stdout and "REVIEW" in done.stdout
    spec = load_spec(out)
    assert spec.name == "mine" and len(spec.features) == 20
    assert "# REVIEW:" in out.read_text()


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("change", "target", "extra", "message"),
    [
        (None, "outcome", [], "the data has no target column 'outcome' (columns: 'Customer ID'"),
        ("one_class", "class", [], "the target 'class' has only 1 value (['good'])"),
        (
            None,
            "class",
            ["--positive", "ugly"],
            "positive label 'ugly' is not a value of the target 'class' (values: 'bad', 'good')",
        ),
        (
            "codes",
            "class",
            [],
            "cannot tell which value of the target 'class' is the adverse "
            "(positive) one: '1', '2'; pass --positive",
        ),
        ("three", "class", ["--positive", "a"], "--positive is for binary targets"),
        ("unusable", "class", [], "no column of the data can be a feature"),
        ("empty_target", "class", [], "the target 'class' is empty in 3 of 200 rows"),
        (None, "class", ["--name", "Bad-Name"], "a model name is lower-case letters"),
    ],
)
def test_errors_are_one_line(change, target, extra, message, tmp_path, capsys):
    frame = table()
    if change == "one_class":
        frame["class"] = "good"
    elif change == "codes":
        frame["class"] = np.arange(len(frame)) % 2 + 1
    elif change == "three":
        frame["class"] = np.asarray(["a", "b", "c"])[np.arange(len(frame)) % 3]
    elif change == "unusable":
        frame = frame[["Customer ID", "Country", "Notes", "class"]]
    elif change == "empty_target":
        frame.loc[frame.index[:3], "class"] = np.nan
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    argv = ["--data", str(data), "--target", target, "--out", str(tmp_path / "s.yaml")]
    if "--name" not in extra:
        argv += ["--name", "m"]
    assert message in one_line_error(capsys, argv + extra)
    assert not (tmp_path / "s.yaml").exists()


def test_file_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "s.yaml")
    common = ["--target", "class", "--name", "m", "--out", out]
    (tmp_path / "data.xlsx").write_text("x")
    assert "unknown file type '.xlsx'; use .csv or .parquet" in one_line_error(
        capsys, ["--data", str(tmp_path / "data.xlsx"), *common]
    )
    assert "no such file" in one_line_error(capsys, ["--data", str(tmp_path / "no.csv"), *common])
    (tmp_path / "header.csv").write_text("a,class\n")
    assert "has no rows" in one_line_error(
        capsys, ["--data", str(tmp_path / "header.csv"), *common]
    )
    Path(out).write_text("reviewed: true\n")
    table().to_csv(tmp_path / "data.csv", index=False)
    assert "exists: delete it or choose another OUT" in one_line_error(
        capsys, ["--data", str(tmp_path / "data.csv"), *common]
    )
    assert Path(out).read_text() == "reviewed: true\n"


def test_cli_error_has_no_traceback_in_a_real_process(tmp_path):
    data = tmp_path / "data.csv"
    table().to_csv(data, index=False)
    done = run(
        tmp_path,
        "--data",
        str(data),
        "--target",
        "nope",
        "--name",
        "m",
        "--out",
        str(tmp_path / "s.yaml"),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(
        "error: the data has no target column"
    )


def test_parquet_dates_and_categorical_dtype(tmp_path):
    frame = table()
    frame["Opened"] = pd.date_range("2020-01-01", periods=len(frame), freq="D")
    frame["Answer"] = frame["Answer"].astype("category")
    data = tmp_path / "data.parquet"
    frame.to_parquet(data)
    out = tmp_path / "s.yaml"
    assert main(["--data", str(data), "--target", "class", "--name", "m", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert "opened" not in spec.feature_names
    assert spec.feature("answer").values == ("no", "yes")
    assert "dates and times are not a feature kind" in out.read_text()
