"""What the build changes in TL2cgen's generated C, and why: two rewrites of quantize.c.

Both are text in, text out, and touch only what they recognise exactly; the parity check
after every build (``compiled_models.parity``) holds the result to XGBoost's answers.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["branchless_quantize", "exact_quantize_table"]

_TABLE = re.compile(r"(static const (float|double) threshold\[\] = \{)([^}]*)(\};)")


def exact_quantize_table(text: str, model: dict[str, Any]) -> str:
    """TL2cgen's quantisation table, rewritten with exact thresholds.

    TL2cgen 1.0 prints the table with 8 significant digits, which does not round-trip a
    float32 (9 are needed): a threshold can come back one ULP off, and a value equal to
    the threshold then takes the wrong branch (found by the parity probes at split
    thresholds). Each printed value is replaced by the model's own threshold nearest to
    it, written as an exact hexadecimal float literal; the table's order and length stay.
    Raises ValueError naming a printed value that matches no split of the model.
    """
    found = _TABLE.search(text)
    if found is None:  # not in this file (or no numerical split at all)
        return text
    exact = np.unique(np.array(
        [node["threshold"] for tree in model["trees"] for node in tree["nodes"]
         if node.get("node_type") == "numerical_test_node"], dtype=np.float64,
    ))  # fmt: skip
    printed = [v for v in found.group(3).replace("\n", " ").split(",") if v.strip()]
    literals = []
    for value in printed:
        approx = float(value.strip().rstrip("f"))
        nearest = exact[np.argmin(np.abs(exact - approx))] if exact.size else approx
        if abs(nearest - approx) > max(1e-6 * abs(approx), 1e-30):
            raise ValueError(f"threshold {value.strip()} matches no split")
        literal = float(np.float32(nearest)).hex() if found.group(2) == "float" else nearest.hex()
        literals.append(literal + ("f" if found.group(2) == "float" else ""))
    body = "\n  " + ",\n  ".join(literals) + ",\n"
    return text[: found.start(3)] + body + text[found.end(3):]


# TL2cgen 1.0's quantize(), whitespace aside: a binary search whose every step is a
# branch the CPU mispredicts half the time, run for each present feature of each row.
_GENERATED = """
int quantize({t} val, unsigned fid) {{
  const size_t offset = th_begin[fid];
  const {t}* array = &threshold[offset];
  int len = th_len[fid];
  int low = 0;
  int high = len;
  int mid;
  {t} mval;
  if (offset == {total} || val < array[0]) {{
    return -10;
  }}
  while (low + 1 < high) {{
    mid = (low + high) / 2;
    mval = array[mid];
    if (val == mval) {{
      return mid * 2;
    }} else if (val < mval) {{
      high = mid;
    }} else {{
      low = mid;
    }}
  }}
  if (array[low] == val) {{
    return low * 2;
  }} else if (high == len) {{
    return len * 2;
  }} else {{
    return low * 2 + 1;
  }}
}}
"""

# The same answers without data-dependent branches: the search narrows by conditional
# moves over a loop whose trip count depends only on the feature, so the searches of a
# row's features overlap in the CPU instead of stalling on each other's mispredictions.
# With k the last threshold <= val: 2k on a tie, 2*len above the last, else 2k + 1.
# (500 trees of depth 6: 11.9 -> 10.3 us a row; equal to the generated function on
# every threshold, its float neighbours and 20,000 random values of each feature.)
_BRANCHLESS = """
int quantize({t} val, unsigned fid) {{
  const size_t offset = th_begin[fid];
  const {t}* array = &threshold[offset];
  const int len = th_len[fid];
  if (offset == {total} || val < array[0]) {{
    return -10;
  }}
  const {t}* base = array;
  for (int n = len; n > 1;) {{
    const int half = n / 2;
    base = (base[half] <= val) ? base + half : base;
    n -= half;
  }}
  const int k = (int)(base - array);
  const int above = 2 * k + 1 + (k == len - 1);
  return (*base == val) ? 2 * k : above;
}}
"""

_SIGNATURE = re.compile(r"int quantize\((float|double) val, unsigned fid\) \{")
_TOTAL = re.compile(r"if \(offset == (\d+) \|\| val < array\[0\]\)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def branchless_quantize(text: str) -> tuple[str, bool]:
    """quantize.c with TL2cgen's quantize() replaced by the branchless one above.

    Returns (text, replaced). The function is replaced only if it is, comments and
    whitespace aside, exactly the one this rewrite was checked against; any other (a
    newer TL2cgen) is left as generated.
    """
    signature, total = _SIGNATURE.search(text), _TOTAL.search(text)
    if signature is None or total is None:
        return text, False
    kind, start = signature.group(1), signature.start()
    end = _function_end(text, signature.end())
    if end is None:
        return text, False
    fields = {"t": kind, "total": total.group(1)}
    if _squeeze(text[start:end]) != _squeeze(_GENERATED.format(**fields)):
        return text, False
    return text[:start] + _BRANCHLESS.format(**fields).strip() + "\n" + text[end:], True


def _function_end(text: str, body_start: int) -> int | None:
    """The index just past the brace that closes the body opened before ``body_start``."""
    depth = 1
    for i in range(body_start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return None


def _squeeze(code: str) -> str:
    return re.sub(r"\s+", "", _COMMENT.sub("", code))
