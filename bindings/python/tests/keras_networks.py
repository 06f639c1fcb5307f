"""The example networks of the articles, written in Keras 3 as the articles
write them (keras.ops.softmax for tf.nn.softmax): built by the Keras import
tests (test_import_keras.py) and by the fixture generator
(Tests/fixtures/import/make_keras_fixtures.py), which commits their
conversions for the C and Swift tests."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def multitask():
    """Two branches: a 5-way softmax (keras.ops.softmax after a Dense) and 4 raw outputs."""
    inputs = keras.Input(shape=(100,))
    dense1 = keras.layers.Dense(64, activation="relu")(inputs)
    logits_class = keras.layers.Dense(5)(dense1)
    softmax_class = keras.ops.softmax(logits_class)
    dense2 = keras.layers.Dense(128, activation="relu")(inputs)
    logits_loc = keras.layers.Dense(4)(dense2)
    return keras.Model(inputs=inputs, outputs=[softmax_class, logits_loc])


def timesteps():
    """An LSTM trunk with return_sequences=True and a softmax head on each of steps 0, 1, 2."""
    inputs = keras.Input(shape=(5, 8))
    rnn = keras.layers.LSTM(64, return_sequences=True)(inputs)
    softmax_outputs = []
    for i in range(3):
        dense_i = keras.layers.Dense(10, activation=None)(rnn[:, i, :])
        softmax_outputs.append(keras.ops.softmax(dense_i))
    return keras.Model(inputs=inputs, outputs=softmax_outputs)


def member(width):
    i = keras.Input(shape=(10,))
    h = keras.layers.Dense(width, activation="relu")(i)
    return keras.Model(i, keras.layers.Dense(3, activation="softmax")(h))


def ensemble():
    """Two models' softmax outputs added and divided by 2."""
    model_a, model_b = member(16), member(24)
    inputs = keras.Input(shape=(10,))
    output_a = model_a(inputs)
    output_b = model_b(inputs)
    ensemble_output = keras.ops.add(output_a, output_b) / 2
    return keras.Model(inputs=inputs, outputs=ensemble_output)


def partitioned():
    """The robot arm's network: a 4-way action softmax and one force output."""
    inputs = keras.Input(shape=(10,))
    x = keras.layers.Dense(128, activation="relu", name="fc1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="fc2")(x)
    action = keras.layers.Dense(4, activation="softmax", name="action_output")(x)
    force = keras.layers.Dense(1, name="force_output")(x)
    return keras.Model(inputs, [action, force])


def masked():
    """A softmax multiplied by a fixed 0/1 mask (not renormalized)."""
    mask = np.array([1, 0, 1, 0, 0, 0], np.float32)
    inputs = keras.Input(shape=(10,))
    h = keras.layers.Dense(128, activation="relu")(inputs)
    pre = keras.layers.Dense(6)(h)
    return keras.Model(inputs, keras.ops.multiply(keras.ops.softmax(pre), mask))


def hierarchical():
    """A coarse 3-way softmax and one fine softmax per coarse category."""
    inputs = keras.Input(shape=(10,))
    x = keras.layers.Dense(128, activation="relu")(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    coarse = keras.layers.Dense(3, activation="softmax", name="coarse")(x)
    fines = [keras.layers.Dense(n, activation="softmax", name=f"fine{k}")(x) for k, n in enumerate([2, 4, 3])]
    return keras.Model(inputs, [coarse] + fines)
