package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;

/**
 * A Debian package ({@code .deb}) as a download source: the package file's URL and md5, and the
 * directory its files are installed into. A {@code .deb} is an ar archive whose {@code
 * data.tar.xz} (or {@code .gz}, or plain {@code .tar}) holds the installed tree; {@link #extract}
 * copies the named files of one directory out of it without installing anything.
 *
 * <p>Why: Debian's mirrors are reachable from networks that reach package registries only, where
 * a dataset's own site is not. The files in the package are checked by the package's md5 (pinned
 * here) and then by the dataset's structural validation.
 *
 * @param url where the .deb is
 * @param md5 the .deb's md5 (hex)
 * @param dir the installed directory whose files are wanted, without a leading slash, e.g.
 *     {@code usr/share/datasets/fashion-mnist}
 */
public record DebianPackage(URI url, String md5, String dir) {

  /** The file name of the package (the last path segment of its URL). */
  public String fileName() {
    String path = url.getPath();
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /** The URL of the directory the package is in (a {@link Fetcher} base). */
  URI base() {
    return url.resolve(".");
  }

  /**
   * Copies the files {@code names} found directly in {@link #dir} of the package {@code deb}
   * into {@code out}; nothing else is written.
   *
   * @throws BadDataException if {@code deb} is not a Debian package or lacks one of the files
   */
  void extract(Path deb, Set<String> names, Path out) throws IOException {
    Set<String> missing = new TreeSet<>(names);
    boolean sawData = false;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(deb));
        ArArchiveInputStream ar = new ArArchiveInputStream(in)) {
      ArArchiveEntry e;
      while ((e = ar.getNextEntry()) != null) {
        String member = e.getName();
        if (!member.startsWith("data.tar")) {
          continue;
        }
        sawData = true;
        InputStream data = member.endsWith(".xz") ? new XZCompressorInputStream(ar)
            : member.endsWith(".gz") ? new GzipCompressorInputStream(ar)
            : member.equals("data.tar") ? ar
            : null;
        if (data == null) {
          throw new BadDataException(deb + ": member " + member
              + " is compressed in a format this reader does not support (xz, gz or none)");
        }
        TarArchiveInputStream tar = new TarArchiveInputStream(data);
        TarArchiveEntry t;
        while ((t = tar.getNextEntry()) != null) {
          String name = t.getName().replaceFirst("^\\./", "").replaceFirst("^/", "");
          int slash = name.lastIndexOf('/');
          if (!t.isFile() || slash < 0 || !name.substring(0, slash).equals(dir)) {
            continue;
          }
          String file = name.substring(slash + 1);
          if (missing.remove(file)) {
            Files.copy(tar, out.resolve(file));
          }
        }
        break;
      }
    } catch (IOException e) {
      if (e instanceof BadDataException) {
        throw e;
      }
      throw new BadDataException(deb + " is not a readable Debian package: " + e.getMessage(), e);
    }
    if (!sawData) {
      throw new BadDataException(deb + " is not a Debian package: no data.tar member");
    }
    if (!missing.isEmpty()) {
      throw new BadDataException(deb + ": no " + missing + " in /" + dir + " of the package");
    }
  }
}
