package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.Cifar10;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LabelFractionsTest {

  static int[] balanced(int perClass, int classes) {
    int[] l = new int[perClass * classes];
    for (int i = 0; i < l.length; i++) {
      l[i] = (i * 3) % classes; // interleaved, not sorted by class (classes must not divide 3)
    }
    return l;
  }

  @Test
  void fivePercentOfSixThousandPerClassIsThreeHundredPerClass() {
    int[] labels = balanced(6000, 10);
    assertArrayEquals(new int[] {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000},
        LabelFractions.countsPerClass(labels, java.util.stream.IntStream.range(0, 60000).toArray(), 10));
    int[] idx = LabelFractions.select(labels, 10, 0.05, 1);
    assertEquals(3000, idx.length);
    int[] counts = LabelFractions.countsPerClass(labels, idx, 10);
    for (int c : counts) {
      assertEquals(300, c);
    }
    for (int i = 1; i < idx.length; i++) {
      assertTrue(idx[i] > idx[i - 1], "sorted, unique");
    }
  }

  @Test
  void deterministicPerSeedDifferentAcrossSeeds() {
    int[] labels = balanced(500, 10);
    int[] a = LabelFractions.select(labels, 10, 0.1, 7);
    int[] b = LabelFractions.select(labels, 10, 0.1, 7);
    int[] c = LabelFractions.select(labels, 10, 0.1, 8);
    assertArrayEquals(a, b);
    assertFalse(Arrays.equals(a, c));
    assertEquals(a.length, c.length);
    // Fraction 1 selects everything.
    assertEquals(5000, LabelFractions.select(labels, 10, 1.0, 3).length);
  }

  @Test
  void rejectsBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> LabelFractions.select(new int[] {0, 1}, 2, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> LabelFractions.select(new int[] {0, 1}, 2, 1.5, 1));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> LabelFractions.select(new int[] {0, 5}, 2, 0.5, 1));
    assertTrue(e.getMessage().contains("label 5"), e.getMessage());
  }

  @Test
  void manifestRoundTripsThroughJsonAndValidates(@TempDir Path tmp) throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp.resolve("c"), 40, 5));
    LabelManifest m = LabelManifest.create(src, Split.TRAIN, 0.25, 11);
    assertEquals(10, m.indices().length); // 4 per class * 0.25 = 1 per class
    Path f = tmp.resolve("runs/labels.json");
    m.write(f);
    String json = Files.readString(f);
    assertTrue(json.contains("\"countsPerClass\""), json);
    LabelManifest back = LabelManifest.read(f);
    assertEquals(m.dataset(), back.dataset());
    assertEquals(m.split(), back.split());
    assertEquals(m.seed(), back.seed());
    assertEquals(m.fraction(), back.fraction());
    assertArrayEquals(m.indices(), back.indices());
    assertArrayEquals(m.countsPerClass(), back.countsPerClass());
    back.validateAgainst(src);

    Files.writeString(f, json.replace("\"countsPerClass\" : [ 1", "\"countsPerClass\" : [ 2"));
    BadDataException bad = assertThrows(BadDataException.class, () -> LabelManifest.read(f));
    assertTrue(bad.getMessage().contains(f.toString()), bad.getMessage());
    Files.writeString(f, "{not json");
    assertThrows(BadDataException.class, () -> LabelManifest.read(f));
  }

  @Test
  void selectionSkipsTheHeldOutSplitAndKeepsThePerClassCount() {
    int[] labels = balanced(600, 10);
    int[] held = LabelFractions.select(labels, 10, 5000.0 / 6000, 0);   // 500 per class held out
    int[] chosen = LabelFractions.select(labels, 10, 0.01, 3, held);
    // 1% of each whole class (6 of 600), not 1% of what is left (1 of 100).
    assertArrayEquals(new int[] {6, 6, 6, 6, 6, 6, 6, 6, 6, 6},
        LabelFractions.countsPerClass(labels, chosen, 10));
    java.util.Set<Integer> heldSet = new java.util.HashSet<>();
    for (int i : held) {
      heldSet.add(i);
    }
    for (int i : chosen) {
      assertFalse(heldSet.contains(i), "example " + i + " is held out but was chosen");
    }
    // Capped by what remains: 100% of the labels is everything not held out.
    int[] all = LabelFractions.select(labels, 10, 1.0, 3, held);
    assertEquals(labels.length - held.length, all.length);
    // Without exclusion the 4-argument form is unchanged (same draw for the same seed).
    assertArrayEquals(LabelFractions.select(labels, 10, 0.01, 3),
        LabelFractions.select(labels, 10, 0.01, 3, new int[0]));
  }

  @Test
  void aClassWhollyHeldOutIsAnError() {
    int[] labels = {0, 0, 1, 1};
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LabelFractions.select(labels, 2, 0.5, 1, new int[] {2, 3}));
    assertTrue(e.getMessage().contains("class 1"), e.getMessage());
  }

  @Test
  void validationSplitIsBalancedAndDisjointFromTheLabels(@TempDir Path tmp) throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp.resolve("c"), 40, 5)); // 4 per class
    LabelManifest val = LabelManifest.validation(src, Split.TRAIN, 20, 0);
    assertArrayEquals(new int[] {2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, val.countsPerClass());
    LabelManifest labels = LabelManifest.create(src, Split.TRAIN, 0.5, 7, val);
    assertEquals(20, labels.indices().length);
    assertTrue(labels.disjointFrom(val));
    assertFalse(val.disjointFrom(val));
    assertArrayEquals(val.indices(), LabelManifest.validation(src, Split.TRAIN, 20, 0).indices());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LabelManifest.validation(src, Split.TRAIN, 40, 0));
    assertTrue(e.getMessage().contains("--validation"), e.getMessage());
  }
}
