package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.formats.TFRecords;
import dev.selfie.training.jobs.RunData;
import dev.selfie.training.run.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 8 end to end on ImageNet TFRecord shards (generated: real JPEGs of 250-270 x 230 pixels,
 * labels 1..1000) with the paper224 preset -- ImageNet stem, 7x7 grid of 32x32 patches, 12 of 49
 * masked, full ResNet-50 widths: pretrain 2 steps, finetune 2 steps from it (batch 2), export,
 * predict a JPEG. Streams through TFRecordDataset + in-graph JPEG decode + random-resized-crop.
 */
class Paper224EndToEndTest {

  @TempDir Path tmp;

  @Test
  void imagenetTfRecordsWithThePaper224Preset() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("home").resolve("imagenet"));
    for (String shard : new String[] {"train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"}) {
      try (TFRecords.Writer w = new TFRecords.Writer(dir.resolve(shard))) {
        for (int i = 0; i < 3; i++) {
          w.write(TFRecords.imageExample(DatasetFormatsEndToEndTest.encode(250 + 10 * i, 230, DatasetFormatsEndToEndTest.rgb(i), "jpg"), 1 + i * 300));
        }
      }
    }
    Path img = Files.write(tmp.resolve("x.jpg"), DatasetFormatsEndToEndTest.encode(300, 260, DatasetFormatsEndToEndTest.rgb(2), "jpg"));
    DatasetFormatsEndToEndTest.pipeline("imagenet", tmp.resolve("home"), "paper224", 2, tmp.resolve("runs"), null, List.of(img));
    DatasetSpec spec = Json.read(tmp.resolve("runs").resolve("fine").resolve(RunData.FILE), DatasetSpec.class);
    assertEquals(224, spec.imageSize());
    assertEquals(1000, spec.numClasses());
  }
}
