package dev.selfie.ci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The regression run of {@code mvn -B verify}: {@link Regression.Settings#ci()} on CIFAR-10 when
 * it is found (--data-dir unset: {@code $SELFIE_DATA}, then {@code ~/.cache/selfie}), otherwise on
 * real Fashion-MNIST images written as CIFAR-10 records; prints the figures as a table and checks
 * them against {@link Regression.Thresholds#ci}. {@code -Dselfie.ci.seed=N} reruns it with
 * another seed (how the thresholds were measured).
 *
 * <p>Measured on Fashion-MNIST (2 cores shared with other builds, 2-3 min a run; each seed's
 * figures are reproducible to the last digit on the same machine):
 * <pre>
 * seed | patch acc. | baseline | pretrained | pretrained - baseline
 *    1 |   0.653    |  65.95%  |   62.10%   |  -3.85 points
 *    2 |   0.663    |  62.95%  |   63.75%   |  +0.80
 *    3 |   0.670    |  60.00%  |   65.35%   |  +5.35
 * </pre>
 * At this scale (tiny preset, 800 pretraining steps) the difference between pretrained and
 * baseline is within the seed-to-seed spread, so it is printed, not asserted.
 */
class RegressionTest {

  @Test
  void pretrainThenFinetuneClearTheThresholds(@TempDir Path work) throws Exception {
    long seed = Long.parseLong(System.getProperty("selfie.ci.seed", "1"));
    Regression.Settings s = Regression.Settings.ci().withSeed(seed);
    Regression.Figures f = Regression.run(s, work, null);
    Regression.Thresholds t = Regression.Thresholds.ci(f.data().origin());
    System.out.println();
    System.out.println(Regression.table(f, t));

    assertEquals(s.testImages(), f.testExamples(), "evaluation covers the whole test subset");
    assertEquals(0.25, f.chanceAccuracy(), 1e-12);
    assertTrue(f.restoredVariables() > 0, "finetuning restored the pretrained trunk");
    assertTrue(f.patchAccuracy() > t.patchAccuracy(),
        "patch-selection accuracy " + f.patchAccuracy() + " <= " + t.patchAccuracy());
    assertTrue(f.baselineAccuracy() > t.baselineAccuracy(),
        "baseline test accuracy " + f.baselineAccuracy() + " <= " + t.baselineAccuracy());
    assertTrue(f.pretrainedAccuracy() > t.pretrainedAccuracy(),
        "pretrained test accuracy " + f.pretrainedAccuracy() + " <= " + t.pretrainedAccuracy());
  }
}
