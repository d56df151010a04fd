"""XGBoost JSON -> Treelite model -> TL2cgen C sources -> a shared library, one variant.

A variant is an optimisation level plus TL2cgen's two optional rewrites: branch
annotation from training rows (``__builtin_expect`` on the likely side) and threshold
quantisation (integer comparisons). Both help some models and hurt others, so the
compile job (``compiled_models.worker``) builds several variants and keeps the one it
measures fastest among those that match XGBoost.

Every library also carries ``shim.c``: NaN-aware, thread-safe entry points over
TL2cgen's ``predict`` (see that file).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from compiled_models.rewrite import branchless_quantize, exact_quantize_table
from compiled_models.toolchain import CFLAGS, Compiler, python_flags

__all__ = ["DEFAULT_VARIANTS", "BuildFailed", "Variant", "build_variant", "load_treelite"]

Progress = Callable[[str], None]


class BuildFailed(RuntimeError):
    """Code generation or the C compiler failed; the message carries the compiler's words."""


@dataclass(frozen=True)
class Variant:
    """How one candidate library is built."""

    opt: str = "-O1"
    annotate: bool = False
    quantize: bool = False

    @property
    def name(self) -> str:
        parts = [self.opt.lstrip("-").lower()]
        parts += ["annotate"] * self.annotate + ["quantize"] * self.quantize
        return "-".join(parts)

    @classmethod
    def parse(cls, name: str) -> Variant:
        opt, *rest = name.split("-")
        unknown = set(rest) - {"annotate", "quantize"}
        if unknown or opt not in {"o0", "o1", "o2", "o3", "os"}:
            raise ValueError(f"unknown build variant {name!r} (e.g. o1, o1-annotate-quantize)")
        return cls("-" + opt.upper(), "annotate" in rest, "quantize" in rest)


# -O1 rather than -O2/-O3: on a 500-tree depth-6 forest the O1 library scored a row in
# 24 us against 33 us at O2 and O3 (the deep if-trees blow the instruction cache when
# the optimiser duplicates code) and built in 10 s instead of 17 s on two cores; on a
# 100x4 forest all three were equal. Annotation alone made that 500x6 model slower
# (38 us), quantisation faster (19 us), both together fastest (17 us): hence measured.
DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant(),
    Variant(quantize=True),
    Variant(annotate=True),
    Variant(annotate=True, quantize=True),
)


def load_treelite(model_json: bytes) -> Any:
    """The Treelite model of an XGBoost JSON model (the frontend checks the format)."""
    import treelite

    return treelite.frontend.from_xgboost_json(model_json.decode("utf-8"))


def build_variant(
    model: Any,
    variant: Variant,
    workdir: Path,
    compiler: Compiler,
    *,
    annotation: Path | None = None,
    jobs: int = 2,
    timeout_s: float = 600.0,
    progress: Progress = lambda _line: None,
) -> Path:
    """Generate C for ``model`` in ``workdir/<variant>/`` and compile it; return the library.

    ``annotation`` is a TL2cgen branch-annotation file, required for annotated variants.
    Translation units compile ``jobs`` at a time.
    """
    import tl2cgen

    if variant.annotate and annotation is None:
        raise BuildFailed(f"variant {variant.name} needs branch annotation from training rows")
    src = workdir / variant.name
    params: dict[str, Any] = {"parallel_comp": _units(model.num_tree, jobs)}
    if variant.quantize:
        params["quantize"] = 1
    if variant.annotate:
        params["annotate_in"] = str(annotation)
    started = time.monotonic()
    try:
        tl2cgen.generate_c_code(model, str(src), params)
    except tl2cgen.TL2cgenError as exc:
        raise BuildFailed(f"TL2cgen could not generate C for {variant.name}: {exc}") from exc
    (src / "appliance_shim.c").write_text(
        resources.files("compiled_models").joinpath("shim.c").read_text()
    )
    header = json.loads(model.dump_as_json())
    if variant.quantize:
        _rewrite_quantize(src, header, progress)
    defines = [
        f"-DAPPLIANCE_NUM_FEATURE={int(header['num_feature'])}",
        f"-DAPPLIANCE_LEAF_T={_c_type(header['leaf_output_type'])}",
    ]
    sources = sorted(src.glob("*.c"))
    flags = [*CFLAGS, variant.opt, *defines]
    objects = _compile_all(compiler, sources, flags, jobs, started + timeout_s, progress,
                           shim_flags=python_flags())  # fmt: skip
    library = src / f"model-{variant.name}.so"
    _run([compiler.path, "-shared", "-o", str(library), *map(str, objects), "-lm"],
         started + timeout_s, "linking")  # fmt: skip
    progress(f"built {variant.name} in {time.monotonic() - started:.1f} s")
    return library


def write_annotation(model: Any, rows: np.ndarray, path: Path, *, jobs: int = 2) -> Path:
    """Count, over ``rows`` (training data), how often each branch is taken."""
    import tl2cgen

    tl2cgen.annotate_branch(model, tl2cgen.DMatrix(np.ascontiguousarray(rows, np.float32)),
                            str(path), nthread=jobs)  # fmt: skip
    return path


def _rewrite_quantize(src: Path, header: dict[str, Any], progress: Progress) -> None:
    """Exact thresholds in every table, and the branchless search (``compiled_models.rewrite``)."""
    for source in sorted(src.glob("*.c")):
        try:
            text = exact_quantize_table(source.read_text(), header)
        except ValueError as exc:
            raise BuildFailed(f"{source.name}: {exc}") from exc
        if source.name == "quantize.c":
            text, replaced = branchless_quantize(text)
            if not replaced:
                progress("quantize() is not the TL2cgen 1.0 search; kept as generated")
        source.write_text(text)


def _units(num_tree: int, jobs: int) -> int:
    """Translation units: enough to keep every job busy, not so many that tiny files dominate."""
    return max(1, min(num_tree // 25, 4 * jobs))


def _c_type(kind: str) -> str:
    types = {"float32": "float", "float64": "double"}
    if kind not in types:
        raise BuildFailed(f"leaf output type {kind!r} is not supported (float32 or float64)")
    return types[kind]


def _compile_all(
    compiler: Compiler,
    sources: Sequence[Path],
    flags: Sequence[str],
    jobs: int,
    deadline: float,
    progress: Progress,
    *,
    shim_flags: Sequence[str] = (),
) -> list[Path]:
    """Compile each source to an object file, ``jobs`` compilers at a time.

    ``shim_flags`` go to the appliance's own shim only (the Python headers stay out of
    TL2cgen's translation units)."""
    pending = list(sources)
    running: list[tuple[subprocess.Popen[str], Path]] = []
    objects: list[Path] = []
    while pending or running:
        while pending and len(running) < max(1, jobs):
            source = pending.pop(0)
            obj = source.with_suffix(".o")
            extra = shim_flags if source.name == "appliance_shim.c" else ()
            cmd = [compiler.path, *flags, *extra, "-c", str(source), "-o", str(obj)]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            running.append((proc, obj))
        proc, obj = running.pop(0)
        try:
            output, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            for other, _obj in [(proc, obj), *running]:
                other.kill()
            raise BuildFailed("the C compiler ran past the compile timeout") from exc
        if proc.returncode != 0:
            for other, _obj in running:
                other.kill()
            raise BuildFailed(f"{compiler.path} failed on {obj.with_suffix('.c').name}: "
                              f"{output.strip()[-600:]}")  # fmt: skip
        objects.append(obj)
        progress(f"compiled {len(objects)}/{len(sources)} translation units")
    return objects


def _run(cmd: list[str], deadline: float, what: str) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                             timeout=max(0.1, deadline - time.monotonic()))  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BuildFailed(f"{what} ran past the compile timeout") from exc
    if out.returncode != 0:
        raise BuildFailed(f"{what} failed: {(out.stderr or out.stdout).strip()[-600:]}")
