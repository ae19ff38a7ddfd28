#!/usr/bin/env python3
"""Train the bundled example: a small digit classifier (scikit-learn's load_digits).

Run from the repository root with the oracle venv (see tests/fixtures/README.md):
    python assets/make_example.py
Writes assets/digits_f32.tflite, assets/digits_int8.tflite (int8 in/out, per-channel),
assets/digits_labels.txt, assets/samples/digit_<label>_<k>.png and prints the test accuracy
of both .tflite files as run by the official interpreter.
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")
SEED = 0


def make_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.astype("float32") / 16.0  # (n, 8, 8) in [0, 1]
    y = d.target.astype("int64")
    rng = np.random.default_rng(SEED)
    n = len(x)
    # 8x8 -> 32x32 (bilinear-ish: nearest 4x upsample then a 3x3 box blur)
    big = np.kron(x, np.ones((4, 4), "float32"))
    pad = np.pad(big, ((0, 0), (1, 1), (1, 1)), mode="edge")
    big = sum(pad[:, i:i + 32, j:j + 32] for i in range(3) for j in range(3)) / 9.0
    # random tinted background/foreground per sample (dark bg, light fg, mixed hues)
    bg = rng.uniform(0.0, 0.35, (n, 1, 1, 3)).astype("float32")
    fg = rng.uniform(0.6, 1.0, (n, 1, 1, 3)).astype("float32")
    fg[np.arange(n), 0, 0, rng.integers(0, 3, n)] *= 0.5  # one weaker channel -> coloured ink
    v = big[..., None]
    img = np.clip(bg * (1.0 - v) + fg * v, 0.0, 1.0).astype("float32")
    return train_test_split(img, y, test_size=0.25, random_state=SEED, stratify=y)


def tflite_accuracy(path, x, y):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    i = it.get_input_details()[0]
    o = it.get_output_details()[0]
    correct = 0
    for img, lab in zip(x, y):
        t = img[None]
        if i["dtype"] != np.float32:
            sc, zp = i["quantization"]
            info = np.iinfo(i["dtype"])
            t = np.clip(np.round(t / sc + zp), info.min, info.max).astype(i["dtype"])
        it.set_tensor(i["index"], t)
        it.invoke()
        correct += int(np.argmax(it.get_tensor(o["index"])[0]) == lab)
    return correct / len(y)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--eval":
        # subprocess mode: keeps ai_edge_litert out of the TensorFlow process
        xte, yte = np.load(sys.argv[2]), np.load(sys.argv[3])
        for p in sys.argv[4:]:
            print(f"{os.path.basename(p)} {tflite_accuracy(p, xte, yte):.4f}")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    keras = tf.keras
    L = keras.layers
    keras.utils.set_random_seed(SEED)
    xtr, xte, ytr, yte = make_data()
    print(f"train {len(xtr)}  test {len(xte)}")

    def build(batch):
        inp = keras.Input((32, 32, 3), batch_size=batch, name="image")
        h = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
        h = L.MaxPooling2D(2)(h)                                    # 16x16
        h = L.DepthwiseConv2D(3, padding="same", activation="relu6")(h)
        h = L.Conv2D(32, 1, activation="relu")(h)
        h = L.MaxPooling2D(2)(h)                                    # 8x8
        h = L.Conv2D(32, 3, padding="same", activation="relu")(h)
        h = L.AveragePooling2D(2)(h)                                # 4x4
        h = L.Flatten()(h)
        h = L.Dense(32, activation="relu")(h)
        h = L.Dense(10)(h)
        return keras.Model(inp, L.Softmax(name="probs")(h))

    trainer = build(None)
    trainer.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    trainer.fit(xtr, ytr, epochs=20, batch_size=32, verbose=0, shuffle=True)
    _, acc = trainer.evaluate(xte, yte, verbose=0)
    print(f"keras test accuracy {acc:.4f}")
    model = build(1)  # export with batch size 1
    model.set_weights(trainer.get_weights())

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    f32 = c.convert()
    open(os.path.join(HERE, "digits_f32.tflite"), "wb").write(f32)

    def rep():
        for k in range(0, 200, 2):
            yield [xtr[k:k + 1]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    i8 = c.convert()
    open(os.path.join(HERE, "digits_int8.tflite"), "wb").write(i8)
    print(f"digits_f32.tflite {len(f32)} bytes, digits_int8.tflite {len(i8)} bytes")

    with open(os.path.join(HERE, "digits_labels.txt"), "w") as f:
        f.write("".join(f"{k}\n" for k in range(10)))

    # 8 held-out samples, 8 different digits
    os.makedirs(SAMPLES, exist_ok=True)
    for fn in os.listdir(SAMPLES):
        if fn.endswith(".png"):
            os.remove(os.path.join(SAMPLES, fn))
    seen = {}
    for img, lab in zip(xte, yte):
        if len(seen) == 8:
            break
        if int(lab) in seen:  # the first 8 distinct digits of the test split
            continue
        seen[int(lab)] = 0
        png = tf.io.encode_png(np.round(img * 255).astype("uint8")).numpy()
        open(os.path.join(SAMPLES, f"digit_{int(lab)}_0.png"), "wb").write(png)

    tmp = "/tmp/_digits_eval"
    os.makedirs(tmp, exist_ok=True)
    np.save(f"{tmp}/x.npy", xte)
    np.save(f"{tmp}/y.npy", yte)
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--eval", f"{tmp}/x.npy",
                        f"{tmp}/y.npy", os.path.join(HERE, "digits_f32.tflite"),
                        os.path.join(HERE, "digits_int8.tflite")],
                       capture_output=True, text=True, check=True)
    print("tflite test accuracy (official interpreter, %d test images):" % len(yte))
    print(r.stdout.strip())


if __name__ == "__main__":
    main()
