"""Bad-request catalogue for `selfie serve` (loopback, bounded: one request per case plus one
good request after each). Prints one Markdown table row per case: what was sent, the status, the
start of the {"error": ...} message, and the status of the good request that followed.

    python3 bench/serve_bad_requests.py http://127.0.0.1:8501/v1/models/selfie MAX_BODY_MB IMAGE
IMAGE: a PNG/JPEG file for the good serving_bytes request (the good predict request is a black
28x28x1 image, Fashion-MNIST's shape).
"""
import base64
import json
import sys
import urllib.error
import urllib.request

base, max_mb, image = sys.argv[1], int(sys.argv[2]), sys.argv[3]
root = base.split("/v1/")[0]
png = open(image, "rb").read()
img = [[[0]] * 28] * 28
good = json.dumps({"instances": [img]}).encode()


def send(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def j(obj):
    return json.dumps(obj).encode()


cases = [
    ("malformed JSON", "POST", base + ":predict", b'{"instances": [1, 2'),
    ("body not an object", "POST", base + ":predict", b"[1, 2]"),
    ("wrong rank (28x28, no channel)", "POST", base + ":predict", j({"instances": [[[0] * 28] * 28]})),
    ("wrong shape (32x32x3)", "POST", base + ":predict", j({"instances": [[[[0, 0, 0]] * 32] * 32]})),
    ("ragged list", "POST", base + ":predict", j({"instances": [[[[0]] * 28] * 27 + [[[0]] * 5]]})),
    ("wrong dtype (1.5 for uint8)", "POST", base + ":predict", j({"instances": [[[[1.5]] + [[0]] * 27] + [[[0]] * 28] * 27]})),
    ("wrong dtype (string for uint8)", "POST", base + ":predict", j({"instances": [[[["a"]] + [[0]] * 27] + [[[0]] * 28] * 27]})),
    ("out-of-range pixel (300)", "POST", base + ":predict", j({"instances": [[[[300]] + [[0]] * 27] + [[[0]] * 28] * 27]})),
    ("b64 for a uint8 input", "POST", base + ":predict", j({"instances": [{"b64": "AAAA"}]})),
    ("undecodable b64 (not base64)", "POST", base + ":predict", j({"signature_name": "serving_bytes", "instances": [{"b64": "%%%not base64"}]})),
    ("b64 of bytes that are no image", "POST", base + ":predict", j({"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]})),
    ("unknown signature", "POST", base + ":predict", j({"signature_name": "nope", "instances": [img]})),
    ("unknown input name", "POST", base + ":predict", j({"inputs": {"pixels": [img]}})),
    ("both instances and inputs", "POST", base + ":predict", j({"instances": [img], "inputs": [img]})),
    ("empty instances", "POST", base + ":predict", j({"instances": []})),
    ("unknown model", "POST", root + "/v1/models/nope:predict", good),
    ("unknown version", "POST", base + "/versions/99:predict", good),
    ("bad version", "GET", base + "/versions/x", None),
    ("unknown verb", "POST", base + ":regress", good),
    ("wrong method", "GET", base + ":predict", None),
    ("unknown path", "GET", root + "/v2/x", None),
    ("classify on a non-classifier signature", "POST", base + ":classify", j({"signature_name": "embedding", "instances": [img]})),
    ("oversized body (> --max-body-mb)", "POST", base + ":predict", b'{"instances": [' + b" " * (max_mb * 2 << 20) + b"]}"),
    ("deep nesting (5000 levels)", "POST", base + ":predict", b'{"instances": ' + b"[" * 5000 + b"0" + b"]" * 5000 + b"}"),
]

print("| case | status | error (start) | next good request |")
print("|---|---|---|---|")
failures = 0
for name, method, url, body in cases:
    status, out = send(method, url, body)
    try:
        err = json.loads(out)["error"]
    except Exception:  # noqa: BLE001 - report whatever came back
        err = "NO JSON ERROR: " + out[:60].decode("utf-8", "replace")
        failures += 1
    after, _ = send("POST", base + ":predict", good)
    after_bytes, _ = send("POST", base + ":predict", j({"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(png).decode()}]}))
    ok = 400 <= status < 500 and after == 200 and after_bytes == 200
    failures += 0 if ok else 1
    msg = err.replace("|", "\\|").replace("\n", " ")
    print(f"| {name} | {status} | {msg[:90]} | {after}, {after_bytes} |")
print(f"\n{len(cases)} cases, {failures} not answered 4xx with an error or followed by a failure")
