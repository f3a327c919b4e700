package org.tune4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The core's packages point one way (ARCHITECTURE.md, "The Java core"): each package uses only packages
 * of a lower layer, so there is no cycle. Read from the sources: every {@code org.tune4j.X} a file names,
 * in an import or written out in full.
 */
class LayeringTest {
    /** Each package's layer; a package may use those of lower layers only. A new package must be placed here. */
    private static final Map<String, Integer> LAYERS = Map.ofEntries(
            Map.entry("tensor", 0), Map.entry("backend", 1), Map.entry("autograd", 2), Map.entry("data", 2), Map.entry("nn", 3),
            Map.entry("optim", 3), Map.entry("eval", 4), Map.entry("io", 4), Map.entry("robust", 5), Map.entry("serve", 5),
            Map.entry("report", 5), Map.entry("train", 6), Map.entry("compress", 7), Map.entry("experiments", 8), Map.entry("server", 8), Map.entry("cli", 9));
    private static final Pattern PACKAGE = Pattern.compile("^package org\\.tune4j\\.(\\w+)", Pattern.MULTILINE);
    private static final Pattern USE = Pattern.compile("org\\.tune4j\\.(\\w+)\\.");

    private static Map<String, Set<String>> dependencies() throws IOException {
        Path root = Path.of("src/main/java/org/tune4j");
        Map<String, Set<String>> deps = new TreeMap<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String src = Files.readString(f);
                Matcher pkg = PACKAGE.matcher(src);
                if (!pkg.find()) continue;
                Set<String> uses = deps.computeIfAbsent(pkg.group(1), k -> new TreeSet<>());
                Matcher m = USE.matcher(src);
                while (m.find()) if (!m.group(1).equals(pkg.group(1)) && !m.group(1).equals("bindings")) uses.add(m.group(1));
            }
        }
        return deps;
    }

    @Test
    void everyPackageUsesOnlyLowerLayers() throws IOException {
        Map<String, Set<String>> deps = dependencies();
        assertTrue(deps.size() >= 10, "read the packages: " + deps.keySet());
        assertEquals(new TreeSet<>(LAYERS.keySet()), deps.keySet(), "every package of the core has a layer (LayeringTest.LAYERS)");
        List<String> upward = new ArrayList<>();
        deps.forEach((pkg, uses) -> uses.forEach(u -> {
            if (LAYERS.get(u) >= LAYERS.get(pkg)) upward.add(pkg + " (layer " + LAYERS.get(pkg) + ") uses " + u + " (layer " + LAYERS.get(u) + ")");
        }));
        assertEquals(List.of(), upward);
    }
}
