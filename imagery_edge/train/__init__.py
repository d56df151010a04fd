"""Training the hazard model (needs the ``imagery-train`` extra: TensorFlow, onnx).

``python -m imagery_edge.train --seed 20250101`` draws labelled synthetic tiles from
``appliance.demo.tiles`` (balanced normal / flood / drought / cloud, random regions and
months), trains a small CNN with Keras, converts it to TFLite twice (float32, and full
int8 with a representative data set, int8 input and output), writes the same network as
ONNX (float, and int8 QDQ with per-channel weights), scores every file on held-out tiles
with the appliance's own runtimes, and writes it all with ``hazard.json`` into
``imagery_edge/models/`` (or ``--out``). The same seed gives the same model.

Nothing here is imported by the appliance at run time.
"""

__all__: list[str] = []
