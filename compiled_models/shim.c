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
