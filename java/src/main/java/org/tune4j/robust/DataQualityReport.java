package org.tune4j.robust;

import java.util.List;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Classifier;

/**
 * Both data-quality checks on a train/test pair, with counts and the first examples: test images that
 * (nearly) duplicate a training image, and test labels that a model trained only on the train split
 * confidently contradicts (its probabilities are out-of-sample there, as confident learning needs).
 */
public record DataQualityReport(int trainImages, int testImages, int maxHammingDistance, double maxPixelDifference, int duplicates,
        List<DataQuality.Duplicate> duplicateExamples, int labelIssues, List<DataQuality.LabelIssue> labelIssueExamples) {
    /** dHash within 4 bits and a mean absolute pixel difference of at most 8 (of 255). */
    public static final int HAMMING = 4;
    public static final double PIXEL_DIFFERENCE = 8.0;

    public static DataQualityReport of(Backend backend, Classifier trainedOnTrain, ImageDataset train, ImageDataset test, int examples) {
        List<DataQuality.Duplicate> dups = DataQuality.duplicates(train, test, HAMMING, PIXEL_DIFFERENCE);
        int[] labels = new int[test.size()];
        for (int i = 0; i < labels.length; i++) labels[i] = test.label(i);
        List<DataQuality.LabelIssue> issues = DataQuality.labelIssues(Predictions.probabilities(backend, trainedOnTrain, test), labels,
                test.classes().size());
        return new DataQualityReport(train.size(), test.size(), HAMMING, PIXEL_DIFFERENCE, dups.size(),
                List.copyOf(dups.subList(0, Math.min(examples, dups.size()))), issues.size(),
                List.copyOf(issues.subList(0, Math.min(examples, issues.size()))));
    }
}
