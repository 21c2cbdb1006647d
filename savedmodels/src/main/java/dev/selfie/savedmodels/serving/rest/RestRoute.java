package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.Servables;

/**
 * Routing of TensorFlow Serving's REST paths: {@code /v1/models/NAME[/versions/V][/metadata]}
 * and {@code /v1/models/NAME[/versions/V]:VERB}, plus TF Serving's metrics path.
 *
 * @param name the model name ({@code null} for the metrics path)
 * @param version the version asked for, {@code null} for the latest
 * @param verb {@code predict}, {@code classify}, ... for a POST; {@code null} for a GET
 * @param metadata whether the path ends in {@code /metadata}
 */
record RestRoute(String name, Long version, String verb, boolean metadata) {

  static final String PREFIX = "/v1/models/";
  static final String METRICS = "/monitoring/prometheus/metrics";

  /** Whether this is the metrics path. */
  boolean isMetrics() {
    return name == null;
  }

  /** TF Serving's name for the servable asked for, for "not found" messages. */
  String servable() {
    return Servables.describe(name, version);
  }

  /**
   * Parses a raw request path and checks the method against it.
   *
   * @throws HttpError 404 for an unknown path, 400 for a bad version, 405 for a wrong method
   */
  static RestRoute parse(String method, String path) throws HttpError {
    if (path.equals(METRICS)) {
      if (!method.equals("GET")) {
        throw new HttpError(405, method + " not allowed on " + path + ": use GET");
      }
      return new RestRoute(null, null, null, false);
    }
    if (!path.startsWith(PREFIX) || path.length() == PREFIX.length()) {
      throw new HttpError(404, "not found: " + path + " (expected /v1/models/NAME...)");
    }
    String rest = path.substring(PREFIX.length());
    String verb = null;
    int colon = rest.lastIndexOf(':');
    if (colon >= 0 && rest.indexOf('/', colon) < 0) {
      verb = rest.substring(colon + 1);
      rest = rest.substring(0, colon);
    }
    String[] parts = rest.split("/", -1);
    int i = 1;
    Long version = null;
    if (parts.length >= 3 && parts[1].equals("versions")) {
      try {
        version = Long.parseLong(parts[2]);
      } catch (NumberFormatException e) {
        throw new HttpError(400, "bad version '" + parts[2] + "': expected a number");
      }
      i = 3;
    }
    boolean metadata = false;
    if (parts.length == i + 1 && parts[i].equals("metadata")) {
      metadata = true;
      i++;
    }
    if (parts.length != i || parts[0].isEmpty() || (metadata && verb != null)) {
      throw new HttpError(404, "not found: " + path);
    }
    if (verb == null && !method.equals("GET")) {
      throw new HttpError(405, method + " not allowed on " + path + ": use GET");
    }
    if (verb != null && !method.equals("POST")) {
      throw new HttpError(405, method + " not allowed on " + path + ": use POST");
    }
    return new RestRoute(parts[0], version, verb, metadata);
  }

  /** The kind label of a request path (the {@code kind} label of the request metrics). */
  static String kind(String path) {
    if (path.endsWith(":predict")) {
      return "predict";
    }
    if (path.endsWith(":classify")) {
      return "classify";
    }
    if (path.equals(METRICS)) {
      return "metrics";
    }
    if (path.endsWith("/metadata")) {
      return "metadata";
    }
    return path.startsWith(PREFIX) && path.indexOf(':') < 0 ? "status" : "other";
  }
}
