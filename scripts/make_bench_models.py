#!/usr/bin/env python3
"""Make the benchmark models of issue #11 into a folder given on the command line (they are
large: never commit them).

- ConvNeXt-Tiny (torchvision, num_classes=1025, torch.manual_seed(0), no weight download),
  1x3x256x256, converted with litert-torch: float32 (no recipe), full_dynamic_recipe (dynamic
  int8, per-channel int8 weights), full_weight_only_recipe, full_fp16_recipe.
- An MLP of 8 x FULLY_CONNECTED 8192x8192, batch 1, no bias: float32 (2 GiB, every weight
  stored after the flatbuffer through Buffer.offset/size, TFLite's >2 GB layout) and its
  dynamic-int8 twin (per-channel symmetric int8 weights, asymmetric input quantization as
  litert-torch writes it; 513 MB). These two are written directly with the flatbuffers
  package (no converter takes 2 GiB of constants).

    python3 -m venv /work/venvs/bench
    /work/venvs/bench/bin/pip install litert-torch torchvision flatbuffers numpy
    /work/venvs/bench/bin/python scripts/make_bench_models.py /work/bench-models [--only mlp|convnext]
"""
import argparse
import os
import sys

import numpy as np

# ---- TFLite schema slots (tensorflow/compiler/mlir/lite/schema/schema.fbs) ----
FLOAT32, INT8 = 0, 9
FULLY_CONNECTED = 9
FC_OPTIONS = 8  # BuiltinOptions.FullyConnectedOptions


def mlp_weights(l, n):
    """Layer `l`'s float weights, deterministic (regenerated rather than kept: 2 GiB)."""
    rng = np.random.default_rng(1000 + l)
    return rng.standard_normal((n, n), dtype=np.float32) * np.float32(1.0 / np.sqrt(n))


def quantize_rows(w):
    """Per-channel symmetric int8 (axis 0), as litert-torch's dynamic recipe writes weights."""
    s = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.round(w / s[:, None]), -127, 127).astype(np.int8)
    return q, s.astype(np.float32)


def mlp_flatbuffer(layers, n, scales, base, wbytes):
    """The flatbuffer of `layers` x FULLY_CONNECTED n x n (no bias, RELU between layers),
    weight buffer l at file offset `base + l * wbytes`. `scales` (per layer) makes it int8."""
    import flatbuffers

    int8 = scales is not None
    b = flatbuffers.Builder(1 << 20)

    def vec(vals, size, prepend):
        b.StartVector(size, len(vals), size)
        for v in reversed(vals):
            prepend(v)
        return b.EndVector()

    ivec = lambda v: vec(v, 4, b.PrependInt32)  # noqa: E731
    offvec = lambda v: vec(v, 4, b.PrependUOffsetTRelative)  # noqa: E731
    quants = []
    if int8:
        for s in scales:
            sv = vec([float(x) for x in s], 4, b.PrependFloat32)
            zv = vec([0] * n, 8, b.PrependInt64)
            b.StartObject(7)
            b.PrependUOffsetTRelativeSlot(2, sv, 0)
            b.PrependUOffsetTRelativeSlot(3, zv, 0)
            b.PrependInt32Slot(6, 0, 0)
            quants.append(b.EndObject())
    tensors = []
    # Tensor 0 is the input; layer l has weights 2l+1 (buffer l+1) and output 2l+2.
    for i in range(1 + 2 * layers):
        is_w = i % 2 == 1
        l = (i - 1) // 2
        name = b.CreateString("input" if i == 0 else (f"fc{l}/weights" if is_w else f"fc{l}/out"))
        shape = ivec([n, n] if is_w else [1, n])
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, INT8 if (is_w and int8) else FLOAT32, 0)
        b.PrependUint32Slot(2, l + 1 if is_w else 0, 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        if is_w and int8:
            b.PrependUOffsetTRelativeSlot(4, quants[l], 0)
        tensors.append(b.EndObject())
    ops = []
    for l in range(layers):
        b.StartObject(4)
        b.PrependInt8Slot(0, 1 if l + 1 < layers else 0, 0)  # RELU, NONE on the last
        b.PrependBoolSlot(3, int8, False)  # asymmetric_quantize_inputs
        opts = b.EndObject()
        ins = ivec([2 * l, 2 * l + 1, -1])
        outs = ivec([2 * l + 2])
        b.StartObject(5)
        b.PrependUint32Slot(0, 0, 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        b.PrependUint8Slot(3, FC_OPTIONS, 0)
        b.PrependUOffsetTRelativeSlot(4, opts, 0)
        ops.append(b.EndObject())
    tv, ov = offvec(tensors), offvec(ops)
    sin, sout = ivec([0]), ivec([2 * layers])
    sname = b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tv, 0)
    b.PrependUOffsetTRelativeSlot(1, sin, 0)
    b.PrependUOffsetTRelativeSlot(2, sout, 0)
    b.PrependUOffsetTRelativeSlot(3, ov, 0)
    b.PrependUOffsetTRelativeSlot(4, sname, 0)
    sg = b.EndObject()
    b.StartObject(4)
    b.PrependInt8Slot(0, FULLY_CONNECTED, 0)
    b.PrependInt32Slot(2, 9 if int8 else 1, 1)
    b.PrependInt32Slot(3, FULLY_CONNECTED, 0)
    opc = b.EndObject()
    bufs = []
    b.StartObject(3)
    bufs.append(b.EndObject())
    for l in range(layers):
        b.StartObject(3)
        b.PrependUint64Slot(1, base + l * wbytes, 0)
        b.PrependUint64Slot(2, wbytes, 0)
        bufs.append(b.EndObject())
    bv = offvec(bufs)
    cv = offvec([opc])
    sv = offvec([sg])
    desc = b.CreateString("quantscope bench MLP (scripts/make_bench_models.py)")
    b.StartObject(5)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, cv, 0)
    b.PrependUOffsetTRelativeSlot(2, sv, 0)
    b.PrependUOffsetTRelativeSlot(3, desc, 0)
    b.PrependUOffsetTRelativeSlot(4, bv, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def make_mlp(path, int8, layers=8, n=8192):
    scales = [quantize_rows(mlp_weights(l, n))[1] for l in range(layers)] if int8 else None
    wbytes = n * n * (1 if int8 else 4)
    # The flatbuffer's size does not depend on the offsets (fixed-width uint64 fields).
    probe = mlp_flatbuffer(layers, n, scales, 1 << 40, wbytes)
    base = (len(probe) + 63) // 64 * 64
    fb = mlp_flatbuffer(layers, n, scales, base, wbytes)
    assert len(fb) == len(probe), (len(fb), len(probe))
    with open(path, "wb") as f:
        f.write(fb)
        f.write(b"\0" * (base - len(fb)))
        for l in range(layers):
            w = mlp_weights(l, n)
            f.write((quantize_rows(w)[0] if int8 else w).tobytes())
    print(f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MiB)")


def make_convnext(out):
    import torch
    import torchvision
    import litert_torch
    from litert_torch.generative.quantize import quant_recipes

    torch.manual_seed(0)
    net = torchvision.models.convnext_tiny(num_classes=1025).eval()
    x = (torch.rand(1, 3, 256, 256),)
    for name, cfg in [
        ("convnext_tiny_f32", None),
        ("convnext_tiny_dyn_int8", quant_recipes.full_dynamic_recipe()),
        ("convnext_tiny_weight_only_int8", quant_recipes.full_weight_only_recipe()),
        ("convnext_tiny_fp16", quant_recipes.full_fp16_recipe()),
    ]:
        path = os.path.join(out, name + ".tflite")
        if os.path.exists(path):
            print(f"exists: {path}")
            continue
        m = litert_torch.convert(net, x, quant_config=cfg) if cfg else litert_torch.convert(net, x)
        m.export(path)
        print(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--only", choices=["mlp", "convnext"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.only != "convnext":
        for int8, name in [(False, "mlp8x8192_f32"), (True, "mlp8x8192_dyn_int8")]:
            path = os.path.join(a.out, name + ".tflite")
            if os.path.exists(path):
                print(f"exists: {path}")
            else:
                make_mlp(path, int8)
    if a.only != "mlp":
        make_convnext(a.out)


if __name__ == "__main__":
    sys.exit(main())
