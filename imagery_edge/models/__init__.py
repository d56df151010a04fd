"""The shipped hazard model: ``hazard_int8.tflite`` (what runs), its float32 twin, the
same network as ONNX (float, and int8 QDQ), and ``hazard.json`` (classes, band order,
input scaling, training data, held-out accuracy). Written by ``python -m
imagery_edge.train``; read with ``imagery_edge.model_info.load_model_info``."""
