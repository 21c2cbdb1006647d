package dev.selfie.data;

import java.io.IOException;

/**
 * A dataset file exists but is not what was expected (wrong size, magic number, label, checksum,
 * corrupt compression). The message names the file and what was expected.
 */
public class BadDataException extends IOException {
  private static final long serialVersionUID = 1L;

  public BadDataException(String message) {
    super(message);
  }

  public BadDataException(String message, Throwable cause) {
    super(message, cause);
  }
}
