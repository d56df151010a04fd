"""A compiled model library, loaded only after its bytes match the recorded SHA-256.

The bytes are read once, hashed, and those same bytes are what the dynamic loader maps
(through an anonymous memory file on Linux), so the file cannot be swapped between
the check and the load. Calls go straight to the library's own entry points through
ctypes, which releases the GIL, so batches split across threads run in parallel.

Single rows go through the library's Python-callable entry point where it has one (built
where the Python headers exist, see ``shim.c``): a builtin function that reads the row
in place, costing tens of nanoseconds beyond the trees against about a microsecond for
a ctypes call. Without it, the ctypes path below serves.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["LibraryRejected", "NativeScorer"]


_FLAG = (ctypes.c_int(0), ctypes.c_int(1))


class LibraryRejected(RuntimeError):
    """The library's bytes do not match the recorded hash, or it is not one we built."""


_ENTRY_POINTS = ("appliance_num_feature", "appliance_score_f64", "appliance_batch_f64",
                 "appliance_batch_f32")  # fmt: skip


class NativeScorer:
    """Scores through a library built by ``compiled_models.build`` (with its shim)."""

    kind = "native"

    def __init__(self, library: ctypes.CDLL, sha256: str, source: str) -> None:
        missing = [name for name in _ENTRY_POINTS if not hasattr(library, name)]
        if missing:
            raise LibraryRejected(f"{source} lacks the appliance entry points {missing}")
        self.sha256 = sha256
        self.source = source
        self.n_features = int(library.appliance_num_feature())
        # no argtypes: the single-row call passes ready-made ctypes objects (the thread's
        # buffer address and the margin flag), which skips ctypes' per-call conversion
        self._one = library.appliance_score_f64
        self._one.restype = ctypes.c_double
        self._batch = {}
        batches = (np.float64, "appliance_batch_f64"), (np.float32, "appliance_batch_f32")
        for dtype, name in batches:
            fn = getattr(library, name)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p]
            fn.restype = None
            self._batch[np.dtype(dtype)] = fn
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._library = library  # keeps the mapping alive
        self.entry = "ctypes"
        if hasattr(library, "appliance_py_scorer"):
            # through PyDLL: the call must hold the GIL, as it builds a Python object
            make = ctypes.PyDLL(source, handle=library._handle).appliance_py_scorer
            make.argtypes, make.restype = [ctypes.py_object], ctypes.py_object
            # the builtin answers float64/float32 rows itself and hands anything else
            # (lists, other dtypes, a wrong length) to the ctypes path, which names it
            self.predict_one = make(self._predict_one_ctypes)  # type: ignore[method-assign]
            self.entry = "python"

    @classmethod
    def load(cls, path: Path, sha256: str) -> NativeScorer:
        """Load ``path`` if and only if its bytes hash to ``sha256``."""
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise LibraryRejected(
                f"{path} has SHA-256 {digest[:12]}…, but {sha256[:12]}… was recorded when it "
                "was compiled; it was changed since and will not be loaded"
            )
        return cls(_load_bytes(data, Path(path).name), sha256, str(path))

    def predict_one(self, row: np.ndarray, *, margin: bool = False) -> float:
        """One row (length n_features, NaN = missing) -> probability (or margin)."""
        return self._predict_one_ctypes(row, margin=margin)

    def _predict_one_ctypes(self, row: np.ndarray, *, margin: bool = False) -> float:
        """The row is copied into this thread's own buffer, whose address was taken once."""
        try:
            buffer, address = self._local.slot
        except AttributeError:
            buffer = np.empty(self.n_features, dtype=np.float64)
            address = ctypes.c_void_p(buffer.ctypes.data)
            self._local.slot = (buffer, address)
        if len(row) != self.n_features:
            raise ValueError(f"a row has {len(row)} features; the model takes {self.n_features}")
        np.copyto(buffer, row, casting="unsafe")
        value: float = self._one(address, _FLAG[margin])  # c_double comes back as a float
        return value

    def predict(self, rows: np.ndarray, *, threads: int = 1, margin: bool = False) -> np.ndarray:
        """A (n, n_features) matrix -> n probabilities (or margins), float64."""
        x = _as_matrix(rows, self.n_features)
        out = np.empty(x.shape[0], dtype=np.float64)
        fn = self._batch[x.dtype]
        chunks = _chunks(x.shape[0], threads)
        if len(chunks) <= 1:
            fn(x.ctypes.data, x.shape[0], int(margin), out.ctypes.data)
            return out
        pool = self._threads(threads)
        stride, step = x.strides[0], out.strides[0]
        jobs = [
            pool.submit(fn, x.ctypes.data + lo * stride, hi - lo, int(margin),
                        out.ctypes.data + lo * step)
            for lo, hi in chunks
        ]  # fmt: skip
        for job in jobs:
            job.result()
        return out

    def _threads(self, threads: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool._max_workers < threads:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="native-score")
        return self._pool


def _load_bytes(data: bytes, name: str) -> ctypes.CDLL:
    """dlopen exactly ``data``: from an anonymous memory file where the OS has them."""
    if hasattr(os, "memfd_create"):
        # The descriptor stays open for the life of the process, as the mapping does:
        # the loader remembers libraries by path, and a reused /proc/self/fd/N would
        # hand back the library loaded earlier under that number.
        fd = os.memfd_create(f"appliance-{name}", os.MFD_CLOEXEC)
        with open(fd, "wb", closefd=False) as memory:
            memory.write(data)
        return ctypes.CDLL(f"/proc/self/fd/{fd}")
    with tempfile.TemporaryDirectory(prefix="appliance-lib-") as tmp:  # pragma: no cover
        copy = Path(tmp) / name
        copy.write_bytes(data)
        return ctypes.CDLL(str(copy))


def _as_matrix(rows: np.ndarray, n_features: int) -> np.ndarray:
    x = np.asarray(rows)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"rows have shape {x.shape}; the model takes (n, {n_features})")
    return x


def _chunks(n: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous slices, one per thread, none smaller than a few thousand rows."""
    parts = max(1, min(threads, n // 4096))
    bounds = [n * k // parts for k in range(parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(parts) if bounds[k + 1] > bounds[k]]
