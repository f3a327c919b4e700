package org.tune4j.robust;

import java.util.ArrayList;
import java.util.List;

/**
 * Checks that an evaluation's attack was strong enough to trust (Carlini et al. 2019, "On evaluating
 * adversarial robustness"): robust accuracy must not rise with ε or with more PGD steps, PGD must do at
 * least as well as FGSM, and a large ε must drive accuracy near zero. A model that fails these is
 * flagged as possibly masking its gradients, not reported as robust.
 */
public final class AttackSanity {
    /** One measured point. */
    public record Point(float epsilon, int steps, double accuracy) {}

    private AttackSanity() {}

    /** The problems found (empty when the attack looks sound). {@code fgsm} is FGSM's accuracy at the largest ε measured. */
    public static List<String> problems(List<Point> pgd, double fgsmAtLargest, double tolerance) {
        List<String> out = new ArrayList<>();
        for (Point a : pgd)
            for (Point b : pgd) {
                if (b.epsilon() >= a.epsilon() && b.steps() >= a.steps() && (b.epsilon() > a.epsilon() || b.steps() > a.steps())
                        && b.accuracy() > a.accuracy() + tolerance) {
                    out.add(String.format("accuracy rose from %.3f (eps %.3f, %d steps) to %.3f (eps %.3f, %d steps)", a.accuracy(), a.epsilon(),
                            a.steps(), b.accuracy(), b.epsilon(), b.steps()));
                }
            }
        Point largest = pgd.stream().max((a, b) -> a.epsilon() != b.epsilon() ? Float.compare(a.epsilon(), b.epsilon()) : Integer.compare(a.steps(), b.steps())).orElse(null);
        if (largest != null && largest.accuracy() > fgsmAtLargest + tolerance) {
            out.add(String.format("PGD (%.3f) is weaker than FGSM (%.3f) at eps %.3f: gradient masking?", largest.accuracy(), fgsmAtLargest, largest.epsilon()));
        }
        if (largest != null && largest.epsilon() >= 0.3f && largest.accuracy() > 0.1) {
            out.add(String.format("accuracy %.3f at eps %.3f: an unbounded-looking model usually means the attack does not reach it", largest.accuracy(), largest.epsilon()));
        }
        return out;
    }
}
