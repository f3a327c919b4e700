package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextDataset;
import org.tune4j.experiments.TextCompression;
import org.tune4j.experiments.TextRobustness;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.train.TextTrainer;

/** The whole text robustness story, end to end, on a small random BERT and made-up mail of two eras: every part runs and reports. */
class TextRobustnessRunTest {
    private static final String[] HAM = {"meeting", "notes", "code", "review", "lunch", "project"}, SPAM = {"cheap", "offer", "win", "money", "prize", "free"};

    /** Mail of one group: ham or spam words (the newer era adds its own), a From domain that gives the label away. */
    private static void mails(List<SpamAssassin.Mail> out, String group, int label, int n, SplittableRandom rng, String extra) {
        String[] pool = label == 0 ? HAM : SPAM;
        for (int i = 0; i < n; i++) {
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < 6 + rng.nextInt(8); w++) sb.append(rng.nextInt(4) == 0 && extra != null ? extra : pool[rng.nextInt(pool.length)]).append(' ');
            out.add(new SpamAssassin.Mail(group, sb.append(group).append(' ').append(i).toString(), label,
                    Map.of("From", "someone@" + (label == 0 ? "work.example" : "deals.example"), "Subject", "message " + i)));
        }
    }

    @Test
    void everyPartRunsOnASmallModelAndReports(@TempDir Path dir) throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        SplittableRandom rng = new SplittableRandom(7);
        List<SpamAssassin.Mail> mails = new ArrayList<>();
        mails(mails, "easy-ham-1", 0, 70, rng, null);
        mails(mails, "spam-1", 1, 70, rng, null);
        mails(mails, "easy-ham-2", 0, 30, rng, "weekly");
        mails(mails, "spam-2", 1, 30, rng, "crypto");
        mails(mails, "hard-ham-1", 0, 20, rng, "newsletter");
        List<String> brown = new ArrayList<>();
        for (int i = 0; i < 20; i++) brown.add("the jury said the court vote on the ship and the star " + i);
        int[] genres = new int[brown.size()];
        for (int i = 0; i < genres.length; i++) genres[i] = i % 2;
        TextDataset far = new TextDataset("brown", brown, genres, List.of("press", "fiction"));
        var o = new TextRobustness.Options(List.of(1L), 40, 20, 30, 10, 3, 40, 15, 24, 1, 1e-2f,
                new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), 0.05, "cf blue harbor", 6, List.of(1, 2), true, true,
                new TextTrainer.FreeLb(1, 0.1f, 0f, 0.1f), 20, 10, 4, BertClassifier.Pooling.MEAN);
        List<String> lines = new ArrayList<>();
        java.util.Map<String, Integer> epochsHeard = new java.util.LinkedHashMap<>(); // a progress bar's view: each training's epochs, by its name
        TextRobustness.Result r = TextRobustness.run(CpuBackend.get(), model, mails, far, o, lines::add, name -> new org.tune4j.train.Trainer.Listener() {
            @Override
            public void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {
                epochsHeard.merge(name, 1, Integer::sum);
            }
        });
        String log = String.join("\n", lines);
        assertEquals(1, r.runs().size());
        TextRobustness.Run run = r.runs().get(0);
        assertEquals(3, run.drift().era().size(), "one report per older-era batch");
        assertEquals(4, run.drift().stream().size(), "40 newer texts in batches of 10");
        assertTrue(run.drift().falseAlarms() >= 0 && run.drift().falseAlarms() <= 3);
        for (double auroc : run.ood().farAuroc().values()) assertTrue(auroc >= 0 && auroc <= 1, run.ood().farAuroc().toString());
        assertTrue(run.ood().farAuroc().containsKey("pretrained knn"));
        assertTrue(run.quality().rawFields().stream().anyMatch(f -> f.field().equals("From") && f.flagged()), "the From domain gives the label away: " + run.quality().rawFields());
        assertEquals(2, run.quality().flipped(), "5% of 40 training labels");
        assertNotNull(run.poison());
        assertEquals(2, run.poison().poisoned(), "5% of 40 training texts");
        assertNotNull(run.evasion());
        assertTrue(run.evasion().attacked() <= 6);
        assertEquals(List.of(1, 2), List.copyOf(run.evasion().success().keySet()));
        assertNotNull(run.evasion().adversarialSuccess(), "the FreeLB model is attacked too");
        assertEquals(List.of("f32", "int8", "2:4", "int8 2:4"), run.compression().stream().map(TextCompression.Variant::name).toList());
        for (TextCompression.Variant v : run.compression()) assertTrue(v.batch1Ms() > 0 && v.accuracy() >= 0 && v.accuracy() <= 1, v.toString());
        assertEquals(20, run.update().window());
        assertEquals(10, run.update().rehearsal());
        assertTrue(log.contains("leakage:") && log.contains("drift:") && log.contains("evasion:") && log.contains("continual update"), log);
        assertEquals(List.of("lora seed 1", "freelb seed 1", "poisoned seed 1", "filtered seed 1", "2:4 recovery seed 1", "joint seed 1", "update seed 1"),
                List.copyOf(epochsHeard.keySet()), "every training tells its steps, in the order the run trains them");
        for (var e : epochsHeard.entrySet()) assertEquals(o.epochs(), e.getValue(), e.getKey() + "'s epochs");
    }
}
