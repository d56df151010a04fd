"""The hazard CNN in Keras, and its training (TensorFlow is imported here only)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LAYERS", "build", "fit"]

LAYERS = (
    # (filters, kernel, stride, padding): shapes that quantise well and run fast under
    # XNNPACK; the 4x4/4 patch layer reads spectra, the next two their spatial extent.
    (16, 4, 4, "valid"),
    (32, 3, 2, "same"),
    (32, 3, 2, "same"),
)


def build(tile_size: int, bands: int, classes: int, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((tile_size, tile_size, bands), name="tiles")
    x = inputs
    for i, (filters, kernel, stride, padding) in enumerate(LAYERS):
        x = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding=padding, activation="relu", name=f"conv{i}"
        )(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="hazard_cnn")


def fit(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    epochs: int,
    seed: int,
) -> list[float]:
    """Adam with a cosine-decayed rate; returns validation accuracy per epoch."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    steps = epochs * int(np.ceil(len(train[0]) / 64))
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        train[0], train[1], batch_size=64, epochs=epochs, validation_data=validation,
        shuffle=True, verbose=2,
    )  # fmt: skip
    return [round(float(a), 4) for a in history.history["val_accuracy"]]
