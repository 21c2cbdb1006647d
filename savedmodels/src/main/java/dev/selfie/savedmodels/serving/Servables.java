package dev.selfie.savedmodels.serving;

import java.util.Collections;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/** The models a server answers for: by name, each with its loaded versions. */
public interface Servables {

  /**
   * The loaded versions of model {@code name}, ascending (the last is the latest); empty if the
   * name is unknown. The map is a snapshot: versions loaded or unloaded later do not change it.
   */
  NavigableMap<Long, ModelServer> versions(String name);

  /**
   * The version a request asks for among {@code loaded} (a {@link #versions} snapshot):
   * {@code version}, or the latest if {@code null}; {@code null} if that version is not loaded.
   */
  static Map.Entry<Long, ModelServer> find(NavigableMap<Long, ModelServer> loaded, Long version) {
    if (version == null) {
      return loaded.lastEntry();
    }
    ModelServer m = loaded.get(version);
    return m == null ? null : Map.entry(version, m);
  }

  /** TF Serving's name for the servable a request asks for, for "not found" messages. */
  static String describe(String name, Long version) {
    return version == null ? "Latest(" + name + ")" : "Specific(" + name + ", " + version + ")";
  }

  /** Fixed models, each loaded as one version. */
  static Servables of(Map<String, ModelServer> models, long version) {
    Map<String, NavigableMap<Long, ModelServer>> byName = new TreeMap<>();
    models.forEach((name, m) -> byName.put(name,
        Collections.unmodifiableNavigableMap(new TreeMap<>(Map.of(version, m)))));
    NavigableMap<Long, ModelServer> none = Collections.emptyNavigableMap();
    return name -> byName.getOrDefault(name, none);
  }
}
