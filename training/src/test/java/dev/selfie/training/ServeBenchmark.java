package dev.selfie.training;

import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.training.jobs.Serve;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Serving figures of an exported model (not a test: no timing is asserted anywhere). Starts
 * {@code selfie serve}'s server in-process on a free port and measures, with one sequential JDK
 * HttpClient: REST latency p50/p99 at batch 1, REST throughput at batch 64; then concurrent
 * clients at batch 1 (server-side batching), and the in-process {@code ModelServer} for
 * reference. Prints lines starting with {@code BENCH}.
 *
 * <pre>
 * ./selfie finetune --preset small --steps 20 --out /tmp/fs && ./selfie export --run /tmp/fs
 * mvn -q -pl training install -DskipTests
 * mvn -q -pl training dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=/tmp/cp.txt
 * java -cp training/target/test-classes:training/target/classes:$(cat /tmp/cp.txt) \
 *     dev.selfie.training.ServeBenchmark /tmp/fs
 * </pre>
 *
 * Arguments: {@code MODEL_DIR [requests-at-batch-1 (500)] [requests-at-batch-64 (40)]
 * [concurrent-clients (16)]}.
 */
public final class ServeBenchmark {
  private ServeBenchmark() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: ServeBenchmark MODEL_DIR [n1] [n64] [clients]");
      System.exit(2);
    }
    Path model = Path.of(args[0]);
    int n1 = args.length > 1 ? Integer.parseInt(args[1]) : 500;
    int n64 = args.length > 2 ? Integer.parseInt(args[2]) : 40;
    int clients = args.length > 3 ? Integer.parseInt(args[3]) : 16;
    PrintStream out = System.out;
    try (Serve.Running server = Serve.start(Serve.Options.defaults(model).withPort(0).withGrpcPort(0))) {
      var in = server.model().signatures().get(Endpoints.SERVING_DEFAULT).inputs()
          .get(Endpoints.IMAGES).shape();
      int h = (int) in[1];
      int w = (int) in[2];
      int c = (int) in[3];
      out.printf("BENCH model %s, input [N, %d, %d, %d], %d cores%n", server.model().directory(),
          h, w, c, Runtime.getRuntime().availableProcessors());
      Random rnd = new Random(1);
      byte[] pixels = new byte[64 * h * w * c];
      rnd.nextBytes(pixels);
      String body1 = body(pixels, 1, h, w, c);
      String body64 = body(pixels, 64, h, w, c);
      URI predict = URI.create(server.modelUri() + ":predict");
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

      for (int i = 0; i < 30; i++) {
        send(http, predict, body1);
      }
      long[] lat = new long[n1];
      for (int i = 0; i < n1; i++) {
        long t = System.nanoTime();
        send(http, predict, body1);
        lat[i] = System.nanoTime() - t;
      }
      Arrays.sort(lat);
      out.printf("BENCH REST batch 1, sequential: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, mean %.2f"
              + " ms over %d requests%n", ms(lat[n1 / 2]), ms(lat[(int) (n1 * 0.9)]),
          ms(lat[Math.min(n1 - 1, (int) Math.ceil(n1 * 0.99) - 1)]),
          ms((long) Arrays.stream(lat).average().orElse(0)), n1);

      for (int i = 0; i < 3; i++) {
        send(http, predict, body64);
      }
      long[] lat64 = new long[n64];
      long t0 = System.nanoTime();
      for (int i = 0; i < n64; i++) {
        long t = System.nanoTime();
        send(http, predict, body64);
        lat64[i] = System.nanoTime() - t;
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      Arrays.sort(lat64);
      out.printf("BENCH REST batch 64, sequential: %.0f images/s (p50 %.1f ms per request, %d"
              + " requests, body %d KB)%n", 64.0 * n64 / secs, ms(lat64[n64 / 2]), n64,
          body64.length() / 1024);

      var before = server.model().stats();
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      int per = Math.max(1, n1 / clients * 2);
      t0 = System.nanoTime();
      List<Future<?>> fs = new ArrayList<>();
      for (int k = 0; k < clients; k++) {
        fs.add(pool.submit(() -> {
          for (int i = 0; i < per; i++) {
            send(http, predict, body1);
          }
          return null;
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
      secs = (System.nanoTime() - t0) / 1e9;
      pool.shutdown();
      var after = server.model().stats();
      long runs = after.runs() - before.runs();
      long rows = after.rows() - before.rows();
      out.printf("BENCH REST batch 1, %d concurrent clients: %.0f requests/s, mean server batch"
          + " %.1f (%d requests)%n", clients, clients * per / secs, (double) rows / runs,
          clients * per);

      HostTensor one = HostTensor.ofUint8(new long[] {1, h, w, c},
          Arrays.copyOf(pixels, h * w * c));
      HostTensor many = HostTensor.ofUint8(new long[] {64, h, w, c}, pixels);
      for (int i = 0; i < 30; i++) {
        server.model().predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, one));
      }
      long[] inproc = new long[n1];
      for (int i = 0; i < n1; i++) {
        long t = System.nanoTime();
        server.model().predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, one));
        inproc[i] = System.nanoTime() - t;
      }
      Arrays.sort(inproc);
      t0 = System.nanoTime();
      for (int i = 0; i < n64; i++) {
        server.model().predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, many));
      }
      secs = (System.nanoTime() - t0) / 1e9;
      out.printf("BENCH in-process ModelServer: batch 1 p50 %.2f ms, p99 %.2f ms; batch 64 %.0f"
              + " images/s%n", ms(inproc[n1 / 2]),
          ms(inproc[Math.min(n1 - 1, (int) Math.ceil(n1 * 0.99) - 1)]), 64.0 * n64 / secs);
    }
  }

  static double ms(long nanos) {
    return nanos / 1e6;
  }

  static void send(HttpClient http, URI uri, String body) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IllegalStateException("HTTP " + r.statusCode() + ": " + r.body());
    }
  }

  /** {@code {"instances": [...]}} with {@code n} images {@code [h, w, c]}. */
  static String body(byte[] pixels, int n, int h, int w, int c) {
    StringBuilder sb = new StringBuilder("{\"instances\": [");
    for (int i = 0; i < n; i++) {
      sb.append(i > 0 ? "," : "").append('[');
      for (int y = 0; y < h; y++) {
        sb.append(y > 0 ? "," : "").append('[');
        for (int x = 0; x < w; x++) {
          sb.append(x > 0 ? "," : "").append('[');
          for (int k = 0; k < c; k++) {
            sb.append(k > 0 ? "," : "").append(pixels[((i * h + y) * w + x) * c + k] & 0xff);
          }
          sb.append(']');
        }
        sb.append(']');
      }
      sb.append(']');
    }
    return sb.append("]}").toString();
  }
}
