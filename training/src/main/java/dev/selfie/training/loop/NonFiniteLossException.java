package dev.selfie.training.loop;

/** Thrown by {@link TrainingLoop} when a step's loss is NaN or infinite. */
public final class NonFiniteLossException extends RuntimeException {
  private final long step;
  private final double loss;

  public NonFiniteLossException(long step, double loss) {
    super("loss is " + loss + " at step " + step
        + ": training stopped; the weights of this step are not saved, the last checkpoint"
        + " before it is left as it was (lower the learning rate or enable gradient clipping)");
    this.step = step;
    this.loss = loss;
  }

  public long step() {
    return step;
  }

  public double loss() {
    return loss;
  }
}
