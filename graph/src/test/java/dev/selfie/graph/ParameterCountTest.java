package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;

class ParameterCountTest {

  /**
   * Independent count of a ResNet-50 v2 (bottleneck, expansion 4) from its layer shapes.
   *
   * @return {trainable (kernels + BN gamma/beta), state (BN moving mean/variance)}
   */
  private static long[] resnet50v2(int stemKernel, int channels, int stages) {
    int[] blocks = {3, 4, 6, 3};
    int[] widths = {256, 512, 1024, 2048};
    long kernels = (long) stemKernel * stemKernel * channels * 64;
    long bnChannels = 0;
    int cin = 64;
    for (int s = 0; s < stages; s++) {
      for (int j = 0; j < blocks[s]; j++) {
        int w = widths[s];
        int inner = w / 4;
        bnChannels += cin + inner + inner;          // bn1 on the input, bn2, bn3
        kernels += (long) cin * inner                // conv1 1x1
            + 9L * inner * inner                     // conv2 3x3
            + (long) inner * w;                      // conv3 1x1
        if (j == 0) {
          kernels += (long) cin * w;                 // projection shortcut
        }
        cin = w;
      }
    }
    bnChannels += cin;                               // final BN
    return new long[] {kernels + 2 * bnChannels, 2 * bnChannels};
  }

  private static long count(VarStore vars, Predicate<String> names, boolean state) {
    return VarStore.parameterCount(vars.all().stream()
        .filter(e -> names.test(e.name()) && (e.kind() == VarStore.Kind.STATE) == state)
        .toList());
  }

  private static VarStore buildAll(Graph g, ModelConfig c) {
    Ops tf = Ops.create(g);
    VarStore vars = new VarStore(tf);
    var images = TestSupport.images(tf, c);
    var seed = TestSupport.seed(tf);
    Selfie.pretrain(tf, vars, c, images, seed, false);
    Classifier.build(tf, vars, c, images, Classifier.Head.RESNET, seed, false);
    Classifier.build(tf, vars, c, images, Classifier.Head.HYBRID, seed, false);
    return vars;
  }

  private static Predicate<String> prefixes(String... p) {
    return name -> List.of(p).stream().anyMatch(name::startsWith);
  }

  @Test
  void paperCountsMatchAnIndependentCountAndKeras() {
    ModelConfig c = ModelConfig.preset("paper");
    try (Graph g = new Graph()) {
      VarStore vars = buildAll(g, c);
      Predicate<String> patchNet = prefixes("resnet/stem/", "resnet/stage1/", "resnet/stage2/",
          "resnet/stage3/", "resnet/stage3_final_bn/");
      long[] p = resnet50v2(3, 3, 3);
      assertEquals(p[0], count(vars, patchNet, false), "P trainable");
      assertEquals(p[1], count(vars, patchNet, true), "P moving stats");
      Predicate<String> trunk = prefixes("resnet/stem/", "resnet/stage1/", "resnet/stage2/",
          "resnet/stage3/", "resnet/stage4/", "resnet/stage4_final_bn/");
      long[] full = resnet50v2(3, 3, 4);
      long trunkTrainable = count(vars, trunk, false);
      assertEquals(full[0], trunkTrainable, "ResNet-50 v2 trunk trainable");
      assertEquals(full[1], count(vars, trunk, true), "ResNet-50 v2 trunk moving stats");
      assertTrue(trunkTrainable > 23_400_000 && trunkTrainable < 23_600_000,
          "CIFAR-stem ResNet-50 v2 without classifier ~23.5M, got " + trunkTrainable);
      assertEquals(2048L * 10 + 10, count(vars, prefixes("classifier/resnet/"), false));
      assertEquals(2L * 4 * 1024, count(vars, prefixes("position/"), false));
    }
  }

  @Test
  void imagenetStemTrunkMatchesKerasResNet50V2() {
    // tf.keras.applications.ResNet50V2(include_top=False).count_params() = 23,564,800, which
    // includes moving stats and 19,008 conv biases that we do not have (stem 64; conv3 of every
    // block: 3*256 + 4*512 + 6*1024 + 3*2048 = 15,104; the 4 projection shortcuts: 3,840).
    ModelConfig c = ModelConfig.preset("paper224");
    FlopCounter.Summary s = FlopCounter.summarize(c);
    FlopCounter.Component trunk = component(s, "resnet_trunk");
    assertEquals(23_564_800L - 19_008L, trunk.params() + trunk.stateParams());
    assertEquals(resnet50v2(7, 3, 4)[0], trunk.params());
    // ResNet-50 (stride in the 3x3 conv) at 224x224: ~4.1 G multiply-adds.
    long macs = s.flopsPerImage().finetuneResnet() / FlopCounter.FLOPS_PER_MAC;
    assertTrue(macs > 4.0e9 && macs < 4.2e9, "ResNet-50 224 MACs " + macs);
  }

  @Test
  void flopCounterParameterCountsMatchBuiltGraphs() {
    for (String preset : ModelConfig.PRESETS) {
      ModelConfig c = ModelConfig.preset(preset);
      FlopCounter.Summary s = FlopCounter.summarize(c);
      try (Graph g = new Graph()) {
        VarStore vars = buildAll(g, c);
        Map<String, Predicate<String>> parts = Map.of(
            "stem", prefixes("resnet/stem/"),
            "stage1", prefixes("resnet/stage1/"),
            "stage2", prefixes("resnet/stage2/"),
            "stage3", prefixes("resnet/stage3/"),
            "stage3_final_bn", prefixes("resnet/stage3_final_bn/"),
            "attention_pool_A", prefixes("attention/"),
            "position", prefixes("position/"),
            "stage4", prefixes("resnet/stage4/"),
            "stage4_head", prefixes("resnet/stage4/", "resnet/stage4_final_bn/",
                "classifier/resnet/"));
        for (var part : parts.entrySet()) {
          FlopCounter.Component comp = component(s, part.getKey());
          assertEquals(count(vars, part.getValue(), false), comp.params(),
              preset + " " + part.getKey());
          assertEquals(count(vars, part.getValue(), true), comp.stateParams(),
              preset + " " + part.getKey() + " state");
        }
        long all = VarStore.parameterCount(vars.trainable());
        long expected = component(s, "pretrain_total").params()
            + component(s, "stage4_head").params()
            + count(vars, prefixes("classifier/hybrid/"), false);
        assertEquals(expected, all, preset + " all trainable");
      }
      assertTrue(s.flopsPerImage().pretrain() > s.flopsPerImage().patchNetwork());
      assertEquals(s.flopsPerImage().pretrain(), s.flopsPerImage().patchNetwork()
          + s.flopsPerImage().attentionPool() + s.flopsPerImage().selfieLoss());
    }
  }

  @Test
  void tinyFlopsByHand() {
    ModelConfig c = ModelConfig.preset("tiny");
    FlopCounter.Flops f = FlopCounter.summarize(c).flopsPerImage();
    // Attention over T = 1 + 12 tokens, d 32, ffn 48, 2 layers.
    long t = 13;
    long attn = 2 * (4 * t * 32 * 32 + 2 * t * t * 32 + 2 * t * 32 * 48);
    assertEquals(2 * attn, f.attentionPool());
    assertEquals(2L * 4 * 4 * 32, f.selfieLoss());
    // Stem on an 8x8 patch: 64 positions x 3x3x3x8.
    long stem = 64L * 27 * 8;
    // Stage 1 (8x8, 8 -> 16, inner 4): conv1 8*4, conv2 9*4*4, conv3 4*16, shortcut 8*16.
    long stage1 = 64L * (8 * 4 + 9 * 4 * 4 + 4 * 16 + 8 * 16);
    // Stage 2 (stride 2 -> 4x4, 16 -> 32, inner 8): conv1 at 8x8, the others at 4x4.
    long stage2 = 64L * 16 * 8 + 16L * (9 * 8 * 8 + 8 * 32 + 16 * 32);
    // Stage 3 (-> 2x2, 32 -> 32, inner 8).
    long stage3 = 16L * 32 * 8 + 4L * (9 * 8 * 8 + 8 * 32 + 32 * 32);
    assertEquals(2 * 16 * (stem + stage1 + stage2 + stage3), f.patchNetwork());
  }

  private static FlopCounter.Component component(FlopCounter.Summary s, String name) {
    return s.components().stream().filter(c -> c.name().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no component " + name + " in "
            + s.components().stream().map(FlopCounter.Component::name)
                .collect(Collectors.joining(", "))));
  }
}
