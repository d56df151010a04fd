"""The build's speed-ups over TL2cgen's output, each held to the code it replaces.

Real TL2cgen sources and a real gcc: the branchless quantize() is compiled beside the
generated one and both are asked the same values; the Python-callable single-row entry
point is asked the same rows as the ctypes path.
"""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from compiled_models.build import Variant, build_variant, load_treelite
from compiled_models.forest import Forest
from compiled_models.native import NativeScorer
from compiled_models.reference import XGBoostScorer
from compiled_models.rewrite import branchless_quantize
from compiled_models.toolchain import find_compiler, python_flags

FEATURES = 5


@pytest.fixture(scope="module")
def model() -> tuple[xgb.Booster, bytes, np.ndarray]:
    rng = np.random.default_rng(23)
    x = rng.normal(size=(2000, FEATURES))
    x[:, 4] = rng.integers(0, 6, 2000)  # a feature with few values: ties with thresholds
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 4]) * 0.3 + rng.normal(size=2000) > 0.5)
    params = {"max_depth": 4, "objective": "binary:logistic", "nthread": 1, "eta": 0.3}
    booster = xgb.train(params, xgb.DMatrix(x, y.astype(int)), 30)
    return booster, bytes(booster.save_raw("json")), x


@pytest.fixture(scope="module")
def quantized(model, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The quantized library, and TL2cgen's own quantize.c for the same model."""
    import tl2cgen

    _, raw, _ = model
    out = tmp_path_factory.mktemp("quantized")
    library = build_variant(load_treelite(raw), Variant(quantize=True), out, find_compiler(),
                            jobs=1)  # fmt: skip
    generated = out / "generated"
    tl2cgen.generate_c_code(load_treelite(raw), str(generated), {"quantize": 1})
    return library, generated / "quantize.c"


def quantize_function(source: Path, header_dir: Path, out: Path) -> ctypes._CFuncPtr:
    subprocess.run([find_compiler().path, "-O1", "-fPIC", "-shared", "-std=c99",
                    f"-I{header_dir}", "-o", str(out), str(source)], check=True)  # fmt: skip
    fn = ctypes.CDLL(str(out)).quantize
    fn.argtypes, fn.restype = [ctypes.c_float, ctypes.c_uint], ctypes.c_int
    return fn


@pytest.fixture(scope="module")
def both_searches(quantized, tmp_path_factory: pytest.TempPathFactory):
    library, generated = quantized
    out = tmp_path_factory.mktemp("searches")
    return (quantize_function(generated, generated.parent, out / "generated.so"),
            quantize_function(library.parent / "quantize.c", library.parent, out / "ours.so"))


def test_the_build_replaces_tl2cgens_search_with_the_branchless_one(quantized) -> None:
    library, generated = quantized
    assert "base = (base[half] <= val)" in (library.parent / "quantize.c").read_text()
    assert "base = (base[half] <= val)" not in generated.read_text()


def test_the_branchless_search_bins_every_threshold_and_its_neighbours_alike(
    model, both_searches
) -> None:
    theirs, ours = both_searches
    _, raw, _ = model
    for feature, thresholds in Forest.from_json(raw).thresholds_by_feature().items():
        t = np.asarray(thresholds, np.float32)
        edges = np.float32([-np.inf, np.inf, 0.0, -0.0, 3e38, -3e38])
        below, above = np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))
        values = np.concatenate([t, below, above, edges])
        got = [(ours(float(v), feature), theirs(float(v), feature)) for v in values]
        assert all(a == b for a, b in got), f"feature {feature}: {got}"


@settings(max_examples=300, deadline=None)
@given(value=st.floats(width=32, allow_nan=False), feature=st.integers(0, FEATURES - 1))
def test_the_branchless_search_bins_any_float_alike(both_searches, value, feature) -> None:
    theirs, ours = both_searches
    assert ours(value, feature) == theirs(value, feature)


def test_a_search_that_is_not_tl2cgen_1_0s_is_kept_as_generated(quantized) -> None:
    _, generated = quantized
    text = generated.read_text().replace("mid = (low + high) / 2;", "mid = low + (high - low) / 2;")
    assert branchless_quantize(text) == (text, False)
    assert branchless_quantize("int quantize(void) { return 0; }") == (
        "int quantize(void) { return 0; }", False)  # fmt: skip


@pytest.fixture(scope="module")
def native(quantized) -> NativeScorer:
    library, _ = quantized
    return NativeScorer.load(library, hashlib.sha256(library.read_bytes()).hexdigest())


@pytest.mark.skipif(not python_flags(), reason="no Python headers: libraries score via ctypes")
def test_single_rows_take_the_python_entry_point_and_answer_as_ctypes(native, model) -> None:
    booster, _, x = model
    assert native.entry == "python"
    rows = np.vstack([x[:300], np.full(FEATURES, np.nan), np.zeros(FEATURES)])
    slow = np.array([native._predict_one_ctypes(r) for r in rows])
    assert np.array_equal(np.array([native.predict_one(r) for r in rows]), slow)
    f32 = rows.astype(np.float32)
    assert np.array_equal(np.array([native.predict_one(r) for r in f32]),
                          np.array([native._predict_one_ctypes(r) for r in f32]))  # fmt: skip
    margins = np.array([native.predict_one(r, margin=True) for r in rows[:50]])
    assert np.allclose(1 / (1 + np.exp(-margins)), slow[:50], atol=1e-6)
    assert np.abs(slow - XGBoostScorer(booster).predict(rows)).max() <= 1e-5


@pytest.mark.skipif(not python_flags(), reason="no Python headers: libraries score via ctypes")
def test_rows_the_entry_point_cannot_read_get_the_python_paths_answer(native, model) -> None:
    _, _, x = model
    want = native._predict_one_ctypes(x[7])
    assert native.predict_one(list(x[7])) == want  # not a buffer
    assert native.predict_one(x[7].astype(np.float16)) == pytest.approx(want, abs=1e-3)
    assert native.predict_one(np.asfortranarray(x[:20])[7]) == want  # a strided view
    with pytest.raises(ValueError, match=f"a row has 3 features; the model takes {FEATURES}"):
        native.predict_one(x[7][:3])
    with pytest.raises(TypeError):
        native.predict_one(x[7], True)  # margin is keyword-only, as in the Python method
    with pytest.raises(TypeError):
        native.predict_one(x[7], threads=2)
