"""An independent NumPy reference of the Selfie pretraining forward pass and loss.

Written from the method's equations (DESIGN section 1: ResNet v2 patch network P, attention
pooling A, position queries, patch-selection loss), not from the Java code. The Java side
(training's ReferenceForwardExportTest, run by `mvn verify`) writes
<interop-dir>/reference/tiny-pretrain.json: the `tiny` config, every variable (set to
non-trivial values), the images, the masked/context locations the graph drew, and Java's
h, u, v, logits and loss in inference mode (BN moving statistics, no dropout). Here the same
quantities are recomputed in float64 and must agree within 1e-5 (relative to each tensor's
largest magnitude, at least 1).
"""
import json
import math
import pathlib

import numpy as np
import pytest

TOL = 1e-5


@pytest.fixture(scope="module")
def case(request):
    root = pathlib.Path(request.config.getoption("--interop-dir"))
    f = root / "reference" / "tiny-pretrain.json"
    if not f.is_file():
        pytest.fail(f"{f} is missing: run the Java side first (mvn verify, or "
                    "ci/python/run_interop.sh, which runs ReferenceForwardExportTest)")
    doc = json.loads(f.read_text())

    def arr(spec, dtype=np.float64):
        return np.asarray(spec["values"], dtype=dtype).reshape(spec["shape"])

    weights = {k: arr(v) for k, v in doc["variables"].items()}
    inputs = {"images": arr(doc["inputs"]["images"]),
              "masked": arr(doc["inputs"]["masked"], np.int64),
              "context": arr(doc["inputs"]["context"], np.int64)}
    outputs = {k: arr(v) for k, v in doc["outputs"].items()}
    return doc["config"], weights, inputs, outputs


# ------------------------------------------------------------------ building blocks


def conv2d_same(x, w, stride):
    """x [N, H, W, Cin], w [k, k, Cin, Cout], 'SAME' padding as TensorFlow defines it:
    out = ceil(H / s); total padding max((out - 1) * s + k - H, 0), the smaller half before."""
    n, h, wd, cin = x.shape
    k = w.shape[0]
    out_h, out_w = -(-h // stride), -(-wd // stride)
    pad_h = max((out_h - 1) * stride + k - h, 0)
    pad_w = max((out_w - 1) * stride + k - wd, 0)
    xp = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                    (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    y = np.zeros((n, out_h, out_w, w.shape[3]))
    for i in range(k):
        for j in range(k):
            window = xp[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
            y += window @ w[i, j]
    return y


def batch_norm_inference(x, p, eps):
    """gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta, per channel."""
    return p["gamma"] * (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + eps) + p["beta"]


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# ------------------------------------------------------------------ the model


def params(weights, prefix):
    return {k[len(prefix) + 1:]: v for k, v in weights.items() if k.startswith(prefix + "/")}


def patch_network(cfg, weights, x):
    """P: ResNet v2 (pre-activation bottlenecks) stem + stages 1-3, final BN + ReLU, global
    average pool: [N, p, p, C] -> [N, d]."""
    eps = cfg["bnEpsilon"]
    relu = lambda t: np.maximum(t, 0.0)
    assert cfg["stem"] == "CONV3X3"               # 3x3 stride-1 stem, no max-pool, for 8x8
    y = conv2d_same(x, weights["resnet/stem/conv/kernel"], 1)
    strides = [1, 2, 2]                           # stage 1 keeps the size, 2 and 3 halve it
    for stage in range(3):
        width = cfg["stageWidths"][stage]
        for j in range(cfg["stageBlocks"][stage]):
            q = params(weights, f"resnet/stage{stage + 1}/block{j}")
            s = strides[stage] if j == 0 else 1
            pre = relu(batch_norm_inference(y, params(q, "bn1"), eps))
            if "shortcut/kernel" in q:            # projection when the shape changes
                shortcut = conv2d_same(pre, q["shortcut/kernel"], s)
            else:
                assert s == 1 and y.shape[-1] == width
                shortcut = y
            r = conv2d_same(pre, q["conv1/kernel"], 1)
            r = conv2d_same(relu(batch_norm_inference(r, params(q, "bn2"), eps)),
                            q["conv2/kernel"], s)
            r = conv2d_same(relu(batch_norm_inference(r, params(q, "bn3"), eps)),
                            q["conv3/kernel"], 1)
            y = r + shortcut
    y = relu(batch_norm_inference(y, params(weights, "resnet/stage3_final_bn"), eps))
    return y.mean(axis=(1, 2))


def attention_pool(cfg, weights, h):
    """A: pre-LN transformer over [u0, h_1..h_T] ([B, 1+T, d]), L layers + final LN, output at
    u0's slot -> u [B, d]. Inference: no dropout."""
    b, t, d = h.shape
    heads = cfg["heads"]
    dh = d // heads
    eps = cfg["lnEpsilon"]
    x = np.concatenate([np.broadcast_to(weights["attention/u0"], (b, 1, d)), h], axis=1)
    for i in range(cfg["layers"]):
        q = params(weights, f"attention/layer{i}")
        a_in = layer_norm(x, q["ln1/gamma"], q["ln1/beta"], eps)

        def proj(name, bias=True):
            y = a_in @ q[f"attn/{name}/kernel"]
            return y + q[f"attn/{name}/bias"] if bias else y

        def heads_of(y):                          # [B, T', d] -> [B, H, T', dh]
            return y.reshape(b, t + 1, heads, dh).transpose(0, 2, 1, 3)

        qh, kh, vh = heads_of(proj("query")), heads_of(proj("key", False)), heads_of(proj("value"))
        att = softmax(qh @ kh.transpose(0, 1, 3, 2) / math.sqrt(dh), axis=-1)
        ctx = (att @ vh).transpose(0, 2, 1, 3).reshape(b, t + 1, d)
        x = x + ctx @ q["attn/output/kernel"] + q["attn/output/bias"]
        m_in = layer_norm(x, q["ln2/gamma"], q["ln2/beta"], eps)
        hidden = gelu(m_in @ q["mlp/fc1/kernel"] + q["mlp/fc1/bias"])
        x = x + hidden @ q["mlp/fc2/kernel"] + q["mlp/fc2/bias"]
    x = layer_norm(x, weights["attention/final_ln/gamma"], weights["attention/final_ln/beta"], eps)
    return x[:, 0, :]


def forward(cfg, weights, images, masked, context, wrong_axis=False):
    b, s, _, c = images.shape
    p, g = cfg["patchSize"], s // cfg["patchSize"]
    # patch l (row-major) is the p x p block at grid row l // g, column l % g
    patches = np.stack([images[:, (l // g) * p:(l // g + 1) * p, (l % g) * p:(l % g + 1) * p, :]
                        for l in range(g * g)], axis=1)                  # [B, n, p, p, C]
    h = patch_network(cfg, weights, patches.reshape(b * g * g, p, p, c)).reshape(b, g * g, -1)
    rows = np.arange(b)[:, None]
    u = attention_pool(cfg, weights, h[rows, context])                   # [B, d]
    v = (u[:, None, :] + weights["position/row_embedding"][masked // g]
         + weights["position/col_embedding"][masked % g])                # [B, m, d]
    targets = h[rows, masked]                                            # [B, m, d]
    logits = np.einsum("bjd,bkd->bjk", v, targets) / cfg["temperature"]  # v_j . h_k
    logp = log_softmax(logits, axis=1 if wrong_axis else 2)
    m = masked.shape[1]
    loss = -np.mean(logp[:, np.arange(m), np.arange(m)])                  # target k = j
    return {"h": h, "u": u, "v": v, "logits": logits, "loss": np.asarray(loss)}


def max_scaled_diff(got, want):
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def test_numpy_reference_matches_java(case):
    cfg, weights, inputs, java = case
    ours = forward(cfg, weights, inputs["images"], inputs["masked"], inputs["context"])
    for name in ["h", "u", "v", "logits", "loss"]:
        assert ours[name].shape == java[name].shape, name
        diff = max_scaled_diff(ours[name], java[name])
        assert diff <= TOL, f"{name}: max diff {diff} (relative to max |value|) > {TOL}"


def test_the_case_discriminates(case):
    """The inputs are non-trivial: a softmax over the wrong axis, or swapped row/column
    embeddings, would be caught."""
    cfg, weights, inputs, java = case
    wrong = forward(cfg, weights, inputs["images"], inputs["masked"], inputs["context"],
                    wrong_axis=True)
    assert abs(float(wrong["loss"]) - float(java["loss"])) > 1e-3
    swapped = dict(weights)
    swapped["position/row_embedding"] = weights["position/col_embedding"]
    swapped["position/col_embedding"] = weights["position/row_embedding"]
    v = forward(cfg, swapped, inputs["images"], inputs["masked"], inputs["context"])["v"]
    assert max_scaled_diff(v, java["v"]) > 1e-3
    # BN runs on non-trivial statistics, and the mask has context and masked patches per image
    assert np.abs(weights["resnet/stage1/block0/bn1/moving_mean"]).max() > 0.1
    assert sorted(np.concatenate([inputs["masked"], inputs["context"]], 1)[0].tolist()) == \
        list(range(cfg["imageSize"] ** 2 // cfg["patchSize"] ** 2))
