#!/usr/bin/env python3
"""Time the official TFLite interpreter (ai-edge-litert) on a model with one thread, the way
`quantscope bench` times quantscope: one warm-up, then N invocations; median and min ms.

Resolvers: default (AUTO) and BUILTIN both apply the XNNPACK delegate in ai-edge-litert 2.3;
BUILTIN_WITHOUT_DEFAULT_DELEGATES ("builtin_nodeleg": TFLite's own optimized kernels, ruy /
gemmlowp) and BUILTIN_REF (reference kernels). With --quantscope PATH it also runs
`PATH bench MODEL --runs N --threads 1 --json` and prints quantscope / official ratios.

With several models (or --table) it prints one table, the form of issue #11's: quantscope,
builtin_nodeleg and XNNPACK (default resolver) medians, and quantscope / builtin and
quantscope / XNNPACK ratios, all timed in the same run (the reference kernels are skipped).

    /work/.venv-oracle/bin/python scripts/bench_tflite.py MODEL [--runs N] \
        [--quantscope target/release/quantscope]
    /work/venvs/bench/bin/python scripts/bench_tflite.py /work/bench-models/*.tflite \
        --quantscope target/release/quantscope --runs 10 [--threads 2]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def random_input(detail, rng):
    shape = [max(1, int(d)) for d in detail["shape"]]
    dt = np.dtype(detail["dtype"])
    if dt.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(dt)
    if dt == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dt.itemsize <= 2:
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max + 1, shape).astype(dt)
    return rng.integers(0, 3, shape).astype(dt)


def time_official(model, resolver, runs):
    try:
        it = Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=resolver)
        it.allocate_tensors()
    except Exception as e:  # noqa: BLE001 - report and go on
        return {"error": str(e).splitlines()[0]}
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        it.set_tensor(d["index"], random_input(d, rng))
    try:
        it.invoke()  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            it.invoke()
            times.append((time.perf_counter() - t) * 1e3)
    except Exception as e:  # noqa: BLE001
        return {"error": str(e).splitlines()[0]}
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs}


def time_quantscope(binary, model, runs, threads=1):
    p = subprocess.run([binary, "bench", model, "--runs", str(runs), "--threads", str(threads), "--json"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def table(models, runs, binary, threads, as_json):
    """One row per model: quantscope, builtin_nodeleg, XNNPACK (ms, median) and the ratios."""
    rows = []
    for m in models:
        r = {"model": m,
             "xnnpack": time_official(m, OpResolverType.AUTO, runs),
             "builtin_nodeleg": time_official(m, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, runs)}
        if binary:
            r["quantscope"] = time_quantscope(binary, m, runs, threads)
        rows.append(r)
        if not as_json:
            print(f"done: {m}", file=sys.stderr)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    med = lambda v: v.get("median_ms") if isinstance(v, dict) else None  # noqa: E731
    fmt = lambda v: f"{v:.1f} ms" if v is not None else "error"  # noqa: E731
    print(f"median of {runs} runs; official interpreter 1 thread, quantscope {threads} thread(s)")
    print("| model | quantscope | builtin_nodeleg | XNNPACK | ours / builtin | ours / XNNPACK |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        q, b, x = med(r.get("quantscope", {})), med(r["builtin_nodeleg"]), med(r["xnnpack"])
        ratio = lambda a, c: f"{a / c:.2f}x" if a is not None and c else "-"  # noqa: E731
        name = r["model"].rsplit("/", 1)[-1]
        print(f"| {name} | {fmt(q)} | {fmt(b)} | {fmt(x)} | {ratio(q, b)} | {ratio(q, x)} |")
        for k in ("quantscope", "builtin_nodeleg", "xnnpack"):
            if isinstance(r.get(k), dict) and "error" in r[k]:
                print(f"  {name} {k}: {r[k]['error']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="model")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--quantscope", help="path to the quantscope binary (release build)")
    ap.add_argument("--threads", type=int, default=1, help="quantscope's threads in the table")
    ap.add_argument("--table", action="store_true", help="the table even for one model")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if len(a.models) > 1 or a.table:
        return table(a.models, a.runs, a.quantscope, a.threads, a.json)
    a.model = a.models[0]

    res = {}
    for name, r in [("default", OpResolverType.AUTO), ("builtin", OpResolverType.BUILTIN),
                    ("builtin_nodeleg", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
                    ("builtin_ref", OpResolverType.BUILTIN_REF)]:
        res[name] = time_official(a.model, r, a.runs)
    if a.quantscope:
        p = subprocess.run([a.quantscope, "bench", a.model, "--runs", str(a.runs), "--threads", "1", "--json"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            res["quantscope"] = {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
        else:
            res["quantscope"] = json.loads(p.stdout.strip().splitlines()[-1])
            q = res["quantscope"]["median_ms"]
            res["ratios"] = {k: q / v["median_ms"] for k, v in res.items()
                             if k not in ("quantscope",) and isinstance(v, dict) and "median_ms" in v}
    if a.json:
        print(json.dumps(res, indent=1))
        return
    print(f"{a.model} (1 thread, {a.runs} runs)")
    for k, v in res.items():
        if k == "ratios":
            continue
        if "error" in v:
            print(f"  {k:15s} error: {v['error']}")
        else:
            print(f"  {k:15s} median {v['median_ms']:9.3f} ms   min {v['min_ms']:9.3f} ms")
    for k, r in res.get("ratios", {}).items():
        print(f"  quantscope / {k:15s} = {r:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
