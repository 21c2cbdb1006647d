package dev.selfie.savedmodels;

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

  /** Fixed models, each loaded as one version. */
  static Servables of(Map<String, ModelServer> models, long version) {
    Map<String, NavigableMap<Long, ModelServer>> byName = new TreeMap<>();
    models.forEach((name, m) -> byName.put(name,
        Collections.unmodifiableNavigableMap(new TreeMap<>(Map.of(version, m)))));
    NavigableMap<Long, ModelServer> none = Collections.emptyNavigableMap();
    return name -> byName.getOrDefault(name, none);
  }
}
