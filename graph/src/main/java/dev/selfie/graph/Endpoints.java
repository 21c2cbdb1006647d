package dev.selfie.graph;

/**
 * Stable names shared by {@code training} and {@code savedmodels}: SavedModel signature keys, the
 * names of their inputs and outputs, and the files exported beside them. Changing one breaks every
 * exported model's users.
 */
public final class Endpoints {
  private Endpoints() {}

  // Signature keys.
  public static final String SERVING_DEFAULT = "serving_default";
  public static final String PATCH_EMBEDDINGS = "patch_embeddings";
  public static final String ATTENTION_POOL = "attention_pool";
  public static final String EMBEDDING = "embedding";
  /** serving_default's outputs from encoded images (input {@link #IMAGE_BYTES}). */
  public static final String SERVING_BYTES = "serving_bytes";

  // Signature inputs / outputs.
  public static final String IMAGES = "images";
  /** Encoded images (JPEG, PNG, BMP, GIF), string [N]. */
  public static final String IMAGE_BYTES = "image_bytes";
  public static final String LOGITS = "logits";
  public static final String PROBABILITIES = "probabilities";
  public static final String CLASSES = "classes";
  public static final String EMBEDDING_OUTPUT = "embedding";
  public static final String PATCH_EMBEDDINGS_OUTPUT = "patch_embeddings";
  public static final String POOLED_OUTPUT = "u";

  // Files beside the model.
  /**
   * Class names of a classifier's SavedModel, one per line in label order, in its {@code
   * assets.extra} directory (the REST server's {@code :classify} answers with them).
   */
  public static final String CLASS_NAMES_FILE = "class_names.txt";
}
