package dev.selfie.training.runtime;

import java.util.Locale;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GPUOptions;

/**
 * The process-wide device choice ({@code --device}) and GPU memory policy ({@code
 * --gpu-memory-fraction}). Process-wide because TensorFlow fixes its GPU allocator options at the
 * first session of the process: every session config built here ({@link #applyTo}, {@link
 * Devices#list()}, {@link SessionConfigs#configProto}) carries the same GPU options, so whichever
 * session comes first, the allocator gets them. The CLI sets them once from its flags ({@link
 * #set}) before any TensorFlow session exists; library callers get {@link #defaults()}.
 *
 * @param device {@code cpu}, {@code gpu} or {@code auto}
 * @param memoryFraction fraction of each GPU's memory to reserve up front ({@code 0 < f <= 1}), or null
 *     to grow on demand ({@code allow_growth})
 */
public record DeviceOptions(Device device, Double memoryFraction) {

  /** What {@code --device} asks for. */
  public enum Device {
    /** Train on the CPU; GPUs are hidden from the session (device_count GPU = 0). */
    CPU,
    /** Train on GPU:0; stop when TensorFlow lists no GPU. */
    GPU,
    /** GPU when TensorFlow's GPU library is loaded (and then a GPU is required), else the CPU. */
    AUTO;

    /** Parses a {@code --device} value; the error names the flag. */
    public static Device parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--device must be cpu, gpu or auto, got '" + s + "'");
      }
    }
  }

  public DeviceOptions {
    if (device == null) {
      throw new IllegalArgumentException("--device must be cpu, gpu or auto");
    }
    if (memoryFraction != null
        && !(memoryFraction > 0 && memoryFraction <= 1)) {
      throw new IllegalArgumentException(
          "--gpu-memory-fraction must be in (0, 1], got " + memoryFraction);
    }
  }

  /** {@code --device auto}, memory on demand. */
  public static DeviceOptions defaults() {
    return new DeviceOptions(Device.AUTO, null);
  }

  private static volatile DeviceOptions current = defaults();

  /** The options of this process. */
  public static DeviceOptions current() {
    return current;
  }

  /** Sets the options of this process (the CLI, from its flags, before any session). */
  public static void set(DeviceOptions o) {
    current = o;
  }

  /**
   * GPU options: {@code per_process_gpu_memory_fraction} when a fraction is given, else {@code
   * allow_growth} (TensorFlow's default reserves nearly all of every GPU's memory at the first
   * session).
   */
  public GPUOptions gpuOptions() {
    GPUOptions.Builder g = GPUOptions.newBuilder();
    return memoryFraction != null
        ? g.setPerProcessGpuMemoryFraction(memoryFraction).build()
        : g.setAllowGrowth(true).build();
  }

  /**
   * Adds this process's GPU options to {@code b} (harmless without a GPU), and with {@code
   * --device cpu} hides the GPUs ({@code device_count {GPU: 0}}).
   */
  public ConfigProto.Builder applyTo(ConfigProto.Builder b) {
    b.setGpuOptions(gpuOptions());
    if (device == Device.CPU) {
      b.putDeviceCount("GPU", 0);
    }
    return b;
  }

  /** One line for logs: {@code device auto, GPU memory on demand}. */
  public String describe() {
    return "device " + device.name().toLowerCase(Locale.ROOT) + ", GPU memory "
        + (memoryFraction == null ? "on demand (allow_growth)"
            : "fraction " + memoryFraction + " reserved");
  }
}
