package dev.selfie.training.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** JSON files of a run (Jackson; records map directly), written atomically. */
public final class Json {
  private Json() {}

  /** The shared mapper: indented output, records and maps as they are. */
  public static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * Writes {@code value} as JSON to {@code file} atomically: a temp file in the same directory,
   * then a rename over the target, so readers see the old or the new file, never a partial one.
   */
  public static void writeAtomic(Path file, Object value) {
    try {
      writeAtomic(file, MAPPER.writeValueAsBytes(value));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serialise JSON for " + file + ": " + e.getMessage(), e);
    }
  }

  /** Writes bytes to {@code file} atomically (temp file + rename in the same directory). */
  public static void writeAtomic(Path file, byte[] bytes) {
    Path abs = file.toAbsolutePath();
    Path dir = abs.getParent();
    Path tmp = null;
    try {
      Files.createDirectories(dir);
      tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
      Files.write(tmp, bytes);
      try {
        Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + abs + ": " + e.getMessage(), e);
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // best effort
        }
      }
    }
  }

  /** Reads {@code file} as {@code type}; errors name the file. */
  public static <T> T read(Path file, Class<T> type) {
    try {
      return MAPPER.readValue(file.toFile(), type);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot read " + file + " as " + type.getSimpleName() + ": " + e.getMessage(), e);
    }
  }

  /**
   * A JSON tree of a config: a {@code String} is parsed as JSON text, a {@code JsonNode} is kept,
   * anything else (a record, a map) is converted; null stays null.
   */
  public static JsonNode tree(Object config) {
    if (config == null) {
      return null;
    }
    if (config instanceof JsonNode n) {
      return n;
    }
    if (config instanceof String s) {
      try {
        return MAPPER.readTree(s);
      } catch (IOException e) {
        throw new IllegalArgumentException("config string is not valid JSON: " + e.getMessage(), e);
      }
    }
    return MAPPER.valueToTree(config);
  }
}
