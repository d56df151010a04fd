"""`appliance profile`: statistics against numpy, target rates, associations, the HTML, the CLI."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import appliance.profile
from appliance.cli.main import cli, main
from appliance.errors import ApplianceError, HomeError, NotFound, SchemaError
from appliance.home import DataHome
from appliance.profile import (
    ProfileConfig,
    ReportError,
    binary_target,
    profile_table,
    render_figures,
    render_html,
    write_report,
)
from appliance.profile.pairwise import average_ranks, cramers_v, pearson_matrix
from appliance.profile.stats import duplicate_rows
from appliance.store.db import connect, now_iso

REPO = Path(__file__).resolve().parents[1]
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


def credit_table(n: int = 600, seed: int = 7) -> pa.Table:
    """A small mixed table: numbers with gaps, categories, a boolean, dates and a 0/1 target."""
    rng = np.random.default_rng(seed)
    score = rng.normal(650, 80, n)
    default = (rng.random(n) < 1 / (1 + np.exp((score - 600) / 40))).astype(np.int64)
    dates = [dt.date(2023, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 400, n)]
    return pa.table(
        {
            "age": pa.array(rng.integers(18, 80, n), pa.int32()),
            "income": pa.array(np.exp(rng.normal(8, 0.7, n)), mask=rng.random(n) < 0.1),
            "score": score,
            "region": pa.array(rng.choice(["north", "south", "east", "west"], n)),
            "has_car": pa.array(rng.random(n) < 0.4),
            "applied_on": pa.array(dates, pa.date32()),
            "default": default,
        }
    )


# --- numeric statistics against numpy ------------------------------------------------

floats_or_missing = st.one_of(
    st.none(), st.just(math.nan), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=80, deadline=None)
@given(st.lists(floats_or_missing, min_size=1, max_size=300))
def test_numeric_statistics_match_numpy(values: list[float | None]) -> None:
    column = profile_table(pa.table({"x": pa.array(values, pa.float64())}), name="t").columns[0]
    x = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    assert column.missing == len(values) - x.size
    assert column.missing_rate == pytest.approx((len(values) - x.size) / len(values))
    assert column.distinct == np.unique(x).size
    if x.size == 0:
        assert column.numeric is None
        return
    s = column.numeric
    assert s is not None
    scale = 1e-9 * max(1.0, float(np.abs(x).max()))
    assert s.mean == pytest.approx(x.mean(), rel=1e-9, abs=scale)
    expected_q = np.quantile(x, QUANTILES)
    actual_q = [s.p1, s.p25, s.p50, s.p75, s.p99]
    assert actual_q == pytest.approx(list(expected_q), rel=1e-9, abs=scale)
    assert (s.min, s.max) == (x.min(), x.max())
    assert (s.zeros, s.negatives) == (int((x == 0).sum()), int((x < 0).sum()))
    if x.size > 1:
        assert s.std == pytest.approx(np.std(x, ddof=1), rel=1e-6, abs=scale)
    if np.ptp(x) > 1e-2:
        d = x - x.mean()
        assert s.skew == pytest.approx((d**3).mean() / (d**2).mean() ** 1.5, rel=1e-4, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), min_size=1, max_size=200))
def test_integer_columns_with_nulls(values: list[int | None]) -> None:
    column = profile_table(pa.table({"n": pa.array(values, pa.int64())}), name="t").columns[0]
    x = np.array([v for v in values if v is not None], dtype=float)
    assert column.kind == "numeric"
    assert column.missing == values.count(None)
    if x.size:
        assert column.numeric is not None
        assert column.numeric.p50 == pytest.approx(np.median(x))
        assert sum(column.distribution.counts) == x.size  # type: ignore[union-attr]


def test_infinities_are_counted_apart_from_moments() -> None:
    column = profile_table(
        pa.table({"x": [1.0, 2.0, math.inf, -math.inf, None, math.nan]}), name="t"
    ).columns[0]
    assert column.missing == 2
    assert column.numeric is not None
    assert column.numeric.infinite == 2
    assert column.numeric.mean == 1.5
    assert column.numeric.negatives == 1


def test_histogram_counts_every_row_in_range_and_reports_the_tails() -> None:
    x = np.concatenate([np.random.default_rng(1).normal(0, 1, 10_000), [1e6]])
    dist = profile_table(pa.table({"x": x}), name="t").columns[0].distribution
    assert dist is not None and dist.kind == "histogram"
    assert sum(dist.counts) + dist.below + dist.above == x.size
    assert dist.above >= 1  # the outlier is outside the p1..p99 picture, and said so


# --- categories and dates ---------------------------------------------------------------


def test_categorical_top_values_and_missing() -> None:
    values = ["a"] * 5 + ["b"] * 3 + [None] * 2 + ["c"]
    for array in (pa.array(values), pa.array(values).dictionary_encode()):
        column = profile_table(pa.table({"c": array}), name="t").columns[0]
        assert column.kind == "categorical"
        assert (column.missing, column.distinct) == (2, 3)
        assert [(v.value, v.count) for v in column.top] == [("a", 5), ("b", 3), ("c", 1)]
        assert column.top[0].share == pytest.approx(5 / 11)


def test_dates_by_month_and_long_spans_by_year() -> None:
    days = [dt.date(2024, 1, 5), dt.date(2024, 1, 9), dt.date(2024, 1, 9), dt.date(2024, 3, 1)]
    table = pa.table({"d": pa.array([*days, None], pa.date32())})
    column = profile_table(table, name="t").columns[0]
    assert column.kind == "datetime" and column.missing == 1 and column.distinct == 3
    assert column.dates is not None
    assert (column.dates.min, column.dates.max, column.dates.period) == (
        "2024-01-05",
        "2024-03-01",
        "month",
    )
    assert [(v.value, v.count) for v in column.dates.by_period] == [("2024-01", 3), ("2024-03", 1)]
    assert column.distribution is not None and column.distribution.counts == (3, 0, 1)
    stamps = pa.array([dt.datetime(2001, 5, 1), dt.datetime(2020, 5, 1)], pa.timestamp("us", "UTC"))
    column = profile_table(pa.table({"t": stamps}), name="t").columns[0]
    assert column.dates is not None and column.dates.period == "year"
    assert column.dates.min.startswith("2001-05-01")


# --- target rates -----------------------------------------------------------------------


def test_target_rate_by_quantile_bin() -> None:
    x = [float(v) for v in range(100)] + [None] * 5 + [1.0, 2.0, 3.0]
    y = [int(v >= 50) for v in range(100)] + [1] * 5 + [None] * 3
    profile = profile_table(pa.table({"x": x, "y": pa.array(y, pa.int8())}), name="t", target="y")
    rates = profile.column("x").target
    assert rates is not None and rates.method == "quantile bins"
    assert [b.rows for b in rates.bins] == [10] * 10 + [5]
    assert [b.rate for b in rates.bins] == [0.0] * 5 + [1.0] * 5 + [1.0]
    assert rates.bins[-1].label == "(missing)"
    assert rates.overall == pytest.approx(55 / 105)
    assert profile.positive_rate == pytest.approx(55 / 105)


def test_target_rate_by_value_and_by_top_level() -> None:
    region = ["a"] * 40 + ["b"] * 20 + ["c"] * 10 + [None] * 10
    y = [1] * 10 + [0] * 30 + [1] * 10 + [0] * 10 + [1] * 10 + [0] * 10
    small = [0] * 40 + [1] * 40
    table = pa.table({"region": region, "small": small, "y": pa.array([v == 1 for v in y])})
    profile = profile_table(table, name="t", target="y", config=ProfileConfig(top_values=2))
    rates = profile.column("region").target
    assert rates is not None
    summary = [(b.label, b.rows, b.positives) for b in rates.bins]
    assert summary == [("a", 40, 10), ("b", 20, 10), ("(other)", 10, 10), ("(missing)", 10, 0)]
    by_value = profile.column("small").target
    assert by_value is not None and by_value.method == "values"
    assert [(b.label, b.rate) for b in by_value.bins] == [("0", 0.25), ("1", 0.5)]


def test_target_must_exist_and_be_binary() -> None:
    table = pa.table({"age": [30, 40], "name": ["x", "y"], "flag": [0.0, 1.0]})
    with pytest.raises(SchemaError, match=r"'nope' does not exist.*age, name, flag"):
        binary_target(table, "nope")
    with pytest.raises(SchemaError, match=r"'age' is not binary \(found 30, 40\)"):
        binary_target(table, "age")
    with pytest.raises(SchemaError, match="'name' is categorical"):
        profile_table(table, name="t", target="name")
    assert list(binary_target(table, "flag")) == [0.0, 1.0]


# --- pairwise measures ----------------------------------------------------------------


def test_cramers_v_is_one_for_identical_and_near_zero_for_independent() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 20_000)
    assert cramers_v(a, a) == pytest.approx(1.0)
    assert cramers_v(a, (a + 3) % 5) == pytest.approx(1.0)  # relabelled
    assert cramers_v(a, rng.integers(0, 4, 20_000)) < 0.03
    labels = np.array(["red", "green", "blue"])[rng.integers(0, 3, 5_000)]
    table = pa.table({"p": labels, "q": labels, "r": rng.choice(["u", "v"], 5_000)})
    matrix = {m.name: m for m in profile_table(table, name="t").matrices}["cramers_v"]
    assert matrix.get("p", "q") == pytest.approx(1.0)
    assert abs(matrix.get("p", "r")) < 0.05


def test_pearson_and_spearman_match_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4))
    x[:, 1] += x[:, 0]
    x[:, 3] = np.round(np.exp(x[:, 2]), 1)  # ties and a monotone link
    np.testing.assert_allclose(pearson_matrix(x), np.corrcoef(x, rowvar=False), atol=1e-12)
    ranks = np.column_stack([_reference_ranks(c) for c in x.T])
    np.testing.assert_allclose(np.column_stack([average_ranks(c) for c in x.T]), ranks)
    holes = x.copy()
    holes[rng.random(holes.shape) < 0.2] = np.nan
    both = ~np.isnan(holes[:, 0]) & ~np.isnan(holes[:, 1])
    expected = np.corrcoef(holes[both, 0], holes[both, 1])[0, 1]
    assert pearson_matrix(holes)[0, 1] == pytest.approx(expected)


def _reference_ranks(values: np.ndarray) -> np.ndarray:
    return np.array([(values < v).sum() + ((values == v).sum() + 1) / 2 for v in values])


def test_correlations_use_a_deterministic_sample_but_counts_use_every_row() -> None:
    table = credit_table(5_000)
    config = ProfileConfig(sample_rows=1_000)
    first, second = (profile_table(table, name="t", config=config) for _ in range(2))
    assert first.sample_rows == 1_000 and first.rows == 5_000
    assert first.matrices == second.matrices
    assert first.column("income").missing == table["income"].null_count


# --- warnings --------------------------------------------------------------------------


def test_warnings() -> None:
    rng = np.random.default_rng(5)
    n = 2_000
    y = (rng.random(n) < 0.3).astype(np.int64)
    x = rng.normal(size=n)
    table = pa.table(
        {
            "const": [7] * n,
            "sparse": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.5),
            "id": [f"c{i}" for i in range(n)],
            "skewed": np.exp(rng.normal(0, 1.5, n)),
            "leak": y + rng.normal(0, 0.01, n),
            "x": x,
            "x_twice": 2 * x + rng.normal(0, 1e-3, n),
            "y": y,
        }
    )
    alerts = {(a.kind, a.column) for a in profile_table(table, name="t", target="y").alerts}
    expected = {
        ("constant", "const"),
        ("missing", "sparse"),
        ("cardinality", "id"),
        ("skewed", "skewed"),
        ("leakage", "leak"),
        ("correlated", "x"),
    }
    assert expected <= alerts
    assert not {kind for kind, column in alerts if column == "x_twice"} - {"correlated"}


def test_duplicate_rows() -> None:
    table = pa.table({"a": [1, 1, 2, 1, None, None], "b": ["x", "x", "y", "x", None, None]})
    assert duplicate_rows(table) == 3
    profile = profile_table(table, name="t")
    assert profile.duplicate_rows == 3
    assert any(a.kind == "duplicates" for a in profile.alerts)


def test_empty_and_degenerate_tables_do_not_break_the_report() -> None:
    table = pa.table(
        {
            "n": pa.array([], pa.float64()),
            "s": pa.array([], pa.string()),
            "d": pa.array([], pa.date32()),
        }
    )
    profile = profile_table(table, name="empty")
    assert profile.rows == 0 and profile.duplicate_rows == 0
    nulls = pa.table({"n": pa.array([None] * 3, pa.float64()), "o": pa.array([[1], [2], None])})
    degenerate = profile_table(nulls, name="nulls")
    assert degenerate.column("n").missing == 3
    assert degenerate.column("o").kind == "other"
    for p in (profile, degenerate):
        assert p.name in render_html(p, render_figures(p))


# --- the HTML --------------------------------------------------------------------------


def test_html_is_self_contained_and_names_every_column() -> None:
    table = credit_table().append_column("odd <name> & co", pa.array(["a", "b"] * 300))
    profile = profile_table(table, name="loans", target="default")
    page = render_html(profile, render_figures(profile), generated_at="now")
    assert "http://" not in page and "https://" not in page and "<link" not in page
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert references and all(r.startswith(("data:", "#")) for r in references)
    assert '<img src="data:image/png;base64,' in page
    for name in table.column_names:
        assert html.escape(name) in page
    assert "<name>" not in page  # autoescaped
    assert "leakage" in page or "Warnings" in page


def test_write_report_is_atomic_and_errors_are_clear(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "r.html"
    assert write_report("<p>one</p>", target) == target
    write_report("<p>two</p>", target)
    assert target.read_text() == "<p>two</p>"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="cannot write the report"):
        write_report("<p/>", blocker / "r.html")


def test_public_api_is_exported() -> None:
    for name in appliance.profile.__all__:
        assert getattr(appliance.profile, name) is not None


# --- the command ------------------------------------------------------------------------


def make_home(root: Path, table: pa.Table, dataset: str = "loans", parts: int = 2) -> DataHome:
    """A data home with ``dataset`` registered by hand, split into ``parts`` versions."""
    home = DataHome(root)
    home.layout()
    db = connect(home.db_path)
    at = now_iso()
    db.execute(
        "INSERT INTO datasets (name, source, created_at) VALUES (?, ?, ?)", [dataset, "test", at]
    )
    step = math.ceil(table.num_rows / parts)
    for i in range(parts):
        part = table.slice(i * step, step)
        rel = f"lake/{dataset}/v{i}.parquet"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, root / rel)
        db.execute(
            "INSERT INTO ingest_runs (id, dataset, source_file, source_sha256, schema_sha256,"
            " started_at, status, rows_in, rows_ok, rows_quarantined)"
            " VALUES (?, ?, ?, ?, ?, ?, 'ok', ?, ?, 0)",
            [i + 1, dataset, f"in{i}.csv", "a" * 64, "b" * 64, at, part.num_rows, part.num_rows],
        )
        db.execute(
            "INSERT INTO dataset_versions (dataset, version, path, rows, schema_json, source_file,"
            " source_sha256, ingest_run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dataset, f"v{i}", rel, part.num_rows, "{}", f"in{i}.csv", "a" * 64, i + 1, at],
        )
    db.conn.close()
    return home


def test_cli_writes_the_report_into_the_home(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", credit_table())
    result = CliRunner().invoke(
        cli, ["--home", str(home.root), "profile", "loans", "--target", "default"]
    )
    assert result.exit_code == 0, result.output
    path = home.dir("publish") / "profiles" / "loans.html"
    assert result.stdout.strip().splitlines()[-1] == str(path)
    assert "column income" in result.stderr and "writing the report" in result.stderr
    page = path.read_text()
    assert all(name in page for name in credit_table().column_names)
    assert "default rate" in page


def test_cli_output_and_sample_options(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", credit_table(), parts=1)
    out = tmp_path / "elsewhere" / "p.html"
    args = ["--home", str(home.root), "profile", "loans", "--output", str(out), "--sample", "100"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert out.exists() and "100 of 600 rows" in out.read_text()


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["profile", "nope"], NotFound, "no dataset named 'nope'; known datasets: loans"),
        (["profile", "loans", "--target", "nope"], SchemaError, "columns are: age, income"),
        (["profile", "loans", "--target", "age"], SchemaError, "'age' is not binary"),
    ],
)
def test_cli_errors_are_messages_not_tracebacks(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    error: type[ApplianceError],
    message: str,
) -> None:
    home = make_home(tmp_path / "home", credit_table(), parts=1)
    result = CliRunner().invoke(cli, ["--home", str(home.root), *args])
    assert result.exit_code != 0 and isinstance(result.exception, error)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home.root), *args])
    assert exit_info.value.code == error.exit_code != 0
    stderr = capsys.readouterr().err
    assert message in stderr and "Traceback" not in stderr


def test_cli_needs_an_initialised_home(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "none"), "profile", "loans"])
    assert isinstance(result.exception, HomeError)


def test_the_command_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, appliance.cli.profile; "
        "print(sorted(m for m in ('pyarrow', 'numpy', 'matplotlib', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
