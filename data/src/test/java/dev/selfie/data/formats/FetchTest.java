package dev.selfie.data.formats;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpServer;
import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.ProgressListener;
import dev.selfie.data.Split;
import dev.selfie.data.TestData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The download path against a local HTTP server on 127.0.0.1 serving generated archives. */
class FetchTest {

  @TempDir Path tmp;
  HttpServer server;
  URI base;
  final Map<String, byte[]> files = new ConcurrentHashMap<>();
  /** Files served with their full Content-Length but cut off after half the body. */
  final Map<String, Boolean> cut = new ConcurrentHashMap<>();
  final AtomicInteger requests = new AtomicInteger();

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", ex -> {
      requests.incrementAndGet();
      String name = ex.getRequestURI().getPath().replaceFirst("^/mirror/", "");
      byte[] body = files.get(name);
      if (body == null) {
        ex.sendResponseHeaders(404, -1);
        ex.close();
        return;
      }
      ex.sendResponseHeaders(200, body.length);
      OutputStream out = ex.getResponseBody();
      try {
        if (cut.containsKey(name)) {
          out.write(body, 0, body.length / 2);
          out.flush();
          ex.getHttpContext().getServer(); // keep the reference
          // Abort the connection mid-body.
          throw new IOException("cut");
        }
        out.write(body);
      } finally {
        ex.close();
      }
    });
    server.start();
    base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/mirror/");
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  static String md5(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
  }

  /** A CIFAR-10 binary tarball as the official one is laid out. */
  byte[] cifarTarball() throws Exception {
    Path d = TestData.cifar(tmp.resolve("src/cifar-10-batches-bin"), 10, 4);
    Files.writeString(d.resolve("readme.html"), "<html/>");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(bytes))) {
      TarArchiveEntry dir = new TarArchiveEntry("cifar-10-batches-bin/");
      tar.putArchiveEntry(dir);
      tar.closeArchiveEntry();
      try (Stream<Path> s = Files.list(d)) {
        for (Path f : s.sorted().toList()) {
          TarArchiveEntry e = new TarArchiveEntry(f.toFile(), "cifar-10-batches-bin/" + f.getFileName());
          tar.putArchiveEntry(e);
          Files.copy(f, tar);
          tar.closeArchiveEntry();
        }
      }
    }
    return bytes.toByteArray();
  }

  void assertNothingLeft(Path home) throws IOException {
    if (!Files.exists(home)) {
      return;
    }
    try (Stream<Path> s = Files.list(home)) {
      assertEquals(List.of(), s.toList(), "nothing may be left half-written in " + home);
    }
  }

  @Test
  void fetchesVerifiesAndUnpacksCifar() throws Exception {
    byte[] tgz = cifarTarball();
    files.put(Cifar10.ARCHIVE, tgz);
    Path home = tmp.resolve("home");
    List<long[]> progress = new ArrayList<>();
    DatasetProvider.FetchResult r =
        new Cifar10().fetch(home, base, (t, done, total) -> {
          if (t.equals(Cifar10.ARCHIVE)) {
            progress.add(new long[] {done, total});
          }
        }, md5(tgz));
    assertTrue(r.downloaded());
    assertEquals(tgz.length, r.bytes());
    assertEquals(home.resolve("cifar10/cifar-10-batches-bin"), r.location());
    assertFalse(progress.isEmpty());
    assertArrayEquals(new long[] {tgz.length, tgz.length}, progress.get(progress.size() - 1));
    ImageSource src = Datasets.open("cifar10", home);
    assertEquals(10, src.size(Split.TRAIN));
    assertEquals(4, src.size(Split.TEST));
    try (Stream<Path> s = Files.list(home)) {
      assertEquals(List.of(home.resolve("cifar10")), s.toList(), "no temporary directory left");
    }
    // Already there: no second download.
    int before = requests.get();
    DatasetProvider.FetchResult again = new Cifar10().fetch(home, base, ProgressListener.NONE, md5(tgz));
    assertFalse(again.downloaded());
    assertEquals(before, requests.get());
  }

  @Test
  void wrongChecksumLeavesNothing() throws Exception {
    byte[] tgz = cifarTarball();
    files.put(Cifar10.ARCHIVE, tgz);
    Path home = tmp.resolve("home");
    BadDataException e = assertThrows(BadDataException.class,
        () -> new Cifar10().fetch(home, base, ProgressListener.NONE, Cifar10.ARCHIVE_MD5));
    assertTrue(e.getMessage().contains("md5") && e.getMessage().contains(Cifar10.ARCHIVE_MD5), e.getMessage());
    assertTrue(e.getMessage().contains(Cifar10.ARCHIVE), e.getMessage());
    assertNothingLeft(home);
  }

  @Test
  void truncatedDownloadLeavesNothing() throws Exception {
    byte[] tgz = cifarTarball();
    files.put(Cifar10.ARCHIVE, tgz);
    cut.put(Cifar10.ARCHIVE, true);
    Path home = tmp.resolve("home");
    IOException e = assertThrows(IOException.class,
        () -> new Cifar10().fetch(home, base, ProgressListener.NONE, md5(tgz)));
    assertTrue(e.getMessage().contains(Cifar10.ARCHIVE), e.getMessage());
    assertNothingLeft(home);
    // A truncated file served honestly (short Content-Length) fails the checksum.
    cut.clear();
    files.put(Cifar10.ARCHIVE, java.util.Arrays.copyOf(tgz, tgz.length / 2));
    BadDataException b = assertThrows(BadDataException.class,
        () -> new Cifar10().fetch(home, base, ProgressListener.NONE, md5(tgz)));
    assertTrue(b.getMessage().contains("md5"), b.getMessage());
    assertNothingLeft(home);
  }

  @Test
  void httpErrorIsReported() throws Exception {
    Path home = tmp.resolve("home");
    IOException e = assertThrows(IOException.class,
        () -> new Cifar10().fetch(home, base, ProgressListener.NONE, "0"));
    assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
    assertNothingLeft(home);
  }

  /** Serves generated Fashion-MNIST IDX files (20 train, 10 test); their md5s by file name. */
  Map<String, String> serveFashionMnist() throws Exception {
    Path src = TestData.fashion(tmp.resolve("src"), 20, 10);
    Map<String, String> sums = new ConcurrentHashMap<>();
    for (String f : FashionMnist.MD5.keySet()) {
      byte[] b = Files.readAllBytes(src.resolve(f));
      files.put(f, b);
      sums.put(f, md5(b));
    }
    return sums;
  }

  @Test
  void fetchesFashionMnistFiles() throws Exception {
    Map<String, String> sums = serveFashionMnist();
    Path home = tmp.resolve("home");
    DatasetProvider.FetchResult r = new FashionMnist().fetch(home, base, ProgressListener.NONE, sums);
    assertTrue(r.downloaded());
    assertEquals(home.resolve("fashion-mnist"), r.location());
    ImageSource opened = Datasets.open("fashion-mnist", home);
    assertEquals(20, opened.size(Split.TRAIN));
    assertEquals(10, opened.size(Split.TEST));
    // One bad checksum among the four: nothing published.
    Path home2 = tmp.resolve("home2");
    sums.put("t10k-labels-idx1-ubyte.gz", FashionMnist.MD5.get("t10k-labels-idx1-ubyte.gz"));
    BadDataException e = assertThrows(BadDataException.class,
        () -> new FashionMnist().fetch(home2, base, ProgressListener.NONE, sums));
    assertTrue(e.getMessage().contains("t10k-labels-idx1-ubyte.gz"), e.getMessage());
    assertNothingLeft(home2);
  }

  @Test
  void openOrFetchDownloadsAMissingFashionMnistOnce() throws Exception {
    Map<String, String> sums = serveFashionMnist();
    Path home = tmp.resolve("home");
    assertFalse(FashionMnist.present(home));
    Map<String, long[]> last = new ConcurrentHashMap<>();
    ImageSource opened = new FashionMnist().openOrFetch(home, base,
        (t, done, total) -> last.put(t, new long[] {done, total}), sums);
    assertEquals(20, opened.size(Split.TRAIN));
    assertEquals(10, opened.size(Split.TEST));
    assertTrue(FashionMnist.present(home));
    assertEquals(FashionMnist.MD5.keySet(), last.keySet(), "progress reported for every file");
    for (String f : last.keySet()) {
      long size = files.get(f).length;
      assertArrayEquals(new long[] {size, size}, last.get(f), f + ": progress ends at its size");
    }
    assertEquals(4, requests.get());
    // Present now: opened from disk, nothing requested.
    ImageSource again = new FashionMnist().openOrFetch(home, base, ProgressListener.NONE, sums);
    assertEquals(20, again.size(Split.TRAIN));
    assertEquals(4, requests.get());
  }

  @Test
  void openOrFetchThatCannotDownloadFailsInOneLineWithBothRemedies() throws Exception {
    Path home = tmp.resolve("home");
    // The server has no files: HTTP 404.
    IOException e = assertThrows(IOException.class,
        () -> new FashionMnist().openOrFetch(home, base, ProgressListener.NONE));
    String m = e.getMessage();
    assertFalse(m.contains("\n"), "one line: " + m);
    assertTrue(m.contains("apt-get install dataset-fashion-mnist"), m);
    assertTrue(m.contains("selfie data fetch fashion-mnist --data-dir " + home), m);
    assertTrue(m.contains("HTTP 404"), "names the cause: " + m);
    assertTrue(m.contains(home.resolve("fashion-mnist").toString()), "names where it looked: " + m);
    assertNothingLeft(home);
    // Nothing listening at all (a port just closed): also one line, both remedies.
    int port;
    try (java.net.ServerSocket closed = new java.net.ServerSocket(0, 1,
        InetAddress.getLoopbackAddress())) {
      port = closed.getLocalPort();
    }
    IOException c = assertThrows(IOException.class, () -> new FashionMnist().openOrFetch(home,
        URI.create("http://127.0.0.1:" + port + "/"), ProgressListener.NONE));
    assertFalse(c.getMessage().contains("\n"), c.getMessage());
    assertFalse(c.getMessage().contains("null"), c.getMessage());
    assertTrue(c.getMessage().contains("apt-get install dataset-fashion-mnist")
        && c.getMessage().contains("selfie data fetch fashion-mnist"), c.getMessage());
    // A corrupt download (checksum) is refused the same way, and nothing is published.
    Path src = TestData.fashion(tmp.resolve("src"), 20, 10);
    for (String f : FashionMnist.MD5.keySet()) {
      files.put(f, Files.readAllBytes(src.resolve(f)));
    }
    IOException bad = assertThrows(IOException.class,
        () -> new FashionMnist().openOrFetch(home, base, ProgressListener.NONE));
    assertTrue(bad.getMessage().contains("md5")
        && bad.getMessage().contains("apt-get install dataset-fashion-mnist"), bad.getMessage());
    assertNothingLeft(home);
  }

  /**
   * A Debian package laid out as dataset-fashion-mnist's: an ar archive of debian-binary,
   * control.tar.xz and data.tar.xz, the IDX files in ./usr/share/datasets/fashion-mnist/ among
   * other files (a doc file, a file of the same name in another directory).
   */
  byte[] debianPackage(Path idx, List<String> files) throws Exception {
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar =
        new TarArchiveOutputStream(new XZCompressorOutputStream(data))) {
      for (String d : List.of("./", "./usr/", "./usr/share/", "./usr/share/datasets/",
          "./usr/share/datasets/fashion-mnist/")) {
        tar.putArchiveEntry(new TarArchiveEntry(d));
        tar.closeArchiveEntry();
      }
      tarFile(tar, "./usr/share/doc/dataset-fashion-mnist/t10k-labels-idx1-ubyte.gz",
          new byte[] {1, 2, 3});
      for (String f : files) {
        tarFile(tar, "./usr/share/datasets/fashion-mnist/" + f,
            Files.readAllBytes(idx.resolve(f)));
      }
    }
    ByteArrayOutputStream control = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar =
        new TarArchiveOutputStream(new XZCompressorOutputStream(control))) {
      tarFile(tar, "./control", "Package: dataset-fashion-mnist\n".getBytes());
    }
    ByteArrayOutputStream deb = new ByteArrayOutputStream();
    try (ArArchiveOutputStream ar = new ArArchiveOutputStream(deb)) {
      arMember(ar, "debian-binary", "2.0\n".getBytes());
      arMember(ar, "control.tar.xz", control.toByteArray());
      arMember(ar, "data.tar.xz", data.toByteArray());
    }
    return deb.toByteArray();
  }

  static void tarFile(TarArchiveOutputStream tar, String name, byte[] b) throws IOException {
    TarArchiveEntry e = new TarArchiveEntry(name);
    e.setSize(b.length);
    tar.putArchiveEntry(e);
    tar.write(b);
    tar.closeArchiveEntry();
  }

  static void arMember(ArArchiveOutputStream ar, String name, byte[] b) throws IOException {
    ar.putArchiveEntry(new ArArchiveEntry(name, b.length));
    ar.write(b);
    ar.closeArchiveEntry();
  }

  URI closedPort() throws IOException {
    try (java.net.ServerSocket closed = new java.net.ServerSocket(0, 1,
        InetAddress.getLoopbackAddress())) {
      return URI.create("http://127.0.0.1:" + closed.getLocalPort() + "/");
    }
  }

  static final String DEB = "dataset-fashion-mnist_0.0~test-1_all.deb";

  @Test
  void anUnreachableOfficialSiteFallsBackToTheDebianPackage() throws Exception {
    Path src = TestData.fashion(tmp.resolve("src"), 20, 10);
    byte[] deb = debianPackage(src, new ArrayList<>(FashionMnist.MD5.keySet()));
    files.put("pool/" + DEB, deb);
    DebianPackage pkg = new DebianPackage(base.resolve("pool/" + DEB), md5(deb),
        "usr/share/datasets/fashion-mnist");
    assertEquals(DEB, pkg.fileName());
    Path home = tmp.resolve("home");
    Map<String, long[]> last = new ConcurrentHashMap<>();
    List<String> notes = new ArrayList<>();
    ProgressListener listener = new ProgressListener() {
      @Override
      public void progress(String t, long done, long total) {
        last.put(t, new long[] {done, total});
      }

      @Override
      public void note(String message) {
        notes.add(message);
      }
    };
    ImageSource opened = new FashionMnist().openOrFetch(home, closedPort(), listener,
        FashionMnist.MD5, pkg);
    assertEquals(1, notes.size(), "the fallback is announced: " + notes);
    assertTrue(notes.get(0).contains("official files failed") && notes.get(0).contains(DEB),
        notes.get(0));
    assertEquals(20, opened.size(Split.TRAIN));
    assertEquals(10, opened.size(Split.TEST));
    assertTrue(FashionMnist.present(home));
    assertArrayEquals(new long[] {deb.length, deb.length}, last.get(DEB), "progress of the .deb");
    try (Stream<Path> s = Files.list(home.resolve("fashion-mnist"))) {
      assertEquals(new java.util.TreeSet<>(FashionMnist.MD5.keySet()),
          s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toCollection(
              java.util.TreeSet::new)), "the four IDX files and nothing else of the package");
    }
    for (String f : FashionMnist.MD5.keySet()) {
      assertArrayEquals(Files.readAllBytes(src.resolve(f)),
          Files.readAllBytes(home.resolve("fashion-mnist").resolve(f)), f);
    }
    try (Stream<Path> s = Files.list(home)) {
      assertEquals(List.of(home.resolve("fashion-mnist")), s.toList(), "no temporary left");
    }
  }

  @Test
  void aBadDebianPackageLeavesNothingAndNamesBothSources() throws Exception {
    Path src = TestData.fashion(tmp.resolve("src"), 20, 10);
    byte[] deb = debianPackage(src, new ArrayList<>(FashionMnist.MD5.keySet()));
    files.put("pool/" + DEB, deb);
    Path home = tmp.resolve("home");
    // A corrupt package: its md5 does not match.
    DebianPackage wrongSum = new DebianPackage(base.resolve("pool/" + DEB),
        "00000000000000000000000000000000", "usr/share/datasets/fashion-mnist");
    IOException e = assertThrows(IOException.class, () -> new FashionMnist().openOrFetch(home,
        closedPort(), ProgressListener.NONE, FashionMnist.MD5, wrongSum));
    String m = e.getMessage();
    assertFalse(m.contains("\n"), "one line: " + m);
    assertTrue(m.contains("official files: GET http://127.0.0.1:") && m.contains("Debian package:")
        && m.contains("does not match the published 00000000000000000000000000000000"), m);
    assertTrue(m.contains("apt-get install dataset-fashion-mnist"), m);
    assertNothingLeft(home);
    // A package without one of the files.
    byte[] three = debianPackage(src, List.of("train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"));
    files.put("pool/three.deb", three);
    DebianPackage lacking = new DebianPackage(base.resolve("pool/three.deb"), md5(three),
        "usr/share/datasets/fashion-mnist");
    BadDataException b = assertThrows(BadDataException.class, () -> new FashionMnist().fetch(
        home, closedPort(), ProgressListener.NONE, FashionMnist.MD5, lacking));
    assertTrue(b.getMessage().contains("no [t10k-labels-idx1-ubyte.gz] in"
        + " /usr/share/datasets/fashion-mnist"), b.getMessage());
    assertNothingLeft(home);
    // Not a Debian package at all.
    files.put("pool/junk.deb", "not an ar archive".getBytes());
    DebianPackage junk = new DebianPackage(base.resolve("pool/junk.deb"),
        md5("not an ar archive".getBytes()), "usr/share/datasets/fashion-mnist");
    b = assertThrows(BadDataException.class, () -> new FashionMnist().fetch(
        home, closedPort(), ProgressListener.NONE, FashionMnist.MD5, junk));
    assertTrue(b.getMessage().contains("junk.deb"), b.getMessage());
    assertNothingLeft(home);
  }

  @Test
  void aMirrorGivenByTheUserIsTheOnlySource() throws Exception {
    // With --base-url the user chose the source: no second one is tried (one request, a 404).
    Path home = tmp.resolve("home");
    IOException e = assertThrows(IOException.class, () -> new FashionMnist().fetch(home, base,
        ProgressListener.NONE));
    assertFalse(e.getMessage().contains("Debian package:"), e.getMessage());
    assertEquals(1, requests.get());
    assertEquals("usr/share/datasets/fashion-mnist", FashionMnist.DEBIAN_PACKAGE.dir());
    assertTrue(FashionMnist.DEBIAN_PACKAGE.url().toString().startsWith(
        "http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"));
  }

  @Test
  void officialChecksumsAreThePublishedOnes() {
    assertEquals("c32a1d4ab5d03f1284b67883e8d87530", Cifar10.ARCHIVE_MD5);
    assertEquals("8d4fb7e6c68d591d4c3dfef9ec88bf0d", FashionMnist.MD5.get("train-images-idx3-ubyte.gz"));
    assertEquals("25c81989df183df01b3e8a0aad5dffbe", FashionMnist.MD5.get("train-labels-idx1-ubyte.gz"));
    assertEquals("bef4ecab320f06d8554ea6380940ec79", FashionMnist.MD5.get("t10k-images-idx3-ubyte.gz"));
    assertEquals("bb300cfdad3c16e7a12a480ee83cd310", FashionMnist.MD5.get("t10k-labels-idx1-ubyte.gz"));
  }
}
