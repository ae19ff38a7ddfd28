#!/usr/bin/env python3
"""EfficientNet-Lite0 (architecture only: random weights, fixed seed) as a full-integer INT8
TFLite model for `scripts/bench_tflite.py` / `quantscope bench` (issue 11). The real weights are
not reachable offline; speed depends on shapes only. Not committed (several MB).

EfficientNet-Lite0 = EfficientNet-B0 without squeeze-and-excitation, ReLU6 instead of swish,
stem (32) and head (1280) fixed; 224x224x3 input, 1000 classes. Calibration: 8 random images.

    /work/venvs/prep/bin/python scripts/make_bench_models_int8.py [--out /work/bench-models]
"""
import argparse
import os

import numpy as np
import tensorflow as tf

keras = tf.keras
L = keras.layers

# (kernel, stride, expansion, out channels, repeats) of EfficientNet-B0 / Lite0.
BLOCKS = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]


def conv_bn(x, ch, k=1, s=1, act=True):
    x = L.Conv2D(ch, k, strides=s, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return L.ReLU(6.0)(x) if act else x


def mbconv(x, k, s, e, out):
    cin = x.shape[-1]
    h = conv_bn(x, cin * e) if e != 1 else x
    h = L.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)(h)
    h = L.BatchNormalization()(h)
    h = L.ReLU(6.0)(h)
    h = conv_bn(h, out, act=False)
    if s == 1 and cin == out:
        h = L.Add()([x, h])
    return h


def efficientnet_lite0():
    i = keras.Input((224, 224, 3), batch_size=1)
    x = conv_bn(i, 32, 3, 2)
    for k, s, e, out, r in BLOCKS:
        for j in range(r):
            x = mbconv(x, k, s if j == 0 else 1, e, out)
    x = conv_bn(x, 1280)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(1000)(x)
    return keras.Model(i, x)


def randomize_bn(model, rng):
    """Random BN statistics so the folded weights/ranges are not all identical."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b, m, v = layer.get_weights()
            n = g.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32),
                               rng.uniform(0.5, 1.5, n).astype(np.float32)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/bench-models")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tf.random.set_seed(11)
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    model = efficientnet_lite0()
    randomize_bn(model, rng)
    calib = rng.random((8, 1, 224, 224, 3), dtype=np.float32)

    def rep():
        for c in calib:
            yield [c]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path = os.path.join(a.out, "efficientnet_lite0_int8.tflite")
    with open(path, "wb") as f:
        f.write(conv.convert())
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
