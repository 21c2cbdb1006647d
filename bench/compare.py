#!/usr/bin/env python3
"""Runs the Java (`selfie benchmark`) and Python (bench/selfie_bench.py) pretraining-step
benchmarks ALTERNATELY on this machine, prints Java/Python per configuration, and writes
docs/results/benchmark.json and docs/results/benchmark.md.

Round 1 runs the full Java benchmark (CPU peak matmul, steps, input pipeline, RSS over a long run)
and the Python one (CPU peak, steps); later rounds time only the steps, alternating which side
goes first. Per configuration the median images/s over the rounds is reported.

  python3 bench/compare.py                      # small + paper, XLA off/on, 2 rounds
  python3 bench/compare.py --rounds 3 --presets small --steps 30
Environment: SELFIE (default ./selfie, the launcher; it builds on first use).
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, log):
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    for line in p.stdout:  # streamed, so a long paper-preset run shows progress
        log.write(line)
        log.flush()
        if not line.startswith(("WARNING", "I0000", "W0000")) and "absl" not in line:
            print("  " + line.rstrip(), flush=True)
    if p.wait() != 0:
        raise SystemExit("failed (exit %d): %s" % (p.returncode, " ".join(cmd)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--presets", default="small,paper")
    ap.add_argument("--steps", default="20,3")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--xla-modes", dest="xla", default="both", choices=["off", "on", "both"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rss-steps", type=int, default=300)
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--onednn", choices=["on", "off", "default"], default="on",
                    help="TF_ENABLE_ONEDNN_OPTS for BOTH sides (on: what ./selfie uses; default:"
                    " leave the variable alone, i.e. ./selfie on, Python TF's own CPU-dependent"
                    " default)")
    ap.add_argument("--precision", default="float32",
                    help="comma list of float32, bfloat16 (both sides), bfloat16-casts (Python"
                    " only: explicit casts where Keras' mixed_bfloat16 policy puts them)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "results"))
    ap.add_argument("--from-dir", help="do not run: merge the javaN.json / pythonN.json files an"
                    " earlier (e.g. interrupted) run left in this directory")
    a = ap.parse_args(argv)
    selfie = shlex.split(os.environ.get("SELFIE", os.path.join(ROOT, "selfie")))
    common = ["--presets", a.presets, "--steps", a.steps, "--warmup", str(a.warmup),
              "--xla-modes", a.xla, "--batch-size", str(a.batch_size), "--threads", str(a.threads)]
    java_precisions = [x for x in a.precision.split(",") if x not in PYTHON_ONLY]
    if not java_precisions:
        ap.error("--precision needs at least one of float32, bfloat16 for the Java side")
    if a.onednn != "default":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if a.onednn == "on" else "0"
    tmp = a.from_dir or tempfile.mkdtemp(prefix="selfie-bench-")
    print("benchmark files in", tmp, flush=True)
    java, python = [], []
    if a.from_dir:
        for r in range(100):
            jf, pf = (os.path.join(tmp, "%s%d.json" % (k, r)) for k in ("java", "python"))
            if not (os.path.exists(jf) and os.path.exists(pf)):
                break
            for f, acc in ((jf, java), (pf, python)):
                with open(f) as fh:
                    acc.append(json.load(fh))
        if not java:
            raise SystemExit("--from-dir %s: no java0.json + python0.json pair" % tmp)
        a.rounds = len(java)
    with open(os.path.join(tmp, "log.txt"), "a") as log:
        for r in range(0 if a.from_dir else a.rounds):
            jout = os.path.join(tmp, "java%d.json" % r)
            pout = os.path.join(tmp, "python%d.json" % r)
            jcmd = selfie + ["benchmark", "--out", jout] + common + [
                "--precision", ",".join(java_precisions)]
            # The matmul peak is measured every round (a few seconds): the machine's load changes
            # between rounds, and the best of them is the reference.
            jcmd += ["--matmul-size", str(a.matmul_size)]
            if r == 0:
                jcmd += ["--rss-steps", str(a.rss_steps)]
            else:
                jcmd += ["--pipeline-dataset", "none", "--rss-steps", "0"]
            pcmd = [sys.executable, os.path.join(ROOT, "bench", "selfie_bench.py"), "--out", pout,
                    "--matmul-size", str(a.matmul_size)] + common + ["--precision", a.precision]
            order = [(jcmd, java, jout), (pcmd, python, pout)]
            if r % 2 == 1:
                order.reverse()
            for cmd, acc, out in order:
                run(cmd, log)
                with open(out) as f:
                    acc.append(json.load(f))
    first = java[0]
    peaks = finite(java, "cpu_peak_gflops")
    peak = max(peaks) if peaks else None
    bf16_peaks = finite(java, "cpu_peak_bf16_gflops")
    bf16_peak = max(bf16_peaks) if bf16_peaks else None
    py_peaks = [rep["cpu_peak_gflops"] for rep in python if rep.get("cpu_peak_gflops")]
    rows = []
    print("\nJava/Python, pretraining step images/s (median of %d rounds):" % a.rounds)

    def k(row):
        # Rows from before the precision column are float32.
        return (row["preset"], row["xla"], row.get("precision", "float32"))
    java_rows = {k(jr): jr for jr in first["rows"]}
    for pr in python[0]["rows"]:
        key = k(pr)
        if key in java_rows:
            continue
        pv = [row["python_images_per_s"] for rep in python for row in rep["rows"] if k(row) == key]
        p = statistics.median(pv)
        rows.append(dict(preset=key[0], xla=key[1], precision=key[2], batch_size=a.batch_size,
                         java_images_per_s=None, python_images_per_s=p, java_over_python=None,
                         java_runs=[], python_runs=pv, java_over_python_per_round=[],
                         python_only=True))
        print("  %-6s xla=%-5s %-14s java        -  python %8.1f  (Python only)"
              % (key[0], key[1], key[2], p))
    for jr in first["rows"]:
        key = k(jr)
        jv = [row["java_images_per_s"] for rep in java for row in rep["rows"] if k(row) == key]
        pv = [row["python_images_per_s"] for rep in python for row in rep["rows"] if k(row) == key]
        bf16 = key[2] == "bfloat16"
        row_peak = bf16_peak if bf16 else peak
        j, p = statistics.median(jv), statistics.median(pv)
        gflops = jr["flops_per_step"] * j / a.batch_size / 1e9
        row = dict(preset=key[0], xla=key[1], precision=key[2], batch_size=a.batch_size,
                   java_images_per_s=j, python_images_per_s=p, java_over_python=j / p,
                   java_runs=jv, python_runs=pv,
                   java_over_python_per_round=[x / y for x, y in zip(jv, pv)],
                   flops_per_step=jr["flops_per_step"],
                   achieved_gflops=gflops,
                   fraction_of_peak=gflops / row_peak if row_peak else None,
                   python_achieved_gflops=jr["flops_per_step"] * p / a.batch_size / 1e9,
                   java_xla_clusters=jr["xla_clusters"])
        rows.insert(sum(1 for x in rows if not x.get("python_only")), row)
        print("  %-6s xla=%-5s %-8s java %8.1f  python %8.1f  java/python %.2f   (%.1f GFLOP/s ="
              " %.0f%% of the %s matmul peak)" % (key[0], key[1], key[2], j, p, j / p, gflops,
                                                 100 * gflops / row_peak if row_peak
                                                 else float("nan"), key[2]))
    summary = ratios(rows, first)
    for s_ in summary:
        print("  %s, %s: Java %s %.1f vs Python %s %.1f images/s = %.2f" % (
            s_["preset"], s_["comparison"], s_["java_precision"], s_["java_images_per_s"],
            s_["python_precision"], s_["python_images_per_s"], s_["java_over_python"]))
    cmd = "python3 bench/compare.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpus and len(cpus) < (os.cpu_count() or len(cpus)):
        # Pinned (e.g. taskset -c 1): part of how the figures were made.
        cmd = "taskset -c %s %s" % (",".join(str(c) for c in cpus), cmd)
    saved = os.path.join(tmp, "command.txt")
    if a.from_dir and os.path.exists(saved):
        with open(saved) as f:
            cmd = f.read().strip() + "   (tables rendered again with --from-dir)"
    elif not a.from_dir:
        with open(saved, "w") as f:
            f.write(cmd.strip() + "\n")
    result = dict(
        command=cmd.strip(), date=datetime.datetime.fromtimestamp(
            os.path.getmtime(os.path.join(tmp, "java0.json")), datetime.timezone.utc).isoformat(
            timespec="seconds"),
        machine=first.get("machine"), cpu_flags=first.get("cpu_flags"),
        threads=first.get("threads"),
        onednn=a.onednn if not a.from_dir else first.get("onednn"),
        java_onednn=first.get("onednn"), python_onednn=python[0].get("onednn"),
        tf_version_python=python[0].get("tf_version"),
        cpu_peak_gflops=peak, java_cpu_peak_runs=peaks,
        python_cpu_peak_gflops=max(py_peaks) if py_peaks else None, python_cpu_peak_runs=py_peaks,
        matmul_size=first.get("matmul_size", a.matmul_size), rows=rows, ratios=summary,
        cpu_peak_bf16_gflops=bf16_peak,
        pipeline_dataset=first.get("pipeline_dataset"),
        pipeline_images_per_s=first.get("pipeline_images_per_s"),
        pipeline_over_step=first.get("pipeline_over_step"),
        memory=first.get("memory"), rss_growth_percent=first.get("rss_growth_percent"),
        peak_rss_mb=first.get("peak_rss_mb"), java_reports=java, python_reports=python)
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "benchmark.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(a.out_dir, "benchmark.md"), "w") as f:
        f.write(markdown(result))
    print("wrote", os.path.join(a.out_dir, "benchmark.json"), "and benchmark.md")


def finite(reports, key):
    """The numbers under `key` of the reports (Jackson writes a missing figure as "NaN")."""
    return [rep[key] for rep in reports
            if isinstance(rep.get(key), (int, float)) and rep[key] == rep[key]]


# Precisions only the Python peer has (the Java side applies bfloat16 through grappler's rewrite).
PYTHON_ONLY = ("bfloat16-casts",)


def java_shipped_precision(java_report):
    """What `--precision auto` (the Java default) picks on the benchmark's machine: bfloat16
    where the CPU has AVX512_BF16 or AMX-BF16 and oneDNN is on, else float32 (Precision.java)."""
    flags = (java_report.get("cpu_flags") or "").split()
    bf16 = ("avx512_bf16" in flags or "amx_bf16" in flags) and java_report.get("onednn")
    return "bfloat16" if bf16 else "float32"


def ratios(rows, java_report):
    """Per preset (XLA off): shipped defaults (Java's `auto` precision vs Python TensorFlow's
    float32, what each user gets out of the box) and best vs best (each side's fastest
    precision)."""
    out = []
    for preset in dict.fromkeys(r["preset"] for r in rows if not r["xla"]):
        rs = [r for r in rows if r["preset"] == preset and not r["xla"]]
        jrows = {r["precision"]: r["java_images_per_s"] for r in rs if r["java_images_per_s"]}
        prows = {r["precision"]: r["python_images_per_s"] for r in rs}
        shipped = java_shipped_precision(java_report)
        if shipped in jrows and "float32" in prows:
            out.append(dict(preset=preset, comparison="shipped defaults", java_precision=shipped,
                            java_images_per_s=jrows[shipped], python_precision="float32",
                            python_images_per_s=prows["float32"],
                            java_over_python=jrows[shipped] / prows["float32"]))
        if jrows and prows:
            jb, pb = max(jrows, key=jrows.get), max(prows, key=prows.get)
            out.append(dict(preset=preset, comparison="best vs best", java_precision=jb,
                            java_images_per_s=jrows[jb], python_precision=pb,
                            python_images_per_s=prows[pb], java_over_python=jrows[jb] / prows[pb]))
    return out


def onoff(v):
    return "unknown" if v is None else ("on" if v else "off")


def markdown(r):
    out = ["# Pretraining step: TensorFlow Java vs Python TensorFlow", "",
           "Regenerate with (from the repository root):", "", "```", r["command"], "```", "",
           "Machine: %s (CPU flags of note: %s), %s intra-op threads, measured %s. Python: TensorFlow %s. Both sides run"
           " the same pretraining step (same shapes and ops, see bench/selfie_bench.py) on a fixed"
           " random batch of 32x32x3 images; the Java and Python benchmarks ran alternately."
           " oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS): Java %s, Python %s."
           % (r["machine"], r.get("cpu_flags") or "not recorded", r["threads"], r["date"], r["tf_version_python"],
              onoff(r.get("java_onednn")), onoff(r.get("python_onednn"))), "",
           "CPU peak reference (float32 matmul %d^2 in TF, best of 5 per run, best run): Java"
           " %.1f GFLOP/s (runs: %s), Python %.1f GFLOP/s (runs: %s)." % (
               r["matmul_size"], r["cpu_peak_gflops"] or float("nan"),
               ", ".join("%.1f" % x for x in r.get("java_cpu_peak_runs") or []),
               r["python_cpu_peak_gflops"] or float("nan"),
               ", ".join("%.1f" % x for x in r.get("python_cpu_peak_runs") or []))
           + (" bfloat16 matmul of the same size (Java, best run): %.1f GFLOP/s: the reference of"
              " the bfloat16 rows." % r["cpu_peak_bf16_gflops"]
              if r.get("cpu_peak_bf16_gflops") else ""), "",
           "| preset | XLA | precision | Java images/s | Python images/s | Java/Python | per round |"
           " GFLOP/step | Java GFLOP/s | of peak (same precision) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for w in r["rows"]:
        if w.get("python_only"):
            out.append("| %s | %s | %s | - | %.1f | - | - | - | - | - |" % (
                w["preset"], "on" if w["xla"] else "off", w["precision"],
                w["python_images_per_s"]))
            continue
        out.append("| %s | %s | %s | %.1f | %.1f | %.2f | %s | %.1f | %.1f | %.0f%% |" % (
            w["preset"], "on" if w["xla"] else "off", w.get("precision", "float32"),
            w["java_images_per_s"],
            w["python_images_per_s"], w["java_over_python"],
            " / ".join("%.2f" % x for x in w.get("java_over_python_per_round") or []),
            w["flops_per_step"] / 1e9,
            w["achieved_gflops"], 100 * (w["fraction_of_peak"] or float("nan"))))
    if r.get("ratios"):
        out += ["", "Java/Python with XLA off: shipped defaults = what `--precision auto` picks on"
                " this CPU vs Python TensorFlow's float32 (each side out of the box); best vs best"
                " = each side's fastest precision.", "",
                "| preset | comparison | Java | Python | Java/Python |", "|---|---|---|---|---|"]
        for x in r["ratios"]:
            out.append("| %s | %s | %s %.1f | %s %.1f | %.2f |" % (
                x["preset"], x["comparison"], x["java_precision"], x["java_images_per_s"],
                x["python_precision"], x["python_images_per_s"], x["java_over_python"]))
    out += ["", "FLOPs per step = 3 x forward FLOPs per image (graph/FlopCounter: conv and matmul"
            " multiply-adds x 2; backward ~ 2 x forward) x batch.",
            "", "XLA: Java switches it per session (ConfigProto global_jit_level ON_2 +"
            " cpu_global_jit: TensorFlow's auto-clustering, several clusters, count in"
            " benchmark.json `java_xla_clusters`); Python compiles the whole step function"
            " (tf.function(jit_compile=True): one cluster including the gradients and the update)."]
    # Jackson writes NaN (no pipeline run) as the string "NaN".
    if isinstance(r.get("pipeline_images_per_s"), (int, float)) and r["pipeline_images_per_s"]:
        out += ["", "Input pipeline (%s, shuffle + augmentation + batch): %.0f images/s, %.1fx"
                " what the first preset's step (XLA off) consumes." % (
                    r["pipeline_dataset"], r["pipeline_images_per_s"], r["pipeline_over_step"])]
    m = r.get("memory")
    if m:
        out += ["", "Memory: %d %s steps fed by the real pipeline (%.1f images/s): RSS %.0f MB"
                " after warm-up -> %.0f MB at the end (%+.1f%%); peak RSS of the process %.0f MB."
                % (m["steps"], m["preset"], m["images_per_s_with_pipeline"],
                   m["rss_after_warmup_mb"], m["rss_end_mb"], m["rss_growth_percent"],
                   r["peak_rss_mb"])]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
