package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.savedmodels.Fixtures;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP layer of {@link RestServer}: slow clients hold no worker, request and idle timeouts
 * close connections, keep-alive, a full queue answers 503, close() lets requests in flight
 * finish.
 */
class RestServerHttpTest {

  @TempDir static Path tmp;
  static Path dir;
  static ModelServer fast;
  static String body;

  @BeforeAll
  static void export() throws Exception {
    dir = tmp.resolve("model");
    Fixtures.exportTiny(dir, 1, RestServerTest.images);
    fast = ModelServer.load(dir, new ModelServer.Options(8, Duration.ZERO, 64, 1));
    body = "{\"instances\": " + RestServerTest.imagesJson(0, 1) + "}";
  }

  @AfterAll
  static void close() {
    fast.close();
  }

  static HttpResponse<String> post(RestServer s, String json) throws Exception {
    HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    return c.send(HttpRequest.newBuilder(s.baseUri().resolve("/v1/models/m:predict"))
            .timeout(Duration.ofSeconds(30))
            .POST(HttpRequest.BodyPublishers.ofString(json)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Opens a connection and sends the headers and half the body of a predict request. */
  static Socket halfRequest(RestServer s) throws IOException {
    Socket sock = new Socket("127.0.0.1", s.port());
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    OutputStream out = sock.getOutputStream();
    out.write(("POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length
        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.write(b, 0, b.length / 2);
    out.flush();
    return sock;
  }

  /** Whether the server closed the connection within {@code millis} (EOF or reset). */
  static boolean closedWithin(Socket s, long millis) throws IOException {
    s.setSoTimeout((int) millis);
    InputStream in = s.getInputStream();
    try {
      while (in.read() != -1) {
        // an error answer may come first; read until the end
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // reset
    }
  }

  @Test
  void stalledClientsHoldNoWorkerAndAreCutOffAfterTheRequestTimeout() throws Exception {
    RestServer.Options o = RestServer.Options.defaults().withPort(0).withThreads(2, 4)
        .withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(60));
    try (RestServer s = RestServer.start(Map.of("m", fast), o)) {
      List<Socket> stalled = new ArrayList<>();
      try {
        for (int i = 0; i < 16; i++) { // 8x the worker threads
          stalled.add(halfRequest(s));
        }
        long t = System.nanoTime();
        HttpResponse<String> r = post(s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(System.nanoTime() - t < TimeUnit.SECONDS.toNanos(1),
            "a normal request waited behind stalled ones");
        assertTrue(closedWithin(stalled.get(0), 10_000),
            "a stalled half-request was not cut off after the 2 s request timeout");
      } finally {
        for (Socket x : stalled) {
          x.close();
        }
      }
      assertEquals(200, post(s, body).statusCode());
    }
  }

  @Test
  void keepAliveServesSeveralRequestsOnOneConnectionAndIdleOnesAreClosed() throws Exception {
    RestServer.Options o = RestServer.Options.defaults().withPort(0)
        .withTimeouts(Duration.ofSeconds(30), Duration.ofSeconds(1));
    try (RestServer s = RestServer.start(Map.of("m", fast), o);
        Socket sock = new Socket("127.0.0.1", s.port())) {
      sock.setSoTimeout(10_000);
      OutputStream out = sock.getOutputStream();
      InputStream in = sock.getInputStream();
      for (int i = 0; i < 3; i++) {
        out.write("GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        String head = readHead(in);
        assertTrue(head.startsWith("HTTP/1.1 200"), head);
        int len = Integer.parseInt(head.replaceAll("(?is).*content-length: *(\\d+).*", "$1"));
        assertTrue(in.readNBytes(len).length == len);
      }
      assertTrue(closedWithin(sock, 10_000), "idle keep-alive connection not closed after 1 s");
    }
  }

  static String readHead(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    while (!sb.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("connection closed after: " + sb);
      }
      sb.append((char) c);
    }
    return sb.toString();
  }

  @Test
  void aFullQueueIsAnswered503AndServingContinues() throws Exception {
    // The model waits 1.5 s for a batch to fill: one worker, one queue slot.
    try (ModelServer slow = ModelServer.load(dir,
            new ModelServer.Options(64, Duration.ofMillis(1500), 64, 1));
        RestServer s = RestServer.start(Map.of("m", slow),
            RestServer.Options.defaults().withPort(0).withThreads(1, 1))) {
      List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        calls.add(CompletableFuture.supplyAsync(() -> {
          try {
            return post(s, body);
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }));
        Thread.sleep(150);
      }
      List<Integer> codes = new ArrayList<>();
      for (var c : calls) {
        HttpResponse<String> r = c.get(30, TimeUnit.SECONDS);
        codes.add(r.statusCode());
        if (r.statusCode() == 503) {
          assertTrue(r.body().contains("\"error\"") && r.body().contains("busy"), r.body());
        }
      }
      assertTrue(codes.contains(503), "no 503 from a full queue: " + codes);
      assertTrue(codes.contains(200), codes.toString());
      assertEquals(200, post(s, body).statusCode());
    }
  }

  @Test
  void closeLetsARequestInFlightFinish() throws Exception {
    try (ModelServer slow = ModelServer.load(dir,
            new ModelServer.Options(64, Duration.ofMillis(1000), 64, 1))) {
      RestServer s = RestServer.start(Map.of("m", slow), RestServer.Options.defaults().withPort(0));
      CompletableFuture<HttpResponse<String>> inFlight = CompletableFuture.supplyAsync(() -> {
        try {
          return post(s, body);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (slow.stats().requests() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertEquals(1, slow.stats().requests(), "the request never reached the model");
      // It now waits up to 1 s in the model's batch window.
      s.close();
      HttpResponse<String> r = inFlight.get(30, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), r.body());
      assertTrue(r.body().contains("predictions"), r.body());
      IOException refused = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
          () -> post(s, body));
      assertTrue(refused.toString().contains("Connect") || refused.getCause() != null,
          refused.toString());
    }
  }
}
