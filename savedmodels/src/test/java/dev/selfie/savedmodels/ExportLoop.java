package dev.selfie.savedmodels;

import java.nio.file.Path;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/**
 * Test helper run as a child process by {@link SavedModelExporterKillTest}: exports TinyNet with
 * seeds 1, 2, 3, ... to {@code args[0]} forever, printing "begin K" before each export and
 * "done K" after it, until killed.
 */
final class ExportLoop {
  private ExportLoop() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    for (int k = 1; ; k++) {
      try (Graph g = new Graph()) {
        TinyNet net = new TinyNet(g, k);
        try (Session s = new Session(g)) {
          s.initialize();
          System.out.println("begin " + k);
          System.out.flush();
          new SavedModelExporter(s).signature(net.servingSignature()).export(dir);
          System.out.println("done " + k);
          System.out.flush();
        }
      }
    }
  }
}
