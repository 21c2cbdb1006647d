import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A bounded REST load generator for {@code selfie serve} (loopback only; every loop has a fixed
 * count). Single-file program: {@code java bench/ServeLoad.java MODE ...}.
 *
 * <pre>
 * load URL BODY_FILE CLIENTS REQUESTS_PER_CLIENT [SERVER_PID]
 *     CLIENTS threads, each sending REQUESTS_PER_CLIENT POSTs of BODY_FILE over its own
 *     keep-alive connection; prints errors, throughput, p50/p99/max latency, and the server's
 *     RSS before and after (from /proc/SERVER_PID/status).
 * slow URL BODY_FILE STALLED REQUESTS
 *     REQUESTS sequential POSTs alone (unloaded p50/p99), then again while STALLED connections
 *     have each sent the headers and half the body of a request and then stall.
 * </pre>
 */
public final class ServeLoad {
  private ServeLoad() {}

  public static void main(String[] a) throws Exception {
    switch (a.length > 0 ? a[0] : "") {
      case "load" -> load(URI.create(a[1]), Files.readAllBytes(Path.of(a[2])),
          Integer.parseInt(a[3]), Integer.parseInt(a[4]), a.length > 5 ? a[5] : null);
      case "slow" -> slow(URI.create(a[1]), Files.readAllBytes(Path.of(a[2])),
          Integer.parseInt(a[3]), Integer.parseInt(a[4]));
      default -> {
        System.err.println("usage: ServeLoad load URL BODY CLIENTS N [PID] | slow URL BODY STALLED N");
        System.exit(2);
      }
    }
  }

  static HttpClient client() {
    return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10)).build();
  }

  static HttpRequest request(URI uri, byte[] body) {
    return HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(60))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
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

  static void load(URI uri, byte[] body, int clients, int n, String pid) throws Exception {
    long rss0 = rssKb(pid);
    long[][] lat = new long[clients][n];
    AtomicLong errors = new AtomicLong();
    AtomicLong firstError = new AtomicLong(-1);
    List<String> errorSamples = java.util.Collections.synchronizedList(new ArrayList<>());
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    List<Future<?>> done = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      int id = c;
      done.add(pool.submit(() -> {
        HttpClient http = client(); // one connection per client
        HttpRequest req = request(uri, body);
        for (int k = 0; k < n; k++) {
          long t = System.nanoTime();
          try {
            HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200) {
              errors.incrementAndGet();
              if (errorSamples.size() < 3) {
                errorSamples.add(r.statusCode() + " " + new String(r.body(), StandardCharsets.UTF_8));
              }
            }
          } catch (Exception e) {
            errors.incrementAndGet();
            firstError.compareAndSet(-1, k);
            if (errorSamples.size() < 3) {
              errorSamples.add(e.toString());
            }
          }
          lat[id][k] = System.nanoTime() - t;
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
    System.out.printf("LOAD %s: %d clients x %d requests, %d errors, %.1f s, %.0f req/s,"
            + " p50 %.2f ms, p99 %.2f ms, max %.1f ms, server RSS %s -> %s MB%n",
        uri, clients, n, errors.get(), secs, all.length / secs, pct(all, 0.5), pct(all, 0.99),
        all[all.length - 1] / 1e6, rss0 < 0 ? "?" : String.format("%.1f", rss0 / 1024.0),
        rss1 < 0 ? "?" : String.format("%.1f", rss1 / 1024.0));
    errorSamples.forEach(s -> System.out.println("  error: " + s));
  }

  static double pct(long[] sorted, double p) {
    return sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))] / 1e6;
  }

  static long[] sequential(HttpClient http, URI uri, byte[] body, int n) throws Exception {
    long[] lat = new long[n];
    HttpRequest req = request(uri, body);
    for (int k = 0; k < n; k++) {
      long t = System.nanoTime();
      HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
      lat[k] = System.nanoTime() - t;
      if (r.statusCode() != 200) {
        throw new IllegalStateException("status " + r.statusCode());
      }
    }
    Arrays.sort(lat);
    return lat;
  }

  static void slow(URI uri, byte[] body, int stalled, int n) throws Exception {
    HttpClient http = client();
    sequential(http, uri, body, Math.min(200, n)); // warm-up
    long[] alone = sequential(http, uri, body, n);
    List<Socket> sockets = new ArrayList<>();
    try {
      String head = "POST " + uri.getRawPath() + " HTTP/1.1\r\nHost: " + uri.getHost() + ":"
          + uri.getPort() + "\r\nContent-Type: application/json\r\nContent-Length: "
          + body.length + "\r\n\r\n";
      for (int i = 0; i < stalled; i++) {
        Socket s = new Socket(uri.getHost(), uri.getPort());
        OutputStream out = s.getOutputStream();
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        out.write(body, 0, body.length / 2);
        out.flush();
        sockets.add(s);
      }
      long t0 = System.nanoTime();
      long[] loaded = sequential(client(), uri, body, n);
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("SLOW %s: alone p50 %.2f ms p99 %.2f ms; with %d stalled half-requests"
              + " p50 %.2f ms p99 %.2f ms (%d requests, 0 errors, %.1f s)%n",
          uri, pct(alone, 0.5), pct(alone, 0.99), stalled, pct(loaded, 0.5), pct(loaded, 0.99), n,
          secs);
      int open = 0;
      for (Socket s : sockets) {
        try {
          s.setSoTimeout(1);
          open += s.getInputStream().read() == -1 ? 0 : 1;
        } catch (java.net.SocketTimeoutException e) {
          open++;
        } catch (IOException e) {
          // reset by the server
        }
      }
      System.out.printf("SLOW stalled connections still open at the end: %d of %d%n", open,
          stalled);
    } finally {
      for (Socket s : sockets) {
        s.close();
      }
    }
  }
}
