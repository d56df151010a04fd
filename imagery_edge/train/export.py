"""Writing the trained network as TFLite (float32, full int8) and ONNX (float, int8 QDQ).

The ONNX graph is built node by node from the Keras weights with ``onnx.helper`` (the
network is four layers), so no converter has to keep up with TensorFlow's versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from imagery_edge.train.network import LAYERS

__all__ = ["write_onnx", "write_onnx_int8", "write_tflite"]


def write_tflite(model: Any, path: Path, representative: np.ndarray | None) -> None:
    """Float32 when ``representative`` is None, else full-integer int8 (int8 in and out,
    per-channel weights) calibrated on those tiles."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:

        def samples() -> Iterator[list[np.ndarray]]:
            for tile in representative:
                yield [tile[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())


def write_onnx(model: Any, path: Path, tile_size: int, bands: int) -> None:
    """The same network as an ONNX graph: NHWC float reflectance in, probabilities out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Transpose", ["tiles"], ["x0"], perm=[0, 3, 1, 2])]
    weights = []
    size = tile_size
    for i, (_, kernel, stride, padding) in enumerate(LAYERS):
        w, b = model.get_layer(f"conv{i}").get_weights()
        weights += [
            numpy_helper.from_array(w.transpose(3, 2, 0, 1).astype(np.float32), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        pads, size = _pads(size, kernel, stride, padding)
        nodes += [
            helper.make_node(
                "Conv", [f"x{i}", f"w{i}", f"b{i}"], [f"c{i}"],
                kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads,
            ),
            helper.make_node("Relu", [f"c{i}"], [f"x{i + 1}"]),
        ]  # fmt: skip
    last = f"x{len(LAYERS)}"
    w, b = model.get_layer("probabilities").get_weights()
    weights += [numpy_helper.from_array(w.astype(np.float32), "wd"),
                numpy_helper.from_array(b.astype(np.float32), "bd")]  # fmt: skip
    nodes += [
        helper.make_node("GlobalAveragePool", [last], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "wd", "bd"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "hazard_cnn",
        [
            helper.make_tensor_value_info(
                "tiles", TensorProto.FLOAT, ["n", tile_size, tile_size, bands]
            )
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", w.shape[1]])],
        initializer=weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _pads(size: int, kernel: int, stride: int, padding: str) -> tuple[list[int], int]:
    """ONNX pads (top, left, bottom, right) reproducing Keras padding; and the output size."""
    if padding == "valid":
        return [0, 0, 0, 0], (size - kernel) // stride + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2  # TensorFlow puts the odd pixel after
    return [before, before, total - before, total - before], out


def write_onnx_int8(float_path: Path, path: Path, representative: np.ndarray) -> None:
    """Static int8 QDQ quantisation (per-channel weights, int8 activations)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._tiles = iter(representative)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tile = next(self._tiles, None)
            return None if tile is None else {"tiles": tile[None].astype(np.float32)}

    quantize_static(
        str(float_path), str(path), Reader(), quant_format=QuantFormat.QDQ,
        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
    )  # fmt: skip
