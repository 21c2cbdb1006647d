package dev.selfie.savedmodels.serving.rest;

/** An error answered as {@code {"error": message}} with an HTTP status (REST server). */
final class HttpError extends Exception {
  final int status;

  HttpError(int status, String message) {
    super(message, null, false, false);
    this.status = status;
  }
}
