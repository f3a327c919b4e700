package org.tune4j.data;

import java.util.SplittableRandom;

/**
 * The main job's target domain: Fashion-MNIST photographed worse. Each image, with its own seeded draw:
 * contrast halved around its mean, a 3x3 box blur, a rotation of up to ±{@value #MAX_DEGREES}° and a
 * shift of up to ±{@value #MAX_SHIFT} pixels (bilinear, background 0), Gaussian noise of σ =
 * {@value #NOISE} (pixels in [0, 1]), clipped to [0, 1].
 */
public final class DomainShift {
    public static final double CONTRAST = 0.5;
    public static final double MAX_DEGREES = 12;
    public static final int MAX_SHIFT = 2;
    public static final double NOISE = 0.08;

    private DomainShift() {}

    /** The shifted copy of {@code data}; image i depends only on (seed, i). */
    public static ImageDataset apply(ImageDataset data, long seed) {
        int h = data.height(), w = data.width(), n = h * w;
        byte[] out = new byte[data.size() * n];
        int[] labels = new int[data.size()];
        double[] img = new double[n], tmp = new double[n];
        for (int i = 0; i < data.size(); i++) {
            SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + i);
            double mean = 0;
            for (int p = 0; p < n; p++) mean += img[p] = data.pixel(i, p) / 255.0;
            mean /= n;
            for (int p = 0; p < n; p++) img[p] = mean + CONTRAST * (img[p] - mean);
            blur(img, tmp, h, w);
            double angle = Math.toRadians((rng.nextDouble() * 2 - 1) * MAX_DEGREES);
            int dx = rng.nextInt(2 * MAX_SHIFT + 1) - MAX_SHIFT, dy = rng.nextInt(2 * MAX_SHIFT + 1) - MAX_SHIFT;
            warp(tmp, img, h, w, angle, dx, dy);
            for (int p = 0; p < n; p++) {
                double v = img[p] + NOISE * gaussian(rng);
                out[i * n + p] = (byte) Math.round(255 * Math.min(1, Math.max(0, v)));
            }
            labels[i] = data.label(i);
        }
        return new ImageDataset(out, labels, h, w, data.classes());
    }

    /** 3x3 box blur of src into dst (edges use the pixels that exist). */
    private static void blur(double[] src, double[] dst, int h, int w) {
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                double s = 0;
                int k = 0;
                for (int dr = -1; dr <= 1; dr++)
                    for (int dc = -1; dc <= 1; dc++) {
                        int rr = r + dr, cc = c + dc;
                        if (rr >= 0 && rr < h && cc >= 0 && cc < w) {
                            s += src[rr * w + cc];
                            k++;
                        }
                    }
                dst[r * w + c] = s / k;
            }
    }

    /** dst = src rotated by angle about the centre and shifted by (dx, dy), bilinear, 0 outside. */
    private static void warp(double[] src, double[] dst, int h, int w, double angle, int dx, int dy) {
        double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0, cos = Math.cos(angle), sin = Math.sin(angle);
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                // the source point that lands on (r, c)
                double y = r - dy - cy, x = c - dx - cx;
                double sy = cos * y + sin * x + cy, sx = -sin * y + cos * x + cx;
                int y0 = (int) Math.floor(sy), x0 = (int) Math.floor(sx);
                double fy = sy - y0, fx = sx - x0, v = 0;
                for (int a = 0; a <= 1; a++)
                    for (int b = 0; b <= 1; b++) {
                        int yy = y0 + a, xx = x0 + b;
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w) v += src[yy * w + xx] * (a == 1 ? fy : 1 - fy) * (b == 1 ? fx : 1 - fx);
                    }
                dst[r * w + c] = v;
            }
    }

    private static double gaussian(SplittableRandom rng) {
        return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
    }
}
