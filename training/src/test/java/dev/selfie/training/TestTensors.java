package dev.selfie.training;

import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;

final class TestTensors {
  private TestTensors() {}

  static float[] read(Session s, Operand<TFloat32> op) {
    try (Result r = s.runner().fetch(op).run()) {
      TFloat32 t = (TFloat32) r.get(0);
      float[] out = new float[(int) t.size()];
      t.copyTo(NdArrays.wrap(t.shape(), DataBuffers.of(out, false, false)));
      return out;
    }
  }
}
