package org.tune4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** The npm cache the text-data tests read: a missing package skips them, unless TUNE4J_REQUIRE_TEXT_DATA is set (CI fetches them and sets it). */
final class TextDataCache {
    private TextDataCache() {}

    /** The cache folder, after checking that {@code pkg} is there (or that it is required, so the load fails by name). */
    static Path requireOrSkip(NpmPackage pkg) {
        Path cache = NpmPackage.cacheDir();
        if (System.getenv("TUNE4J_REQUIRE_TEXT_DATA") == null) {
            Assumptions.assumeTrue(Files.isRegularFile(cache.resolve(pkg.fileName())), "the npm package is not in " + cache + " (data/fetch-text-data.sh; .ci/run fetches it)");
        }
        return cache;
    }
}
