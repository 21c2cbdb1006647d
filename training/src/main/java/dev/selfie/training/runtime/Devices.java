package dev.selfie.training.runtime;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_CloseSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteDeviceList;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteGraph;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteSessionOptions;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListCount;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListName;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListType;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_NewGraph;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_NewSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_NewSessionOptions;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SessionListDevices;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.bytedeco.javacpp.BytePointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.DeviceSpec;
import org.tensorflow.TensorFlow;
import org.tensorflow.internal.c_api.TF_DeviceList;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * The devices TensorFlow sees, and where the model goes. Devices are listed through the C API
 * ({@code TF_SessionListDevices} on a throw-away session of an empty graph).
 */
public final class Devices {
  private static final Logger LOG = LoggerFactory.getLogger(Devices.class);

  private Devices() {}

  private static final AtomicBoolean ANNOUNCED = new AtomicBoolean();

  /**
   * One device.
   *
   * @param name full name, e.g. {@code /job:localhost/replica:0/task:0/device:CPU:0}
   * @param type {@code CPU}, {@code GPU}, ...
   */
  public record Device(String name, String type) {}

  /** Devices of a session created with {@code config} (e.g. device_count limits apply). */
  public static List<Device> list(ConfigProto config) {
    TensorFlow.version(); // loads the native library
    List<Device> out = new ArrayList<>();
    TF_Graph graph = TF_NewGraph();
    TF_SessionOptions opts = TF_NewSessionOptions();
    try (TF_Status status = TF_Status.newStatus()) {
      byte[] bytes = config.toByteArray();
      try (BytePointer p = new BytePointer(bytes)) {
        TF_SetConfig(opts, p, bytes.length, status);
        status.throwExceptionIfNotOK();
      }
      TF_Session session = TF_NewSession(graph, opts, status);
      status.throwExceptionIfNotOK();
      try {
        TF_DeviceList list = TF_SessionListDevices(session, status);
        status.throwExceptionIfNotOK();
        try {
          int n = TF_DeviceListCount(list);
          for (int i = 0; i < n; i++) {
            String name = TF_DeviceListName(list, i, status).getString();
            status.throwExceptionIfNotOK();
            String type = TF_DeviceListType(list, i, status).getString();
            status.throwExceptionIfNotOK();
            out.add(new Device(name, type));
          }
        } finally {
          TF_DeleteDeviceList(list);
        }
      } finally {
        TF_CloseSession(session, status);
        TF_DeleteSession(session, status);
      }
    } finally {
      TF_DeleteSessionOptions(opts);
      TF_DeleteGraph(graph);
    }
    return out;
  }

  /**
   * Devices of a session with this process's GPU options ({@link DeviceOptions#current()}; with
   * {@code --device cpu} no GPU is listed). Often the process's first session, which fixes
   * TensorFlow's GPU allocator options: so it carries the same ones as every other session.
   */
  public static List<Device> list() {
    return list(listConfig());
  }

  /** The config of {@link #list()}'s session. */
  public static ConfigProto listConfig() {
    return DeviceOptions.current().applyTo(ConfigProto.newBuilder()).build();
  }

  public static boolean hasGpu(List<Device> devices) {
    return devices.stream().anyMatch(d -> d.type().equals("GPU"));
  }

  /** Where the model's ops go: {@code /device:GPU:0} with a GPU, else the CPU. */
  public static DeviceSpec modelDevice(boolean gpu) {
    return DeviceSpec.newBuilder()
        .deviceType(gpu ? DeviceSpec.DeviceType.GPU : DeviceSpec.DeviceType.CPU)
        .deviceIndex(0)
        .build();
  }

  /**
   * One line saying where the run goes: {@code running on CPU (N threads)} or
   * {@code running on GPU (/job:.../device:GPU:0)}, plus {@code , XLA JIT} when enabled.
   */
  public static String describe(List<Device> devices, SessionConfigs.Options o) {
    String xla = o.xla() ? ", XLA JIT" : "";
    if (o.gpu() && hasGpu(devices)) {
      String gpus = devices.stream().filter(d -> d.type().equals("GPU")).map(Device::name)
          .reduce((a, b) -> a + ", " + b).orElse("");
      return "running on GPU (" + gpus + ")" + xla;
    }
    return "running on CPU (" + SessionConfigs.effectiveIntraOpThreads(o) + " threads)" + xla;
  }

  /**
   * Resolves the session options against the machine and {@link DeviceOptions#current()}:
   * {@code gpu} is set when {@link #choose} picks the GPU (never when {@code allowGpu} is false),
   * and fails when a GPU was asked for and none is listed. Prints the native library, the devices
   * and {@link #describe} once per process to {@code out}.
   */
  public static SessionConfigs.Options resolve(
      int intraOpThreads, int interOpThreads, boolean xla, boolean allowGpu) {
    List<Device> devices = list();
    NativeLibrary lib = NativeLibrary.loaded();
    boolean gpu = allowGpu
        && choose(DeviceOptions.current().device(), lib, devices, CudaCheck::check);
    SessionConfigs.Options o = new SessionConfigs.Options(intraOpThreads, interOpThreads, xla, gpu);
    if (ANNOUNCED.compareAndSet(false, true)) {
      LOG.info(announce(lib, devices));
      LOG.info(describe(devices, o));
    }
    return o;
  }

  /**
   * Checks {@link DeviceOptions#current()} against the machine, before a command writes
   * anything: fails as {@link #choose} does. Creates the process's first session (device listing)
   * with the configured GPU memory options.
   *
   * @return whether the model goes to the GPU
   */
  public static boolean check() {
    return choose(DeviceOptions.current().device(), NativeLibrary.loaded(), list(),
        CudaCheck::check);
  }

  /**
   * Where the model goes: {@code cpu} never uses a GPU; {@code gpu} needs TensorFlow's GPU
   * library and a listed GPU; {@code auto} uses the GPU when the GPU library is loaded (and then
   * requires one: a GPU build that finds no GPU is a broken installation, not a reason to train
   * for days on the CPU) and the CPU otherwise.
   *
   * @param whyNoGpu called only when a GPU was asked for and none is listed
   * @throws IllegalStateException naming {@code --device}, what is missing, and the way out
   */
  public static boolean choose(DeviceOptions.Device mode, NativeLibrary lib, List<Device> devices,
      java.util.function.Supplier<CudaCheck.Report> whyNoGpu) {
    if (mode == DeviceOptions.Device.CPU) {
      return false;
    }
    if (mode == DeviceOptions.Device.GPU && !lib.gpu()) {
      throw new IllegalStateException("--device gpu: this build loaded TensorFlow's CPU library ("
          + lib.classifier() + "); build with the GPU library (SELFIE_MAVEN_ARGS=-Pgpu ./selfie ..."
          + ", or mvn -Pgpu -B -DskipTests install), or pass --device cpu");
    }
    if (hasGpu(devices)) {
      return true;
    }
    if (mode == DeviceOptions.Device.AUTO && !lib.gpu()) {
      return false;
    }
    String asked = mode == DeviceOptions.Device.GPU ? "--device gpu"
        : "--device auto with TensorFlow's GPU library (" + lib.classifier() + ")";
    throw new IllegalStateException(asked + ": no GPU found: " + whyNoGpu.get().explain()
        + ". `selfie doctor` shows the full check; to train on the CPU on purpose pass"
        + " --device cpu");
  }

  /** {@code tensorflow 2.18.0, native library linux-x86_64 (CPU build); devices: CPU:0}. */
  public static String announce(NativeLibrary lib, List<Device> devices) {
    return "tensorflow " + TensorFlow.version() + ", native library " + lib.describe()
        + "; devices: " + devices.stream().map(d -> shortName(d.name()))
            .reduce((a, b) -> a + ", " + b).orElse("none");
  }

  /** {@code /job:localhost/replica:0/task:0/device:GPU:0} -> {@code GPU:0}. */
  static String shortName(String name) {
    int i = name.lastIndexOf("/device:");
    return i >= 0 ? name.substring(i + "/device:".length()) : name;
  }
}
