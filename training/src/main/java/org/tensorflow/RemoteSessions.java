package org.tensorflow;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetTarget;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * The one class of this project in package {@code org.tensorflow} (a split package: it works on
 * the class path, not under the module system).
 *
 * <p>Why it exists: TensorFlow Java 1.1.0's public {@code Session} constructors always create an
 * in-process session (target ""); a session of the distributed runtime needs the C API's
 * {@code TF_SetTarget("grpc://host:port")}, and wrapping such a native session in a {@code
 * Session} needs the package-private constructor {@code Session(Graph, TF_Session)} and the
 * package-private {@code Graph.ref()}. Nothing else belongs here.
 */
public final class RemoteSessions {
  private RemoteSessions() {}

  /**
   * A session on {@code graph} whose master is {@code target} (e.g. {@code grpc://localhost:2222},
   * the target of this process's {@code Server}). The session does not auto-initialise: call
   * {@link Session#initialize()} (chief) before running steps.
   *
   * @param config session config, or null
   */
  public static Session open(Graph graph, String target, ConfigProto config) {
    TF_Session handle;
    try (Graph.Reference ref = graph.ref(); PointerScope scope = new PointerScope()) {
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions opts = TF_SessionOptions.newSessionOptions();
      TF_SetTarget(opts, target);
      if (config != null) {
        BytePointer bytes = new BytePointer(config.toByteArray());
        TF_SetConfig(opts, bytes, bytes.capacity(), status);
        status.throwExceptionIfNotOK();
      }
      handle = TF_Session.newSession(ref.nativeHandle(), opts, status);
      status.throwExceptionIfNotOK();
      handle.retainReference();
    }
    return new Session(graph, handle);
  }
}
