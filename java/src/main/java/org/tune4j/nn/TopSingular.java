package org.tune4j.nn;

import java.util.SplittableRandom;

/**
 * The r largest singular triplets of a small dense matrix W [m, n] (row-major, double), W ≈ U diag(s) Vᵀ:
 * block power (subspace) iteration on WᵀW with re-orthonormalisation, then a Rayleigh-Ritz step (the
 * r×r problem solved by cyclic Jacobi). For PiSSA's initialisation, where W is a layer's weight
 * (hundreds by hundreds) and r a LoRA rank; not a general SVD.
 */
final class TopSingular {
    final double[] values; // [r], descending
    final double[][] u;    // [r][m]: left singular vectors
    final double[][] v;    // [r][n]: right singular vectors

    private TopSingular(double[] values, double[][] u, double[][] v) {
        this.values = values;
        this.u = u;
        this.v = v;
    }

    /** The same for a weight tensor [m, n], read into doubles. */
    static TopSingular of(org.tune4j.tensor.Tensor w, int r, int iterations, SplittableRandom rng) {
        int m = (int) w.dim(0), n = (int) w.dim(1);
        double[] wd = new double[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) wd[i * n + j] = w.getFloat(i, j);
        return of(wd, m, n, r, iterations, rng);
    }

    static TopSingular of(double[] w, int m, int n, int r, int iterations, SplittableRandom rng) {
        if (r < 1 || r > Math.min(m, n)) throw new IllegalArgumentException("rank " + r + " must be in [1, min(" + m + ", " + n + ")]");
        double[][] q = new double[r][n];
        for (double[] row : q) for (int j = 0; j < n; j++) row[j] = rng.nextDouble() - 0.5;
        orthonormalize(q);
        double[][] z = new double[r][m];
        for (int it = 0; it < iterations; it++) {
            times(w, m, n, q, z);          // z = W q
            timesTransposed(w, m, n, z, q); // q = Wᵀ z
            orthonormalize(q);
        }
        times(w, m, n, q, z);
        // Rayleigh-Ritz: (Wq)ᵀ(Wq) = E diag(s²) Eᵀ; V = q E, U = W V / s
        double[][] g = new double[r][r];
        for (int a = 0; a < r; a++) for (int b = 0; b < r; b++) g[a][b] = dot(z[a], z[b]);
        double[][] e = jacobiEigen(g);
        Integer[] order = new Integer[r];
        for (int i = 0; i < r; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(g[b][b], g[a][a]));
        double[] s = new double[r];
        double[][] u = new double[r][m], v = new double[r][n];
        for (int k = 0; k < r; k++) {
            int c = order[k];
            s[k] = Math.sqrt(Math.max(0, g[c][c]));
            for (int a = 0; a < r; a++) {
                double ea = e[a][c];
                for (int j = 0; j < n; j++) v[k][j] += q[a][j] * ea;
                for (int i = 0; i < m; i++) u[k][i] += z[a][i] * ea;
            }
            if (s[k] > 0) for (int i = 0; i < m; i++) u[k][i] /= s[k];
        }
        return new TopSingular(s, u, v);
    }

    /** out[k] = W x[k] for each of the r vectors x[k] [n]. */
    private static void times(double[] w, int m, int n, double[][] x, double[][] out) {
        for (int k = 0; k < x.length; k++) for (int i = 0; i < m; i++) {
            double acc = 0;
            for (int j = 0; j < n; j++) acc += w[i * n + j] * x[k][j];
            out[k][i] = acc;
        }
    }

    /** out[k] = Wᵀ y[k] for each y[k] [m]. */
    private static void timesTransposed(double[] w, int m, int n, double[][] y, double[][] out) {
        for (int k = 0; k < y.length; k++) {
            java.util.Arrays.fill(out[k], 0);
            for (int i = 0; i < m; i++) {
                double yi = y[k][i];
                for (int j = 0; j < n; j++) out[k][j] += w[i * n + j] * yi;
            }
        }
    }

    /** Modified Gram-Schmidt, twice (once is not enough in floating point when vectors are nearly parallel). */
    private static void orthonormalize(double[][] q) {
        for (int pass = 0; pass < 2; pass++) {
            for (int k = 0; k < q.length; k++) {
                for (int p = 0; p < k; p++) {
                    double d = dot(q[k], q[p]);
                    for (int j = 0; j < q[k].length; j++) q[k][j] -= d * q[p][j];
                }
                double norm = Math.sqrt(dot(q[k], q[k]));
                if (norm == 0) throw new IllegalStateException("the iteration lost rank: the matrix has rank below " + q.length);
                for (int j = 0; j < q[k].length; j++) q[k][j] /= norm;
            }
        }
    }

    static double dot(double[] a, double[] b) {
        double acc = 0;
        for (int i = 0; i < a.length; i++) acc += a[i] * b[i];
        return acc;
    }

    /**
     * Cyclic Jacobi on a symmetric r×r matrix g: on return g is diagonal (the eigenvalues) and the
     * returned E holds the eigenvectors as columns, g_in = E diag(g) Eᵀ.
     */
    private static double[][] jacobiEigen(double[][] g) {
        int r = g.length;
        double[][] e = new double[r][r];
        for (int i = 0; i < r; i++) e[i][i] = 1;
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0, diag = 0;
            for (int i = 0; i < r; i++) for (int j = 0; j < r; j++) if (i != j) off += g[i][j] * g[i][j]; else diag += g[i][j] * g[i][j];
            if (off <= 1e-30 * diag) break;
            for (int p = 0; p < r; p++) for (int q = p + 1; q < r; q++) {
                if (g[p][q] == 0) continue;
                double theta = (g[q][q] - g[p][p]) / (2 * g[p][q]);
                double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                if (theta == 0) t = 1;
                double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < r; k++) { // g = Jᵀ g J, columns then rows
                    double gkp = g[k][p], gkq = g[k][q];
                    g[k][p] = c * gkp - s * gkq;
                    g[k][q] = s * gkp + c * gkq;
                }
                for (int k = 0; k < r; k++) {
                    double gpk = g[p][k], gqk = g[q][k];
                    g[p][k] = c * gpk - s * gqk;
                    g[q][k] = s * gpk + c * gqk;
                }
                for (int k = 0; k < r; k++) {
                    double ekp = e[k][p], ekq = e[k][q];
                    e[k][p] = c * ekp - s * ekq;
                    e[k][q] = s * ekp + c * ekq;
                }
            }
        }
        return e;
    }
}
