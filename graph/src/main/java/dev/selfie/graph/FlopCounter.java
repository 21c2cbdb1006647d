package dev.selfie.graph;

import java.util.ArrayList;
import java.util.List;

/**
 * Analytic parameter counts and forward FLOPs of a {@link ModelConfig}, computed from the layer
 * shapes (no graph is built). Mirrors exactly the variables that {@link ResNet}, {@link
 * Attention}, {@link Selfie} and {@link Classifier} create; tests check the counts against a
 * built graph's {@link VarStore}.
 *
 * <p>FLOP convention: only the multiply-adds of convolutions and matrix products are counted (1
 * MAC = 2 FLOPs); batch/layer norm, activations, softmax, pooling, residual adds and gathers are
 * ignored (a few percent). Convolutions use SAME padding: a stride-s layer maps H to ceil(H/s).
 * FLOPs are per image, forward only (a training step's backward is about twice the forward).
 */
public final class FlopCounter {
  private FlopCounter() {}

  /** FLOPs per MAC. */
  public static final int FLOPS_PER_MAC = 2;

  /**
   * One component of the model.
   *
   * @param name e.g. "stage2"
   * @param params trainable scalars (kernels, gammas/betas, biases, embeddings, u0)
   * @param stateParams non-trained scalars (BN moving mean/variance)
   * @param description what it contains and which variable prefixes
   */
  public record Component(String name, long params, long stateParams, String description) {}

  /**
   * Forward FLOPs per image (multiply-adds x 2).
   *
   * @param patchNetwork P on all n patches of the image
   * @param attentionPool A over [u0, n - m context embeddings]
   * @param selfieLoss the m x m logits
   * @param pretrain total of the pretraining step's forward pass
   * @param finetuneResnet the full ResNet on the whole image + classifier
   * @param finetuneHybrid P on all n patches + A over [u0, n patches] + classifier
   * @param imageEmbedding stem + stages 1-3 on the whole image (the RESNET head's reused part)
   * @param convention how they are counted
   */
  public record Flops(
      long patchNetwork,
      long attentionPool,
      long selfieLoss,
      long pretrain,
      long finetuneResnet,
      long finetuneHybrid,
      long imageEmbedding,
      String convention) {}

  /** Everything {@code selfie model summary} prints. */
  public record Summary(ModelConfig config, List<Component> components, Flops flopsPerImage) {}

  /** Parameters, state and MACs of a part of the network. */
  private record Count(long params, long state, long macs) {
    Count plus(Count o) {
      return new Count(params + o.params, state + o.state, macs + o.macs);
    }

    static final Count ZERO = new Count(0, 0, 0);
  }

  /** The counts of config {@code c}. */
  public static Summary summarize(ModelConfig c) {
    int p = c.patchSize();
    int s = c.imageSize();
    int n = c.numPatches();
    int m = c.numMasked();
    int d = c.d();
    int k = c.numClasses();

    Count stem = stem(c, p);
    Count[] stagesP = stages(c, p);
    Count bn3 = batchNorm(c.stageWidths().get(2));
    Count patchNet = stem.plus(stagesP[0]).plus(stagesP[1]).plus(stagesP[2]).plus(bn3);
    Count attnPre = attention(c, 1 + n - m);
    Count position = new Count(2L * c.grid() * d, 0, 0);
    Count loss = new Count(0, 0, (long) m * m * d);

    Count stemImg = stem(c, s);
    Count[] stagesImg = stages(c, s);
    Count bn4 = batchNorm(c.stageWidths().get(3));
    int w4 = c.stageWidths().get(3);
    Count resnetDense = new Count((long) w4 * k + k, 0, (long) w4 * k);
    Count trunk = stemImg;
    for (Count st : stagesImg) {
      trunk = trunk.plus(st);
    }
    trunk = trunk.plus(bn4);
    Count imageEmb = stemImg.plus(stagesImg[0]).plus(stagesImg[1]).plus(stagesImg[2]);
    Count attnAll = attention(c, 1 + n);
    Count hybridDense = new Count((long) d * k + k, 0, (long) d * k);

    List<Component> out = new ArrayList<>();
    out.add(component("stem", stem, ResNet.STEM + "/"));
    for (int i = 0; i < 3; i++) {
      out.add(component("stage" + (i + 1), stagesP[i],
          c.stageBlocks().get(i) + " blocks, width " + c.stageWidths().get(i) + ", "
              + ResNet.stageName(i + 1) + "/"));
    }
    out.add(component("stage3_final_bn", bn3, ResNet.finalBnName(3) + "/"));
    out.add(component("patch_network_P", patchNet, "stem + stages 1-3 + final BN: h in R^" + d));
    out.add(component("attention_pool_A", attnPre,
        "u0 + " + c.layers() + " layers (d " + d + ", " + c.heads() + " heads, ffn " + c.ffn()
            + ") + final LN, " + Attention.PREFIX + "/"));
    out.add(component("position", position, "row + column embeddings [" + c.grid() + ", " + d
        + "] each, " + Selfie.POSITION + "/"));
    out.add(component("pretrain_total", patchNet.plus(attnPre).plus(position), "P + A + position"));
    out.add(component("stage4", stagesImg[3],
        c.stageBlocks().get(3) + " blocks, width " + w4 + ", " + ResNet.stageName(4) + "/"));
    out.add(component("stage4_head", stagesImg[3].plus(bn4).plus(resnetDense),
        "stage 4 + final BN + classifier " + w4 + "x" + k + " (fresh in finetuning)"));
    out.add(component("resnet_trunk", trunk,
        "full ResNet v2 without classifier: stem + stages 1-4 + final BN"));
    out.add(component("resnet_classifier", trunk.plus(resnetDense),
        "finetune RESNET head: trunk + dense " + w4 + "x" + k));
    out.add(component("hybrid_classifier", patchNet.plus(attnPre).plus(hybridDense),
        "finetune HYBRID head: P + A + dense " + d + "x" + k));

    long fP = FLOPS_PER_MAC * n * patchNet.macs();
    long fA = FLOPS_PER_MAC * attnPre.macs();
    long fL = FLOPS_PER_MAC * loss.macs();
    Flops flops = new Flops(fP, fA, fL, fP + fA + fL,
        FLOPS_PER_MAC * trunk.plus(resnetDense).macs(),
        fP + FLOPS_PER_MAC * (attnAll.macs() + hybridDense.macs()),
        FLOPS_PER_MAC * imageEmb.macs(),
        "forward, per image, 2 FLOPs per multiply-add of conv/matmul layers only, SAME padding");
    return new Summary(c, List.copyOf(out), flops);
  }

  private static Component component(String name, Count count, String description) {
    return new Component(name, count.params(), count.state(), description);
  }

  private static Count batchNorm(int ch) {
    return new Count(2L * ch, 2L * ch, 0);
  }

  private static Count conv(int h, int k, int cin, int cout, int stride) {
    long params = (long) k * k * cin * cout;
    long hout = ResNet.ceilDiv(h, stride);
    return new Count(params, 0, hout * hout * params);
  }

  /** The stem on an input of side {@code size}. */
  private static Count stem(ModelConfig c, int size) {
    return c.stem() == ModelConfig.Stem.CONV3X3
        ? conv(size, 3, c.channels(), c.stemWidth(), 1)
        : conv(size, 7, c.channels(), c.stemWidth(), 2);
  }

  /** The four stages on an input of side {@code size} (before the stem). */
  private static Count[] stages(ModelConfig c, int size) {
    int h = ResNet.afterStem(c, size);
    int cin = c.stemWidth();
    int[] strides = ResNet.strides();
    Count[] out = new Count[4];
    for (int i = 0; i < 4; i++) {
      int w = c.stageWidths().get(i);
      Count st = Count.ZERO;
      for (int j = 0; j < c.stageBlocks().get(i); j++) {
        int stride = j == 0 ? strides[i] : 1;
        st = st.plus(bottleneck(h, cin, w, stride));
        h = ResNet.ceilDiv(h, stride);
        cin = w;
      }
      out[i] = st;
    }
    return out;
  }

  private static Count bottleneck(int h, int cin, int out, int stride) {
    int f = out / 4;
    Count b = batchNorm(cin)
        .plus(conv(h, 1, cin, f, 1))
        .plus(batchNorm(f))
        .plus(conv(h, 3, f, f, stride))
        .plus(batchNorm(f));
    int hout = ResNet.ceilDiv(h, stride);
    b = b.plus(conv(hout, 1, f, out, 1));
    if (stride != 1 || cin != out) {
      b = b.plus(conv(h, 1, cin, out, stride));
    }
    return b;
  }

  /** A over a sequence of {@code t} tokens (u0 included). */
  private static Count attention(ModelConfig c, int t) {
    long d = c.d();
    long f = c.ffn();
    long perLayerParams = 2 * d                 // ln1
        + (d * d + d) + d * d + (d * d + d)      // query (bias), key (no bias), value (bias)
        + (d * d + d)                            // output
        + 2 * d                                  // ln2
        + (d * f + f) + (f * d + d);             // fc1, fc2
    long perLayerMacs = 4 * t * d * d + 2L * t * t * d + 2 * t * d * f;
    return new Count(d + c.layers() * perLayerParams + 2 * d, 0, c.layers() * perLayerMacs);
  }
}
