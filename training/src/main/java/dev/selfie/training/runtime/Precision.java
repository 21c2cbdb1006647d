package dev.selfie.training.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * The arithmetic precision of a training step ({@code --precision}), applied by grappler's
 * automatic mixed precision rewrite in the session config ({@link SessionConfigs#configProto}).
 *
 * <p>The rewrite turns matmuls and convolutions (and the element-wise ops between them) into
 * bfloat16/float16 ops with casts around them; variables, batch-norm statistics (FusedBatchNormV3
 * keeps its scale, offset, mean and variance in float32), the softmax cross-entropy loss and the
 * reductions stay float32 (they are on the rewrite's deny list). The graph itself, so the
 * checkpoints and SavedModels, is unchanged: float32 with the same signatures.
 *
 * <ul>
 *   <li>{@link #BFLOAT16}: {@code auto_mixed_precision_onednn_bfloat16}, CPU only, needs oneDNN
 *       ({@code TF_ENABLE_ONEDNN_OPTS=1}) and a CPU with AVX512_BF16 or AMX-BF16 to be fast.
 *   <li>{@link #FLOAT16}: {@code auto_mixed_precision} on a GPU; on a CPU
 *       {@code auto_mixed_precision_cpu}, which emulates float16 (slower than float32, for testing
 *       the float16 path without a GPU). Dynamic loss scaling in the training op.
 * </ul>
 */
public enum Precision {
  FLOAT32,
  BFLOAT16,
  FLOAT16;

  /**
   * The loss scaling of the training op: dynamic ({@link LossScale.Config#defaults}) for float16,
   * whose 5-bit exponent underflows small gradients; none (null) for float32 and bfloat16
   * (bfloat16 has float32's exponent range).
   */
  public LossScale.Config lossScale() {
    return this == FLOAT16 ? LossScale.Config.defaults() : null;
  }

  /** The flag / JSON spelling: float32, bfloat16, float16. */
  public String flag() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** What the run uses and why, e.g. {@code bfloat16 (avx512_bf16)}. */
  public record Choice(Precision precision, String reason) {
    /** {@code bfloat16 (avx512_bf16)}: the line printed at start without "precision: ". */
    public String describe() {
      return precision.flag() + " (" + reason + ")";
    }
  }

  /** The accepted {@code --precision} values. */
  public static final String VALUES = "float32, bfloat16, float16 or auto";

  /**
   * Checks a {@code --precision} value (case-insensitive); null means auto.
   *
   * @throws IllegalArgumentException naming the flag and the accepted values
   */
  public static String checkFlag(String flag) {
    if (flag == null) {
      return "auto";
    }
    String f = flag.trim().toLowerCase(Locale.ROOT);
    if (f.equals("auto") || Arrays.stream(values()).anyMatch(p -> p.flag().equals(f))) {
      return f;
    }
    throw new IllegalArgumentException("--precision must be " + VALUES + ", got " + flag);
  }

  /** The precision recorded in a config.json; null (runs from before the field) = float32. */
  public static Precision ofRecorded(String recorded) {
    return recorded == null ? FLOAT32 : valueOf(checkFlag(recorded).toUpperCase(Locale.ROOT));
  }

  /** The bfloat16 CPU flags of {@code cpuFlags}: avx512_bf16, amx_bf16 (empty if neither). */
  public static Set<String> bf16Flags(Set<String> cpuFlags) {
    Set<String> out = new TreeSet<>();
    for (String f : new String[] {"avx512_bf16", "amx_bf16"}) {
      if (cpuFlags.contains(f)) {
        out.add(f);
      }
    }
    return out;
  }

  /**
   * Resolves {@code flag} on this machine.
   *
   * @param gpu the model runs on a GPU
   * @param onednn oneDNN kernels are requested ({@link SessionConfigs#onednnRequested})
   * @param cpuFlags the CPU's flags ({@link #cpuFlags()})
   * @throws IllegalArgumentException for a bad flag, or bfloat16 on a GPU
   */
  public static Choice resolve(String flag, boolean gpu, boolean onednn, Set<String> cpuFlags) {
    String f = checkFlag(flag);
    Set<String> bf16 = bf16Flags(cpuFlags);
    String bf16Names = String.join("+", bf16);
    switch (f) {
      case "float32":
        return new Choice(FLOAT32, "--precision float32");
      case "float16":
        return new Choice(FLOAT16, gpu ? "GPU, dynamic loss scaling"
            : "emulated on CPU by auto_mixed_precision_cpu: slower than float32, for testing");
      case "bfloat16":
        if (gpu) {
          throw new IllegalArgumentException("--precision bfloat16 runs on CPUs only (oneDNN);"
              + " on a GPU use --precision float16 or auto");
        }
        if (!onednn) {
          throw new IllegalArgumentException("--precision bfloat16 needs oneDNN: set"
              + " TF_ENABLE_ONEDNN_OPTS=1 (./selfie does unless it is set to 0)");
        }
        return new Choice(BFLOAT16, bf16.isEmpty()
            ? "requested; this CPU has no avx512_bf16/amx_bf16, so oneDNN emulates it slowly"
            : bf16Names);
      default: // auto
        if (gpu) {
          return new Choice(FLOAT16, "auto: GPU, dynamic loss scaling");
        }
        if (bf16.isEmpty()) {
          return new Choice(FLOAT32, "auto: this CPU has no avx512_bf16 or amx_bf16");
        }
        if (!onednn) {
          return new Choice(FLOAT32, "auto: " + bf16Names + " present but oneDNN is off"
              + " (TF_ENABLE_ONEDNN_OPTS)");
        }
        return new Choice(BFLOAT16, bf16Names);
    }
  }

  /** Resolves {@code flag} on this machine (CPU flags from /proc/cpuinfo, oneDNN from the env). */
  public static Choice resolve(String flag, boolean gpu) {
    return resolve(flag, gpu, SessionConfigs.onednnRequested(), cpuFlags());
  }

  /** The flags of the first processor in /proc/cpuinfo; empty where there is none. */
  public static Set<String> cpuFlags() {
    try {
      return cpuFlags(Files.readAllLines(Path.of("/proc/cpuinfo")));
    } catch (IOException e) {
      return Set.of();
    }
  }

  public static Set<String> cpuFlags(Iterable<String> cpuinfo) {
    for (String line : cpuinfo) {
      if (line.startsWith("flags") && line.contains(":")) {
        return new TreeSet<>(Arrays.asList(
            line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
      }
    }
    return Set.of();
  }
}
