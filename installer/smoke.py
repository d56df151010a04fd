"""The installed appliance's own smoke test, run with the new virtual environment's
Python (``python -m installer.smoke``) before the version is made current.

It imports the heavy libraries from the wheels just installed and uses them: a table
in pyarrow, a small XGBoost model trained and scoring rows, the shipped int8 hazard
model classifying one tile; and it looks for a C compiler. One JSON line on stdout;
exit status 1 if anything fails.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["main", "run"]


def run() -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import xgboost as xgb

    rng = np.random.default_rng(7)
    table = pa.table({"income": rng.normal(size=600), "arrears": rng.integers(0, 4, 600)})
    label = pc.greater(table["arrears"], 1).to_numpy(zero_copy_only=False).astype(np.float32)
    x = np.column_stack([table[c].to_numpy().astype(np.float32) for c in table.column_names])
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
        xgb.DMatrix(x, label=label), num_boost_round=8,
    )  # fmt: skip
    scores = booster.predict(xgb.DMatrix(x))
    separated = float(scores[label == 1].min()) > float(scores[label == 0].max())
    return {
        "numpy": np.__version__, "pyarrow": pa.__version__, "xgboost": xgb.__version__,
        "xgboost_separates": separated, "hazard": _hazard(), **_compiler(),
    }  # fmt: skip


def _hazard() -> dict[str, Any]:
    import numpy as np

    from imagery_edge.device import open_classifier
    from imagery_edge.model_info import load_model_info

    info = load_model_info()
    classifier = open_classifier("cpu", 1, 1, info).classifier
    tile = np.full((1, info.tile_size, info.tile_size, len(info.bands)), 9000, np.uint16)
    probabilities = classifier.predict(tile)[0]
    return {
        "model": info.model_version("tflite_int8"),
        "label": info.classes[int(np.argmax(probabilities))],
        "sums_to_one": abs(float(probabilities.sum()) - 1.0) < 0.02,
    }


def _compiler() -> dict[str, Any]:
    from compiled_models.toolchain import CompilerMissing, find_compiler

    try:
        found = find_compiler()
    except CompilerMissing as exc:
        return {"compiler": None, "compiler_problem": str(exc)}
    return {"compiler": f"{found.path} ({found.version})", "compiler_problem": None}


def main() -> int:
    try:
        result = run()
    except Exception as exc:  # report any failure as data: the installer decides
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    ok = result["xgboost_separates"] and result["hazard"]["sums_to_one"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
