"""Compiled models against XGBoost itself: real TL2cgen code, a real gcc, real processes."""

from __future__ import annotations

import hashlib
import stat
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_models.build import Variant, build_variant, load_treelite
from compiled_models.compile import REPORT_FILE, compile_model
from compiled_models.forest import Forest
from compiled_models.native import LibraryRejected, NativeScorer
from compiled_models.parity import check_parity, probe_rows
from compiled_models.reference import XGBoostScorer
from compiled_models.toolchain import find_compiler

FEATURES = 6
CATEGORICAL = 5  # the last feature holds category codes 0..7


def make_booster(
    rng: np.random.Generator, *, trees: int, depth: int, features: int, categorical: bool,
    base_score: float = 0.3, rows: int = 1500,
) -> tuple[xgb.Booster, np.ndarray]:  # fmt: skip
    x = rng.normal(size=(rows, features))
    types = ["q"] * features
    if categorical:
        x[:, -1] = rng.integers(0, 8, rows)
        types[-1] = "c"
    x[rng.random(x.shape) < 0.15] = np.nan
    signal = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) * 0.5 + (x[:, -1] % 3 == 0)
    y = (signal + rng.normal(size=rows) > 0.4).astype(int)
    params = {"max_depth": depth, "objective": "binary:logistic", "nthread": 1, "eta": 0.3,
              "base_score": base_score, "max_cat_to_onehot": 4}  # fmt: skip
    dm = xgb.DMatrix(x, y, feature_types=types, enable_categorical=True)
    return xgb.train(params, dm, trees), x


def model_json(booster: xgb.Booster) -> bytes:
    return bytes(booster.save_raw("json"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def faulty_compiler(tmp: Path, fault: str) -> str:
    """A real compiler process that misbehaves on TL2cgen's sources (tu*.c, main.c) only,
    so it still passes the toolchain probe: ``fault`` is Python run with ``source`` set."""
    script = tmp / "faulty-cc"
    script.write_text(f"""#!{sys.executable}
import os, sys, time
args = sys.argv[1:]
for i, arg in enumerate(args):
    name = os.path.basename(arg)
    if arg.endswith(".c") and (name.startswith("tu") or name == "main.c"):
        source = arg
{textwrap.indent(textwrap.dedent(fault), " " * 8)}
        args[i] = source
os.execv({find_compiler().path!r}, [{find_compiler().path!r}, *args])
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture(scope="module")
def trained() -> tuple[xgb.Booster, np.ndarray]:
    return make_booster(np.random.default_rng(3), trees=40, depth=4, features=FEATURES,
                        categorical=True)  # fmt: skip


@pytest.fixture(scope="module")
def compiled(trained: tuple[xgb.Booster, np.ndarray], tmp_path_factory: pytest.TempPathFactory):
    booster, x = trained
    out = tmp_path_factory.mktemp("compiled")
    lines: list[str] = []
    report = compile_model(model_json(booster), out, test_rows=x[:400], train_rows=x[400:],
                           categorical={CATEGORICAL: 8}, progress=lines.append)  # fmt: skip
    return report, out, lines


def test_compiled_library_matches_xgboost_on_real_and_corner_rows(compiled, trained) -> None:
    report, out, lines = compiled
    booster, x = trained
    assert report.status == "ok", report.reason
    assert report.max_abs_diff <= 1e-5 and report.parity["passed"]
    assert {v["variant"] for v in report.variants} == {"o1", "o1-quantize", "o1-annotate",
                                                       "o1-annotate-quantize"}  # fmt: skip
    chosen = min((v for v in report.variants if v["parity"]["passed"]),
                 key=lambda v: v["latency_us"])  # fmt: skip
    assert report.variant == chosen["variant"]
    assert report.batch["choice"] in {"native", "xgboost"}
    assert report.batch["rows_per_s"]["native"] > 0
    assert any("building o1-quantize" in line for line in lines)
    native = NativeScorer.load(out / report.library, report.library_sha256)
    rows = probe_rows(FEATURES, real=x, categorical={CATEGORICAL: 8}, seed=11)
    want = XGBoostScorer(booster).predict(rows)
    assert np.abs(native.predict(rows) - want).max() <= 1e-5
    assert np.abs(native.predict(rows.astype(np.float32)) - want).max() <= 1e-5
    assert np.abs(native.predict(rows, threads=2) - native.predict(rows)).max() == 0
    singles = np.array([native.predict_one(r) for r in rows[:300]])
    assert np.abs(singles - want[:300]).max() <= 1e-5
    margins = native.predict(rows[:50], margin=True)
    assert np.allclose(1 / (1 + np.exp(-margins)), want[:50], atol=1e-5)


def test_the_same_inputs_are_not_compiled_twice(compiled, trained) -> None:
    report, out, _ = compiled
    booster, x = trained
    again = compile_model(model_json(booster), out, test_rows=x[:400], train_rows=x[400:],
                          categorical={CATEGORICAL: 8})  # fmt: skip
    assert again.cached and again.library == report.library
    other = compile_model(model_json(booster), out, test_rows=x[:300], train_rows=x[400:],
                          variants=[Variant()], categorical={CATEGORICAL: 8})  # fmt: skip
    assert not other.cached and other.cache_key != report.cache_key


def test_a_changed_library_is_never_loaded(compiled, tmp_path: Path) -> None:
    report, out, _ = compiled
    copy = tmp_path / "model.so"
    data = bytearray((out / report.library).read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(LibraryRejected, match="changed since"):
        NativeScorer.load(copy, report.library_sha256)


def test_single_rows_are_safe_from_many_threads(compiled, trained) -> None:
    report, out, _ = compiled
    booster, x = trained
    native = NativeScorer.load(out / report.library, report.library_sha256)
    rows = probe_rows(FEATURES, real=x[:500], seed=5)[:800]
    want = XGBoostScorer(booster).predict(rows)
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        order = np.random.default_rng(k).permutation(rows.shape[0])
        got = np.empty(rows.shape[0])
        for i in order:
            got[i] = native.predict_one(rows[i])
        results[k] = got

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results.values():
        assert np.abs(got - want).max() <= 1e-5


def test_without_a_compiler_the_report_says_xgboost_serves(trained, tmp_path, monkeypatch) -> None:
    booster, _ = trained
    monkeypatch.setenv("CC", "no-such-compiler")
    report = compile_model(model_json(booster), tmp_path)
    assert report.status == "unavailable"
    assert "no working C compiler" in report.reason and "XGBoost" in report.reason
    assert not (tmp_path / REPORT_FILE).exists()


def test_a_compiler_error_is_reported_with_its_words(trained, tmp_path, monkeypatch) -> None:
    booster, _ = trained
    cc = faulty_compiler(tmp_path, """
        print(f"{source}:1: error: out of memory", file=sys.stderr)
        sys.exit(1)
    """)
    monkeypatch.setenv("CC", cc)
    report = compile_model(model_json(booster), tmp_path / "out", variants=[Variant()])
    assert report.status == "unavailable"
    assert ".c:1: error: out of memory" in report.reason


def test_a_hung_compiler_is_stopped_at_the_timeout(trained, tmp_path, monkeypatch) -> None:
    booster, _ = trained
    marker = tmp_path / "still-running"
    cc = faulty_compiler(tmp_path, f"""
        time.sleep(20)
        open({str(marker)!r}, "w").close()
    """)
    monkeypatch.setenv("CC", cc)
    report = compile_model(model_json(booster), tmp_path / "out", variants=[Variant()],
                           timeout_s=5)  # fmt: skip
    assert report.status == "unavailable" and "longer than 5 s" in report.reason
    time.sleep(0.5)
    assert not marker.exists()  # the whole process group was killed, compiler included


def test_a_miscompiled_library_fails_parity(trained, tmp_path, monkeypatch) -> None:
    """A compiler that shifts every leaf: the libraries build, and parity must catch it."""
    booster, x = trained
    cc = faulty_compiler(tmp_path, """
        text = open(source).read().replace("result[0] += ", "result[0] += 0.05f + ")
        source = source + ".bad.c"
        open(source, "w").write(text)
    """)
    monkeypatch.setenv("CC", cc)
    report = compile_model(model_json(booster), tmp_path / "out", test_rows=x[:200],
                           variants=[Variant(), Variant(quantize=True)])  # fmt: skip
    assert report.status == "failed", report.reason
    assert report.max_abs_diff > 1e-3 and "no variant matches XGBoost" in report.reason
    assert report.library is None


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)  # fmt: skip
@given(
    seed=st.integers(0, 2**16),
    trees=st.integers(1, 25),
    depth=st.integers(1, 5),
    features=st.integers(2, 7),
    categorical=st.booleans(),
    base_score=st.floats(0.05, 0.95),
    quantize=st.booleans(),
)
def test_random_models_compile_to_the_same_probabilities(
    tmp_path_factory: pytest.TempPathFactory, seed: int, trees: int, depth: int, features: int,
    categorical: bool, base_score: float, quantize: bool,
) -> None:  # fmt: skip
    """Differential testing: any small forest, any inputs (NaN, extremes, unseen codes)."""
    rng = np.random.default_rng(seed)
    booster, _ = make_booster(rng, trees=trees, depth=depth, features=features,
                              categorical=categorical, base_score=base_score, rows=400)  # fmt: skip
    raw = model_json(booster)
    work = tmp_path_factory.mktemp("prop")
    library = build_variant(load_treelite(raw), Variant(quantize=quantize), work,
                            find_compiler(), jobs=1)  # fmt: skip
    native = NativeScorer.load(library, sha(library))
    real = rng.normal(size=(200, features)) * rng.choice([1, 1e3])
    thresholds = Forest.from_json(raw).thresholds_by_feature()
    codes = {features - 1: 8} if categorical else None
    rows = probe_rows(features, real=real, thresholds=thresholds, categorical=codes, seed=seed)
    report = check_parity(native, XGBoostScorer(booster), rows)
    assert report.passed, f"max diff {report.max_abs_diff} at probe row {report.worst_row}"


def test_quantized_libraries_split_exactly_at_float32_thresholds(tmp_path: Path) -> None:
    """TL2cgen 1.0 prints its quantisation table with 8 digits, one ULP off for some
    float32 thresholds; the build rewrites it exactly (found by the property test)."""
    booster, _ = make_booster(np.random.default_rng(517), trees=1, depth=1, features=7,
                              categorical=True, base_score=0.5, rows=400)  # fmt: skip
    raw = model_json(booster)
    library = build_variant(load_treelite(raw), Variant(quantize=True), tmp_path,
                            find_compiler(), jobs=1)  # fmt: skip
    native, reference = NativeScorer.load(library, sha(library)), XGBoostScorer(booster)
    (feature, thresholds), *_ = Forest.from_json(raw).thresholds_by_feature().items()
    for t in np.asarray(thresholds, np.float32):
        for value in (np.nextafter(t, np.float32(-np.inf)), t, np.nextafter(t, np.float32(np.inf))):
            row = np.zeros(7)
            row[feature] = float(value)
            assert native.predict_one(row) == pytest.approx(reference.predict_one(row), abs=1e-6)
