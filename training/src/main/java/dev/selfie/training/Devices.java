package dev.selfie.training;

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

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.bytedeco.javacpp.BytePointer;
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

  /** Devices of a default session. */
  public static List<Device> list() {
    return list(ConfigProto.getDefaultInstance());
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
   * Resolves the session options against the machine: {@code gpu} is set iff a GPU is listed
   * (unless {@code allowGpu} is false), and prints {@link #describe} once per process to {@code
   * out}.
   */
  public static SessionConfigs.Options resolve(
      int intraOpThreads, int interOpThreads, boolean xla, boolean allowGpu, PrintStream out) {
    List<Device> devices = list();
    boolean gpu = allowGpu && hasGpu(devices);
    SessionConfigs.Options o = new SessionConfigs.Options(intraOpThreads, interOpThreads, xla, gpu);
    if (ANNOUNCED.compareAndSet(false, true)) {
      out.println(describe(devices, o));
    }
    return o;
  }
}
