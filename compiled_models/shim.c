/* The appliance's entry points, compiled into every model library beside TL2cgen's code.
 *
 * TL2cgen's predict() takes one row of `union Entry`, where a missing value must be
 * the int -1 in the `missing` field (a NaN would silently take the wrong branch), adds
 * to its result with += and, for quantized models, overwrites the row. These wrappers
 * take plain float32/float64 rows with NaN for missing, build the entries on their own
 * stack and zero the result on every call, so they are safe to call from any number of
 * threads at once (ctypes releases the GIL for the call).
 *
 * Compiled with -DAPPLIANCE_NUM_FEATURE=<n> -DAPPLIANCE_LEAF_T=<float|double>.
 */
#include "header.h"

#define APPLIANCE_OUTPUTS (N_TARGET * MAX_N_CLASS)

#define APPLIANCE_LOAD(row, entries)                               \
  for (int j = 0; j < APPLIANCE_NUM_FEATURE; ++j) {               \
    if (isnan((row)[j])) {                                         \
      (entries)[j].missing = -1;                                   \
    } else {                                                       \
      (entries)[j].fvalue = (row)[j];                              \
    }                                                              \
  }

static double appliance_one(union Entry* entries, int pred_margin) {
  APPLIANCE_LEAF_T result[APPLIANCE_OUTPUTS];
  for (int k = 0; k < APPLIANCE_OUTPUTS; ++k) result[k] = 0;
  predict(entries, pred_margin, result);
  return (double)result[0];
}

int32_t appliance_num_feature(void) { return APPLIANCE_NUM_FEATURE; }

double appliance_score_f64(const double* row, int pred_margin) {
  union Entry entries[APPLIANCE_NUM_FEATURE];
  APPLIANCE_LOAD(row, entries);
  return appliance_one(entries, pred_margin);
}

void appliance_batch_f64(const double* rows, int64_t n, int pred_margin, double* out) {
  union Entry entries[APPLIANCE_NUM_FEATURE];
  for (int64_t i = 0; i < n; ++i) {
    const double* row = rows + i * APPLIANCE_NUM_FEATURE;
    APPLIANCE_LOAD(row, entries);
    out[i] = appliance_one(entries, pred_margin);
  }
}

void appliance_batch_f32(const float* rows, int64_t n, int pred_margin, double* out) {
  union Entry entries[APPLIANCE_NUM_FEATURE];
  for (int64_t i = 0; i < n; ++i) {
    const float* row = rows + i * APPLIANCE_NUM_FEATURE;
    APPLIANCE_LOAD(row, entries);
    out[i] = appliance_one(entries, pred_margin);
  }
}

#ifdef APPLIANCE_PYTHON
/* A Python-callable single-row entry point, built where the Python headers exist.
 *
 * Through ctypes a call costs about a microsecond of argument handling, as much as a
 * 100-tree model takes to score; called as a builtin it costs tens of nanoseconds.
 * score(row, *, margin=False) reads a 1-D, C-contiguous float64 or float32 buffer of
 * APPLIANCE_NUM_FEATURE values in place and returns a float. It keeps the GIL: releasing
 * and retaking it measured 0.5 us here, a third of a 100-tree row, and a row holds it
 * for tens of microseconds at most, far below the interpreter's own 5 ms switch
 * interval. Batches (through ctypes) release it. Anything else goes to `fallback`, the
 * Python implementation whose errors name the problem, so both paths answer every input
 * alike.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int appliance_margin_flag(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs != 1) return -1;
  if (kwnames == NULL) return 0;
  if (PyTuple_GET_SIZE(kwnames) != 1) return -1;
  PyObject* name = PyTuple_GET_ITEM(kwnames, 0);
  if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "margin") != 0) return -1;
  int truth = PyObject_IsTrue(args[1]);
  return truth < 0 ? -2 : truth;
}

static PyObject* appliance_py_score(PyObject* fallback, PyObject* const* args, Py_ssize_t nargs,
                                    PyObject* kwnames) {
  int margin = appliance_margin_flag(args, nargs, kwnames);
  if (margin == -2) return NULL;
  Py_buffer view;
  if (margin < 0 || PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    PyErr_Clear();
    return PyObject_Vectorcall(fallback, args, (size_t)nargs, kwnames);
  }
  const char* format = view.format ? view.format : "B";
  if (format[0] == '<' || format[0] == '=' || format[0] == '@') ++format;
  int f64 = format[0] == 'd' && format[1] == '\0' && view.itemsize == 8;
  int f32 = format[0] == 'f' && format[1] == '\0' && view.itemsize == 4;
  if (view.ndim != 1 || view.shape[0] != APPLIANCE_NUM_FEATURE || !(f64 || f32)) {
    PyBuffer_Release(&view);
    return PyObject_Vectorcall(fallback, args, (size_t)nargs, kwnames);
  }
  union Entry entries[APPLIANCE_NUM_FEATURE];
  if (f64) {
    const double* row = (const double*)view.buf;
    APPLIANCE_LOAD(row, entries);
  } else {
    const float* row = (const float*)view.buf;
    APPLIANCE_LOAD(row, entries);
  }
  double value = appliance_one(entries, margin);
  PyBuffer_Release(&view);
  return PyFloat_FromDouble(value);
}

static PyMethodDef appliance_py_method = {
    "score", (PyCFunction)(void (*)(void))appliance_py_score, METH_FASTCALL | METH_KEYWORDS,
    "score(row, *, margin=False) -> float: one row through the compiled trees."};

/* The builtin function, with `fallback` as its bound self; called once, at load. */
PyObject* appliance_py_scorer(PyObject* fallback) {
  return PyCFunction_New(&appliance_py_method, fallback);
}
#endif
