package dev.selfie.training.api;

import java.nio.file.Path;

/** The Java API example of README.md, verbatim between the markers (ReadmeExampleTest checks). */
final class ReadmeExample {

  private ReadmeExample() {}

  // readme:start
  static Path trainAndExport(Path images, Path runs, String preset, long steps) {
    Selfie.Pretrained pretrained = Selfie.pretrain(images)   // images/train/<class>/*, labels unused
        .preset(preset).steps(steps)
        .onProgress(p -> System.out.printf("%s %d/%d loss %.3f%n", p.task(), p.step(), p.endStep(), p.loss()))
        .out(runs.resolve("pretrain"))
        .run();
    Selfie.Finetuned model = Selfie.finetune(images, pretrained)   // 5% of the labels
        .preset(preset).steps(steps).labelFraction(0.05)
        .out(runs.resolve("finetune"))
        .run();
    System.out.printf("test accuracy %.2f%%%n", 100 * model.testAccuracy());   // images/test/<class>/*
    return model.savedModel();   // runs/finetune/savedmodel: serve it; Python loads its 1/
  }
  // readme:end
}
