import com.google.protobuf.ByteString;
import dev.selfie.savedmodels.tfserving.ModelSpec;
import dev.selfie.savedmodels.tfserving.PredictRequest;
import dev.selfie.savedmodels.tfserving.PredictionServiceGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorProto;

/**
 * The gRPC counterpart of {@code bench/ServeLoad.java load}: CLIENTS threads, each with its own
 * channel (connection), sending REQUESTS_PER_CLIENT blocking Predict calls of one uint8 image
 * {@code [1, H, W, C]} read raw from IMAGE_FILE (H*W*C bytes); every loop bounded. Prints errors,
 * throughput, p50/p99/max latency and the server's RSS before and after. Needs the project's
 * classpath (grpc-java and the generated messages):
 *
 * <pre>
 * java -cp "$(cat training/target/classpath.txt):savedmodels/target/classes" bench/GrpcLoad.java \
 *     HOST:PORT MODEL IMAGE_FILE H W C CLIENTS REQUESTS_PER_CLIENT [SERVER_PID]
 * </pre>
 *
 * <p>With CLIENTS given as {@code slow:STALLED}: REQUESTS_PER_CLIENT sequential calls alone
 * (unloaded p50/p99), then again while STALLED raw HTTP/2 connections have each sent the
 * preface, the headers of a Predict call and half of its message, and then stall.
 */
public final class GrpcLoad {
  private GrpcLoad() {}

  public static void main(String[] a) throws Exception {
    if (a.length < 8) {
      System.err.println("usage: GrpcLoad HOST:PORT MODEL IMAGE_FILE H W C CLIENTS N [PID]");
      System.exit(2);
    }
    String target = a[0];
    byte[] pixels = Files.readAllBytes(Path.of(a[2]));
    long h = Long.parseLong(a[3]);
    long w = Long.parseLong(a[4]);
    long c = Long.parseLong(a[5]);
    if (pixels.length != h * w * c) {
      throw new IllegalArgumentException(a[2] + " holds " + pixels.length + " bytes, not "
          + h * w * c);
    }
    TensorProto.Builder image = TensorProto.newBuilder().setDtype(DataType.DT_UINT8)
        .setTensorContent(ByteString.copyFrom(pixels));
    for (long d : new long[] {1, h, w, c}) {
      image.getTensorShapeBuilder().addDimBuilder().setSize(d);
    }
    PredictRequest req = PredictRequest.newBuilder()
        .setModelSpec(ModelSpec.newBuilder().setName(a[1]))
        .putInputs("images", image.build()).build();
    if (a[6].startsWith("slow:")) {
      slow(target, req, Integer.parseInt(a[6].substring(5)), Integer.parseInt(a[7]));
    } else {
      load(target, req, Integer.parseInt(a[6]), Integer.parseInt(a[7]),
          a.length > 8 ? a[8] : null);
    }
  }

  static long rssKb(String pid) throws IOException {
    if (pid == null) {
      return -1;
    }
    for (String line : Files.readAllLines(Path.of("/proc", pid, "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  static void load(String target, PredictRequest req, int clients, int n, String pid)
      throws Exception {
    long rss0 = rssKb(pid);
    long[][] lat = new long[clients][n];
    AtomicLong errors = new AtomicLong();
    List<String> errorSamples = java.util.Collections.synchronizedList(new ArrayList<>());
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    List<Future<?>> done = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      int id = i;
      done.add(pool.submit(() -> {
        ManagedChannel ch =
            Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
        try {
          var stub = PredictionServiceGrpc.newBlockingStub(ch);
          for (int k = 0; k < n; k++) {
            long t = System.nanoTime();
            try {
              stub.withDeadlineAfter(60, TimeUnit.SECONDS).predict(req);
            } catch (RuntimeException e) {
              errors.incrementAndGet();
              if (errorSamples.size() < 3) {
                errorSamples.add(e.toString());
              }
            }
            lat[id][k] = System.nanoTime() - t;
          }
        } finally {
          ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        return null;
      }));
    }
    for (Future<?> f : done) {
      f.get();
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    pool.shutdown();
    long rss1 = rssKb(pid);
    long[] all = Arrays.stream(lat).flatMapToLong(Arrays::stream).sorted().toArray();
    System.out.printf("GRPC %s: %d clients x %d requests, %d errors, %.1f s, %.0f req/s,"
            + " p50 %.2f ms, p99 %.2f ms, max %.1f ms, server RSS %s -> %s MB%n",
        target, clients, n, errors.get(), secs, all.length / secs, pct(all, 0.5),
        pct(all, 0.99), all[all.length - 1] / 1e6,
        rss0 < 0 ? "?" : String.format("%.1f", rss0 / 1024.0),
        rss1 < 0 ? "?" : String.format("%.1f", rss1 / 1024.0));
    errorSamples.forEach(s -> System.out.println("  error: " + s));
  }

  static long[] sequential(String target, PredictRequest req, int n) throws Exception {
    ManagedChannel ch = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
    try {
      var stub = PredictionServiceGrpc.newBlockingStub(ch);
      long[] lat = new long[n];
      for (int k = 0; k < n; k++) {
        long t = System.nanoTime();
        stub.withDeadlineAfter(60, TimeUnit.SECONDS).predict(req);
        lat[k] = System.nanoTime() - t;
      }
      Arrays.sort(lat);
      return lat;
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** An HTTP/2 frame: 24-bit length, type, flags, stream id, payload. */
  static byte[] frame(int type, int flags, int stream, byte[] payload) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(9 + payload.length);
    b.put((byte) (payload.length >>> 16)).put((byte) (payload.length >>> 8))
        .put((byte) payload.length).put((byte) type).put((byte) flags).putInt(stream)
        .put(payload);
    return b.array();
  }

  /** HPACK literal header fields without indexing, no Huffman coding (lengths < 127). */
  static byte[] headers(String... kv) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < kv.length; i += 2) {
      byte[] k = kv[i].getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      byte[] v = kv[i + 1].getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      out.write(0);
      out.write(k.length);
      out.writeBytes(k);
      out.write(v.length);
      out.writeBytes(v);
    }
    return out.toByteArray();
  }

  static void slow(String target, PredictRequest req, int stalled, int n) throws Exception {
    sequential(target, req, Math.min(200, n)); // warm-up
    long[] alone = sequential(target, req, n);
    String host = target.substring(0, target.lastIndexOf(':'));
    int port = Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
    byte[] message = req.toByteArray();
    java.nio.ByteBuffer grpcPrefix = java.nio.ByteBuffer.allocate(5 + message.length / 2);
    grpcPrefix.put((byte) 0).putInt(message.length).put(message, 0, message.length / 2);
    List<java.net.Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < stalled; i++) {
        java.net.Socket s = new java.net.Socket(host, port);
        java.io.OutputStream out = s.getOutputStream();
        out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(
            java.nio.charset.StandardCharsets.US_ASCII));
        out.write(frame(0x4, 0, 0, new byte[0])); // SETTINGS
        out.write(frame(0x1, 0x4, 1, headers(":method", "POST", ":scheme", "http",
            ":path", "/tensorflow.serving.PredictionService/Predict", ":authority", target,
            "content-type", "application/grpc", "te", "trailers"))); // HEADERS, END_HEADERS
        out.write(frame(0x0, 0, 1, grpcPrefix.array())); // half the message, no END_STREAM
        out.flush();
        sockets.add(s);
      }
      long t0 = System.nanoTime();
      long[] loaded = sequential(target, req, n);
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("SLOW %s: alone p50 %.2f ms p99 %.2f ms; with %d stalled half-messages"
              + " p50 %.2f ms p99 %.2f ms (%d calls, 0 errors, %.1f s)%n", target,
          pct(alone, 0.5), pct(alone, 0.99), stalled, pct(loaded, 0.5), pct(loaded, 0.99), n,
          secs);
      int open = 0;
      for (java.net.Socket s : sockets) {
        try {
          s.setSoTimeout(1);
          while (s.getInputStream().read() != -1) {
            // the server's SETTINGS etc.; -1 once it closed the connection
          }
        } catch (java.net.SocketTimeoutException e) {
          open++;
        } catch (IOException e) {
          // reset by the server
        }
      }
      System.out.printf("SLOW stalled connections still open at the end: %d of %d%n", open,
          stalled);
    } finally {
      for (java.net.Socket s : sockets) {
        s.close();
      }
    }
  }

  static double pct(long[] sorted, double p) {
    return sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))] / 1e6;
  }
}
