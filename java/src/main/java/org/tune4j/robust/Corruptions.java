package org.tune4j.robust;

import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.data.ImageDataset;

/**
 * Image corruptions in the spirit of MNIST-C (Mu and Gilmer 2019) and CIFAR-10-C (Hendrycks and
 * Dietterich 2019), each at severities 1 to 5, seeded per image. Pixels are in [0, 1]; results are
 * clipped to it.
 */
public final class Corruptions {
    /** The corruptions, by their usual names. */
    public enum Kind {
        GAUSSIAN_NOISE, SHOT_NOISE, IMPULSE_NOISE, GAUSSIAN_BLUR, CONTRAST, BRIGHTNESS, ROTATE, SHEAR, TRANSLATE, ZOOM, ELASTIC;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public static final List<Kind> ALL = List.of(Kind.values());

    private Corruptions() {}

    /** The corrupted copy of {@code data}; image i depends only on (kind, severity, seed, i). */
    public static ImageDataset apply(ImageDataset data, Kind kind, int severity, long seed) {
        if (severity < 1 || severity > 5) throw new IllegalArgumentException("severity must be 1 to 5, is " + severity);
        int h = data.height(), w = data.width(), n = h * w;
        byte[] out = new byte[data.size() * n];
        int[] labels = new int[data.size()];
        double[] img = new double[n], res = new double[n];
        for (int i = 0; i < data.size(); i++) {
            SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + kind.ordinal() * 1_000_003L + severity * 7919L + i);
            for (int p = 0; p < n; p++) img[p] = data.pixel(i, p) / 255.0;
            corrupt(kind, severity, img, res, h, w, rng);
            for (int p = 0; p < n; p++) out[i * n + p] = (byte) Math.round(255 * Math.min(1, Math.max(0, res[p])));
            labels[i] = data.label(i);
        }
        return new ImageDataset(out, labels, h, w, data.classes());
    }

    private static void corrupt(Kind kind, int s, double[] x, double[] y, int h, int w, SplittableRandom rng) {
        int n = h * w;
        switch (kind) {
            case GAUSSIAN_NOISE -> {
                double sigma = new double[] {0.08, 0.12, 0.18, 0.26, 0.38}[s - 1];
                for (int p = 0; p < n; p++) y[p] = x[p] + sigma * gaussian(rng);
            }
            case SHOT_NOISE -> {
                double photons = new double[] {60, 25, 12, 5, 3}[s - 1];
                for (int p = 0; p < n; p++) y[p] = poisson(x[p] * photons, rng) / photons;
            }
            case IMPULSE_NOISE -> {
                double amount = new double[] {0.03, 0.06, 0.09, 0.17, 0.27}[s - 1];
                for (int p = 0; p < n; p++) {
                    double r = rng.nextDouble();
                    y[p] = r < amount / 2 ? 0 : r < amount ? 1 : x[p];
                }
            }
            case GAUSSIAN_BLUR -> blur(x, y, h, w, new double[] {0.6, 0.9, 1.2, 1.6, 2.2}[s - 1]);
            case CONTRAST -> {
                double c = new double[] {0.6, 0.45, 0.3, 0.2, 0.12}[s - 1], mean = 0;
                for (int p = 0; p < n; p++) mean += x[p];
                mean /= n;
                for (int p = 0; p < n; p++) y[p] = mean + c * (x[p] - mean);
            }
            case BRIGHTNESS -> {
                double b = new double[] {0.1, 0.2, 0.3, 0.4, 0.5}[s - 1];
                for (int p = 0; p < n; p++) y[p] = x[p] + b;
            }
            case ROTATE -> warp(x, y, h, w, Math.toRadians(new double[] {10, 20, 30, 40, 50}[s - 1] * sign(rng)), 0, 0, 0, 1);
            case SHEAR -> warp(x, y, h, w, 0, new double[] {0.15, 0.25, 0.35, 0.45, 0.6}[s - 1] * sign(rng), 0, 0, 1);
            case TRANSLATE -> {
                double d = new double[] {2, 3, 4, 5, 6}[s - 1];
                double a = rng.nextDouble() * 2 * Math.PI;
                warp(x, y, h, w, 0, 0, d * Math.cos(a), d * Math.sin(a), 1);
            }
            case ZOOM -> warp(x, y, h, w, 0, 0, 0, 0, new double[] {1.15, 1.3, 1.45, 1.6, 1.8}[s - 1]);
            case ELASTIC -> elastic(x, y, h, w, new double[] {1.0, 1.5, 2.0, 2.5, 3.0}[s - 1], rng);
        }
    }

    private static double sign(SplittableRandom rng) {
        return rng.nextBoolean() ? 1 : -1;
    }

    private static double gaussian(SplittableRandom rng) {
        return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
    }

    /** Knuth's method for small means, a normal approximation above. */
    private static double poisson(double mean, SplittableRandom rng) {
        if (mean > 30) return Math.max(0, mean + Math.sqrt(mean) * gaussian(rng));
        double l = Math.exp(-mean), p = 1;
        int k = 0;
        do {
            k++;
            p *= rng.nextDouble();
        } while (p > l);
        return k - 1;
    }

    /** Separable Gaussian blur of standard deviation sigma pixels. */
    private static void blur(double[] x, double[] y, int h, int w, double sigma) {
        int r = (int) Math.ceil(3 * sigma);
        double[] k = new double[2 * r + 1], tmp = new double[h * w];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-i * i / (2 * sigma * sigma));
        for (int i = 0; i < k.length; i++) k[i] /= sum;
        for (int row = 0; row < h; row++)
            for (int c = 0; c < w; c++) {
                double v = 0;
                for (int i = -r; i <= r; i++) v += k[i + r] * x[row * w + Math.min(w - 1, Math.max(0, c + i))];
                tmp[row * w + c] = v;
            }
        for (int row = 0; row < h; row++)
            for (int c = 0; c < w; c++) {
                double v = 0;
                for (int i = -r; i <= r; i++) v += k[i + r] * tmp[Math.min(h - 1, Math.max(0, row + i)) * w + c];
                y[row * w + c] = v;
            }
    }

    /** y(r, c) = x at the point mapped by rotation, shear, translation and zoom about the centre; bilinear, 0 outside. */
    private static void warp(double[] x, double[] y, int h, int w, double angle, double shear, double dx, double dy, double zoom) {
        double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0, cos = Math.cos(angle), sin = Math.sin(angle);
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                double u = (c - cx - dx) / zoom, v = (r - cy - dy) / zoom;
                u -= shear * v;
                double sx = cos * u + sin * v + cx, sy = -sin * u + cos * v + cy;
                y[r * w + c] = bilinear(x, h, w, sy, sx);
            }
    }

    private static double bilinear(double[] x, int h, int w, double sy, double sx) {
        int y0 = (int) Math.floor(sy), x0 = (int) Math.floor(sx);
        double fy = sy - y0, fx = sx - x0, v = 0;
        for (int a = 0; a <= 1; a++)
            for (int b = 0; b <= 1; b++) {
                int yy = y0 + a, xx = x0 + b;
                if (yy >= 0 && yy < h && xx >= 0 && xx < w) v += x[yy * w + xx] * (a == 1 ? fy : 1 - fy) * (b == 1 ? fx : 1 - fx);
            }
        return v;
    }

    /** Elastic deformation (Simard et al. 2003): a smoothed random displacement field of the given scale. */
    private static void elastic(double[] x, double[] y, int h, int w, double alpha, SplittableRandom rng) {
        int n = h * w;
        double[] ux = new double[n], uy = new double[n], sx = new double[n], sy = new double[n];
        for (int p = 0; p < n; p++) {
            ux[p] = rng.nextDouble() * 2 - 1;
            uy[p] = rng.nextDouble() * 2 - 1;
        }
        blur(ux, sx, h, w, 3);
        blur(uy, sy, h, w, 3);
        double norm = 0;
        for (int p = 0; p < n; p++) norm = Math.max(norm, Math.max(Math.abs(sx[p]), Math.abs(sy[p])));
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                int p = r * w + c;
                y[p] = bilinear(x, h, w, r + alpha * sy[p] / norm, c + alpha * sx[p] / norm);
            }
    }
}
