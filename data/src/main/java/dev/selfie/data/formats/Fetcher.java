package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.ProgressListener;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.stream.Stream;

/**
 * Downloads dataset files over HTTP(S) with the JDK client, verifies their published md5, reports
 * progress, and publishes results atomically (work in a temporary directory beside the target,
 * then one rename; on any failure nothing is left behind).
 */
final class Fetcher {
  /** Appended to a failed connection's message. */
  static final String OFFLINE_HINT = " (offline? use --base-url for a mirror)";

  private final URI base;
  private final ProgressListener progress;
  private final HttpClient client;

  Fetcher(URI base, ProgressListener progress) {
    String b = base.toString();
    this.base = URI.create(b.endsWith("/") ? b : b + "/");
    this.progress = progress == null ? ProgressListener.NONE : progress;
    this.client =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(30))
            .build();
  }

  /**
   * Downloads {@code base/file} to {@code dest} and checks its md5.
   *
   * @return bytes downloaded
   * @throws BadDataException on a checksum mismatch or a short body
   */
  long download(String file, String md5, Path dest) throws IOException {
    URI uri = base.resolve(file);
    HttpRequest req = HttpRequest.newBuilder(uri).GET().timeout(Duration.ofMinutes(30)).build();
    HttpResponse<InputStream> resp;
    try {
      resp = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("GET " + uri + ": interrupted", e);
    } catch (IOException e) {
      // Connection failures often carry no message (ConnectException): name the exception then.
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw new IOException("GET " + uri + ": " + why + OFFLINE_HINT, e);
    }
    long total = resp.headers().firstValueAsLong("Content-Length").orElse(-1L);
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("MD5");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long done = 0;
    try (InputStream in = resp.body()) {
      if (resp.statusCode() != 200) {
        throw new IOException("GET " + uri + ": HTTP " + resp.statusCode() + ", expected 200");
      }
      try (OutputStream out = Files.newOutputStream(dest)) {
        byte[] buf = new byte[1 << 16];
        int n;
        long lastReport = -1;
        progress.progress(file, 0, total);
        while ((n = in.read(buf)) > 0) {
          out.write(buf, 0, n);
          digest.update(buf, 0, n);
          done += n;
          if (done - lastReport >= (1 << 20)) {
            progress.progress(file, done, total);
            lastReport = done;
          }
        }
      }
    } catch (IOException e) {
      if (e.getMessage() != null && e.getMessage().startsWith("GET ")) {
        throw e;
      }
      throw new BadDataException(
          "GET " + uri + ": download broke off after " + done + " of " + (total < 0 ? "?" : total)
              + " bytes: " + e.getMessage(), e);
    }
    progress.progress(file, done, total);
    if (total >= 0 && done != total) {
      throw new BadDataException(
          "GET " + uri + ": truncated download: " + done + " bytes, Content-Length " + total);
    }
    String got = HexFormat.of().formatHex(digest.digest());
    if (!got.equalsIgnoreCase(md5)) {
      throw new BadDataException(
          "GET " + uri + ": md5 " + got + " does not match the published " + md5
              + " (" + done + " bytes; truncated or corrupt download)");
    }
    return done;
  }

  /** Work done in a fresh temporary directory. */
  @FunctionalInterface
  interface Work {
    DatasetProvider.FetchResult run(Path tmp) throws IOException;
  }

  /**
   * Runs {@code work} in a temporary directory inside {@code home}, then renames {@code
   * tmp/publish} to {@code target} atomically. The temporary directory is always removed.
   */
  static DatasetProvider.FetchResult atomically(Path home, Path target, Work work, String publish)
      throws IOException {
    Files.createDirectories(home);
    Path tmp = Files.createTempDirectory(home, ".fetch-" + target.getFileName() + "-");
    try {
      DatasetProvider.FetchResult r = work.run(tmp);
      if (Files.exists(target)) {
        throw new FileAlreadyExistsException(target + ": appeared during the download; not replaced");
      }
      Files.move(tmp.resolve(publish), target, StandardCopyOption.ATOMIC_MOVE);
      return r;
    } finally {
      deleteRecursively(tmp);
    }
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
