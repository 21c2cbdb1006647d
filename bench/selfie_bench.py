#!/usr/bin/env python3
"""Python TensorFlow reference of the Selfie pretraining step, for benchmarking only.

The same graph as the Java side (graph/src/main/java/dev/selfie/graph/{Selfie,ResNet,Attention,
Layers,Losses}.java and training/.../Optimizers.java), op for op, in a tf.function:

  images [B, S, S, C] -> patches [B*n, p, p, C] (reshape/transpose, row-major locations)
  P: ResNet v2 stem (3x3/1 conv) + stages 1-3 of pre-activation bottlenecks (FusedBatchNormV3 in
     training mode + moving-average updates, ReLU, 1x1 / 3x3 / 1x1 convs without bias, projection
     shortcut where the shape changes), final BN + ReLU, global average pool -> h [B, n, d]
  mask: stateless uniform noise [B, n] -> top_k permutation -> m masked, n - m context locations
  A: [u0, h_context] -> L pre-LN transformer layers (MHA with q/v/output biases and no key bias,
     softmax, dropout 0.1; FFN dense-GELU(erf)-dense; residual dropout) -> final LN -> u [B, d]
  queries v_j = u + E_row[row(j)] + E_col[col(j)]; logits = v h_M^T [B, m, m]
  loss = mean softmax cross-entropy (one-hot labels), accuracy = argmax == label
  update: gradients of every trainable variable, decoupled weight decay 1e-4 on conv/dense kernels
     (w -= lr * wd * w), SGD momentum 0.9 Nesterov (ApplyMomentum), BN moving averages, step += 1.

Images are a fixed random batch passed to the function (the Java benchmark feeds the same kind of
batch through a placeholder), so the input pipeline is not measured. With --xla the function is
compiled with jit_compile=True.

Usage:
  python3 bench/selfie_bench.py --presets small,paper --steps 20,3 --xla-modes both --out py.json
Never a runtime dependency of the Java project.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# The presets of graph/.../ModelConfig.java (channels 3, 10 classes).
PRESETS = {
    "paper": dict(image=32, patch=8, masked=4, stem_width=64, widths=[256, 512, 1024, 2048],
                  blocks=[3, 4, 6, 3], d=1024, layers=3, heads=32, ffn=640, dropout=0.1,
                  bn_momentum=0.9, bn_eps=1e-5, ln_eps=1e-6),
    "small": dict(image=32, patch=8, masked=4, stem_width=16, widths=[64, 128, 256, 512],
                  blocks=[1, 1, 1, 1], d=256, layers=3, heads=4, ffn=160, dropout=0.1,
                  bn_momentum=0.9, bn_eps=1e-5, ln_eps=1e-6),
    "tiny": dict(image=32, patch=8, masked=4, stem_width=8, widths=[16, 32, 32, 64],
                 blocks=[1, 1, 1, 1], d=32, layers=2, heads=2, ffn=48, dropout=0.1,
                 bn_momentum=0.9, bn_eps=1e-5, ln_eps=1e-6),
}
STAGE_STRIDES = [1, 2, 2, 2]
CHANNELS = 3


class Model:
    """Variables by name (kernels decayed, like VarStore.Kind.KERNEL) and the forward graph."""

    def __init__(self, cfg, seed=1, compute_dtype=tf.float32):
        self.c = cfg
        # bfloat16 here = explicit casts placed as Keras' mixed_bfloat16 policy places them:
        # variables stay float32 and are cast at use, activations flow in bfloat16, batch-norm
        # statistics, layer norm, softmax and the loss are computed in float32.
        self.cdt = compute_dtype
        self.rng = np.random.default_rng(seed)
        self.trainable = []   # (name, variable, is_kernel)
        self.state = []       # BN moving statistics
        self.updates = []
        self._build_vars()

    # ---------------------------------------------------------------- variables
    def _var(self, name, shape, kind, init):
        if init == "zeros":
            value = np.zeros(shape, np.float32)
        elif init == "ones":
            value = np.ones(shape, np.float32)
        else:
            value = np.clip(self.rng.standard_normal(shape), -2, 2).astype(np.float32) * init
        v = tf.Variable(value, name=name.replace("/", "__"), trainable=kind != "state")
        if kind == "state":
            self.state.append(v)
        else:
            self.trainable.append((name, v, kind == "kernel"))
        return v

    def _conv_var(self, name, k, cin, cout, zero=False):
        return self._var(name + "/kernel", (k, k, cin, cout), "kernel",
                         "zeros" if zero else math.sqrt(2.0 / (k * k * cin)) / 0.8796)

    def _bn_vars(self, name, ch):
        return dict(gamma=self._var(name + "/gamma", (ch,), "trainable", "ones"),
                    beta=self._var(name + "/beta", (ch,), "trainable", "zeros"),
                    mean=self._var(name + "/moving_mean", (ch,), "state", "zeros"),
                    var=self._var(name + "/moving_variance", (ch,), "state", "ones"))

    def _dense_vars(self, name, cin, cout, bias):
        w = self._var(name + "/kernel", (cin, cout), "kernel", 0.02)
        b = self._var(name + "/bias", (cout,), "trainable", "zeros") if bias else None
        return (w, b)

    def _build_vars(self):
        c = self.c
        self.stem = self._conv_var("resnet/stem/conv", 3, CHANNELS, c["stem_width"])
        self.blocks = []
        cin = c["stem_width"]
        for s in range(3):  # the patch network: stages 1-3
            out = c["widths"][s]
            inner = out // 4
            for j in range(c["blocks"][s]):
                stride = STAGE_STRIDES[s] if j == 0 else 1
                n = "resnet/stage%d/block%d" % (s + 1, j)
                blk = dict(stride=stride,
                           bn1=self._bn_vars(n + "/bn1", cin),
                           shortcut=self._conv_var(n + "/shortcut", 1, cin, out)
                           if (stride != 1 or cin != out) else None,
                           conv1=self._conv_var(n + "/conv1", 1, cin, inner),
                           bn2=self._bn_vars(n + "/bn2", inner),
                           conv2=self._conv_var(n + "/conv2", 3, inner, inner),
                           bn3=self._bn_vars(n + "/bn3", inner),
                           conv3=self._conv_var(n + "/conv3", 1, inner, out, zero=True))
                self.blocks.append(blk)
                cin = out
        self.final_bn = self._bn_vars("resnet/stage3_final_bn", cin)
        d = c["d"]
        self.u0 = self._var("attention/u0", (d,), "trainable", 0.02)
        self.layers = []
        for i in range(c["layers"]):
            n = "attention/layer%d" % i
            self.layers.append(dict(
                ln1=(self._var(n + "/ln1/gamma", (d,), "trainable", "ones"),
                     self._var(n + "/ln1/beta", (d,), "trainable", "zeros")),
                q=self._dense_vars(n + "/attn/query", d, d, True),
                k=self._dense_vars(n + "/attn/key", d, d, False),
                v=self._dense_vars(n + "/attn/value", d, d, True),
                o=self._dense_vars(n + "/attn/output", d, d, True),
                ln2=(self._var(n + "/ln2/gamma", (d,), "trainable", "ones"),
                     self._var(n + "/ln2/beta", (d,), "trainable", "zeros")),
                fc1=self._dense_vars(n + "/mlp/fc1", d, c["ffn"], True),
                fc2=self._dense_vars(n + "/mlp/fc2", c["ffn"], d, True)))
        self.final_ln = (self._var("attention/final_ln/gamma", (d,), "trainable", "ones"),
                         self._var("attention/final_ln/beta", (d,), "trainable", "zeros"))
        g = c["image"] // c["patch"]
        self.row = self._var("position/row_embedding", (g, d), "trainable", 0.02)
        self.col = self._var("position/col_embedding", (g, d), "trainable", 0.02)

    # ---------------------------------------------------------------- layers
    def w(self, v):
        return tf.cast(v, self.cdt) if self.cdt != tf.float32 else v

    def bn(self, x, p):
        # FusedBatchNormV3, training mode, plus moving -= (1 - momentum) * (moving - batch).
        # (x may be bfloat16; scale, offset and the statistics are float32.)
        y, mean, var = tf.compat.v1.nn.fused_batch_norm(
            x, tf.identity(p["gamma"]), tf.identity(p["beta"]), epsilon=self.c["bn_eps"],
            is_training=True)
        rate = 1.0 - self.c["bn_momentum"]
        p["mean"].assign_sub((p["mean"] - mean) * rate)
        p["var"].assign_sub((p["var"] - var) * rate)
        return y

    def bottleneck(self, x, b):
        a = tf.nn.relu(self.bn(x, b["bn1"]))
        s = b["stride"]
        shortcut = (tf.nn.conv2d(a, self.w(b["shortcut"]), [1, s, s, 1], "SAME")
                    if b["shortcut"] is not None else x)
        y = tf.nn.conv2d(a, self.w(b["conv1"]), [1, 1, 1, 1], "SAME")
        y = tf.nn.conv2d(tf.nn.relu(self.bn(y, b["bn2"])), self.w(b["conv2"]), [1, s, s, 1],
                         "SAME")
        y = tf.nn.conv2d(tf.nn.relu(self.bn(y, b["bn3"])), self.w(b["conv3"]), [1, 1, 1, 1],
                         "SAME")
        return y + shortcut

    def patch_network(self, x):
        y = tf.nn.conv2d(tf.cast(x, self.cdt), self.w(self.stem), [1, 1, 1, 1], "SAME")
        for b in self.blocks:
            y = self.bottleneck(y, b)
        y = tf.nn.relu(self.bn(y, self.final_bn))
        return tf.reduce_mean(y, axis=[1, 2])

    def dense(self, x, wb):
        w, b = wb
        shape = tf.shape(x)
        y = tf.matmul(tf.reshape(x, [-1, w.shape[0]]), self.w(w))
        if b is not None:
            y = tf.nn.bias_add(y, self.w(b))
        return tf.reshape(y, tf.concat([shape[:-1], [w.shape[1]]], 0))

    def layer_norm(self, x, gb):
        dt = x.dtype
        x = tf.cast(x, tf.float32)
        mean = tf.reduce_mean(x, -1, keepdims=True)
        c = x - mean
        var = tf.reduce_mean(tf.square(c), -1, keepdims=True)
        return tf.cast(c * tf.math.rsqrt(var + self.c["ln_eps"]) * gb[0] + gb[1], dt)

    def dropout(self, x, seed):
        rate = self.c["dropout"]
        if rate == 0:
            return x
        keep = tf.cast(tf.random.stateless_uniform(tf.shape(x), seed) >= rate, x.dtype)
        return x * (keep * (1.0 / (1.0 - rate)))

    def mha(self, x, L, seed):
        d = self.c["d"]
        h = self.c["heads"]
        dh = d // h
        t = x.shape[1]

        def split(y):
            return tf.transpose(tf.reshape(y, [-1, t, h, dh]), [0, 2, 1, 3])

        q, k, v = split(self.dense(x, L["q"])), split(self.dense(x, L["k"])), split(self.dense(x, L["v"]))
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(dh))
        probs = self.dropout(tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32)), x.dtype), seed)
        ctx = tf.matmul(probs, v)
        merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [-1, t, d])
        return self.dense(merged, L["o"])

    def attention_pool(self, hc, seed):
        d = self.c["d"]
        b = tf.shape(hc)[0]
        x = tf.concat([tf.tile(tf.reshape(self.w(self.u0), [1, 1, d]), [b, 1, 1]), hc], 1)
        for i, L in enumerate(self.layers):
            s = seed + tf.constant([(100 + i) * 7919, 0], tf.int64)
            a = self.mha(self.layer_norm(x, L["ln1"]), L, s + [1, 0])
            x = x + self.dropout(a, s + [2, 0])
            f = self.dense(self.layer_norm(x, L["ln2"]), L["fc1"])
            f = 0.5 * f * (1.0 + tf.math.erf(f * (1.0 / math.sqrt(2.0))))
            x = x + self.dropout(self.dense(f, L["fc2"]), s + [3, 0])
        x = self.layer_norm(x, self.final_ln)
        return tf.cast(tf.reshape(x[:, :1, :], [-1, d]), tf.float32)

    def loss(self, images, seed):
        c = self.c
        g, p, d, m = c["image"] // c["patch"], c["patch"], c["d"], c["masked"]
        n = g * g
        x = tf.reshape(images, [-1, g, p, g, p, CHANNELS])
        x = tf.reshape(tf.transpose(x, [0, 1, 3, 2, 4, 5]), [-1, p, p, CHANNELS])
        h_flat = self.patch_network(x)                                      # [B*n, d]
        b = tf.shape(images)[0]
        noise = tf.random.stateless_uniform(tf.stack([b, n]), seed)
        perm = tf.math.top_k(noise, n, sorted=True).indices                 # [B, n]
        masked, context = perm[:, :m], perm[:, m:]
        offsets = tf.expand_dims(tf.range(b) * n, 1)
        hc = tf.gather(h_flat, context + offsets)                           # [B, n-m, d]
        hm = tf.cast(tf.gather(h_flat, masked + offsets), tf.float32)       # [B, m, d]
        u = self.attention_pool(hc, seed + tf.constant([1, 0], tf.int64))
        v = tf.expand_dims(u, 1) + tf.gather(self.row, masked // g) + tf.gather(self.col, masked % g)
        logits = tf.reshape(tf.matmul(v, hm, transpose_b=True), [-1, m])   # [B*m, m]
        labels = tf.reshape(tf.tile(tf.range(m)[None, :], [b, 1]), [-1])
        onehot = tf.one_hot(labels, m)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(onehot, logits))
        acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels),
                                     tf.float32))
        return loss, acc


def make_step(model, xla, lr0=0.01, wd=1e-4, warmup=0, total=1_000_000):
    """One SGD-Nesterov step with decoupled weight decay, as a tf.function."""
    variables = [v for _, v, _ in model.trainable]
    kernels = [k for _, _, k in model.trainable]
    accums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    step = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function(jit_compile=xla)
    def train_step(images, seed):
        with tf.GradientTape() as tape:
            loss, acc = model.loss(images, seed)
        grads = tape.gradient(loss, variables)
        s = tf.cast(step, tf.float32)
        if warmup > 0:
            lr = tf.where(s < warmup, lr0 * s / warmup,
                          lr0 * 0.5 * (1 + tf.cos(math.pi * (s - warmup) / (total - warmup))))
        else:
            lr = lr0 * 0.5 * (1 + tf.cos(math.pi * s / total))
        for v, a, g, k in zip(variables, accums, grads, kernels):
            if k:
                v.assign_sub(lr * wd * v)
            tf.raw_ops.ResourceApplyMomentum(var=v.handle, accum=a.handle, lr=lr, grad=g,
                                             momentum=tf.constant(0.9), use_nesterov=True)
        step.assign_add(1)
        return loss, acc

    return train_step


def step_throughput(preset, xla, batch, warmup, steps, precision="float32"):
    cfg = PRESETS[preset]
    model = Model(cfg, compute_dtype=tf.bfloat16 if precision == "bfloat16-casts" else tf.float32)
    train_step = make_step(model, xla)
    s = cfg["image"]
    images = tf.constant(np.random.default_rng(7).standard_normal((batch, s, s, CHANNELS))
                         .astype(np.float32))
    t = time.perf_counter()
    first = None
    for i in range(warmup):
        loss, _ = train_step(images, tf.constant([1, i], tf.int64))
        loss = float(loss.numpy())
        if first is None:
            first = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(steps):
        loss, _ = train_step(images, tf.constant([1, warmup + i], tf.int64))
        loss = float(loss.numpy())  # synchronise like the Java fetch
    sec = time.perf_counter() - t
    if not math.isfinite(loss):
        raise SystemExit("%s: non-finite loss %s" % (preset, loss))
    return dict(preset=preset, xla=xla, batch_size=batch, steps=steps,
                step_ms=1000 * sec / steps, python_images_per_s=steps * batch / sec,
                first_step_s=first, final_loss=loss)


def set_precision(precision):
    """bfloat16: the same grappler rewrite as the Java session, auto_mixed_precision_onednn_bfloat16
    (read when a tf.function is traced, so set it before building the step). bfloat16-casts: no
    rewrite; the model casts explicitly (Model.cdt)."""
    tf.config.optimizer.set_experimental_options(
        {"auto_mixed_precision_onednn_bfloat16": precision == "bfloat16"})


def matmul_gflops(n, runs=5, dtype=tf.float32):
    rng = np.random.default_rng(1)
    a = tf.constant(rng.random((n, n), np.float32) - 0.5)
    b = tf.constant(rng.random((n, n), np.float32) - 0.5)
    f = tf.function(lambda x, y: tf.reduce_sum(tf.cast(
        tf.matmul(tf.cast(x, dtype), tf.cast(y, dtype)), tf.float32)))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best / 1e9


def onednn_enabled():
    """Whether TF uses its oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, else a default
    that depends on the CPU: off on an AVX2-only CPU). A private TF function: None if missing."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        dnn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
        return None if dnn is None else dnn.strip().lower() in ("1", "true")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,paper")
    ap.add_argument("--steps", default="20,3", help="timed steps per preset")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--xla-modes", dest="xla", default="both", choices=["off", "on", "both"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--matmul-size", type=int, default=2048, help="0 = skip the CPU peak")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads, 0 = all cores")
    ap.add_argument("--precision", default="float32",
                    help="comma list of float32, bfloat16 (grappler's"
                         " auto_mixed_precision_onednn_bfloat16, as the Java side),"
                         " bfloat16-casts (explicit casts where Keras' mixed_bfloat16 policy puts"
                         " them, no rewrite)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    presets = a.presets.split(",")
    steps = [int(s) for s in a.steps.split(",")]
    if len(steps) != len(presets):
        ap.error("--steps must list one count per preset")
    for p in presets:
        if p not in PRESETS:
            ap.error("unknown preset %s, expected one of %s" % (p, sorted(PRESETS)))
    if a.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    xlas = {"off": [False], "on": [True], "both": [False, True]}[a.xla]
    precisions = a.precision.split(",")
    for pr in precisions:
        if pr not in ("float32", "bfloat16", "bfloat16-casts"):
            ap.error("--precision: each must be float32, bfloat16 or bfloat16-casts, got %s" % pr)
    report = dict(command=" ".join(["python3"] + sys.argv), tf_version=tf.__version__,
                  onednn=onednn_enabled(),
                  python=platform.python_version(), rows=[])
    if a.matmul_size > 0:
        report["cpu_peak_gflops"] = matmul_gflops(a.matmul_size)
        print("CPU peak reference: %d^2 matmul %.1f GFLOP/s" % (a.matmul_size,
                                                              report["cpu_peak_gflops"]))
        if any(pr.startswith("bfloat16") for pr in precisions):
            report["cpu_peak_bf16_gflops"] = matmul_gflops(a.matmul_size, dtype=tf.bfloat16)
            print("CPU peak reference: %d^2 bfloat16 matmul %.1f GFLOP/s"
                  % (a.matmul_size, report["cpu_peak_bf16_gflops"]))
    for p, n in zip(presets, steps):
        for x in xlas:
            for pr in precisions:
                set_precision(pr)
                r = step_throughput(p, x, a.batch_size, a.warmup, n, pr)
                r["precision"] = pr
                report["rows"].append(r)
                print("python pretrain step %-6s xla=%-5s %-8s batch %d: %.0f ms/step, %.1f"
                      " images/s" % (p, x, pr, a.batch_size, r["step_ms"],
                                     r["python_images_per_s"]), flush=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
