package org.tune4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README.md's "Using it from Java" blocks compile against the library as it is: each block becomes a method of one
 * class whose fields are the variables the blocks take as given (the arrays, a model, an arena), so that a renamed
 * method or a changed signature breaks this test rather than a reader's first try.
 */
class ReadmeJavaTest {
    /** What the blocks use without making it; a block's own variable of the same name shadows the field. */
    private static final String GIVEN = """
            Arena arena; Backend cpu; SplittableRandom rng;
            float[] xValues, wValues, pixels; Tensor x, w, y, bias;
            VisionTransformer vit; ImageDataset calibration;
            int[][] ids; int[] labels;
            """;
    private static final List<String> PACKAGES = List.of("java.lang.foreign", "java.nio.file", "java.util", "org.tune4j.tensor", "org.tune4j.backend",
            "org.tune4j.autograd", "org.tune4j.data", "org.tune4j.nn", "org.tune4j.optim", "org.tune4j.io", "org.tune4j.compress", "org.tune4j.serve",
            "org.tune4j.train", "org.tune4j.experiments");

    @Test
    void theReadmesJavaBlocksCompile(@TempDir Path classes) throws IOException {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        List<String> blocks = new ArrayList<>();
        while (m.find()) blocks.add(m.group(1));
        assertTrue(blocks.size() >= 5, "README.md's Java blocks: found " + blocks.size());
        StringBuilder src = new StringBuilder();
        for (String p : PACKAGES) src.append("import ").append(p).append(".*;\n");
        src.append("import java.lang.Module;\nclass ReadmeBlocks {\n").append(GIVEN);
        for (int i = 0; i < blocks.size(); i++) src.append("void block").append(i + 1).append("() throws Exception {\n").append(blocks.get(i)).append("}\n");
        src.append("}\n");

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "no Java compiler in this runtime: the tests run on a JDK (README: JDK 25)");
        JavaFileObject file = new SimpleJavaFileObject(URI.create("string:///ReadmeBlocks.java"), JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                return src;
            }
        };
        StringWriter out = new StringWriter();
        boolean ok = javac.getTask(out, null, null, List.of("-proc:none", "-d", classes.toString(), "-cp", System.getProperty("java.class.path")), null, List.of(file)).call();
        assertTrue(ok, "README.md's Java does not compile:\n" + out + "\n" + numbered(src.toString()));
        assertEquals("", out.toString().strip(), "warnings");
    }

    private static String numbered(String src) {
        StringBuilder s = new StringBuilder();
        String[] lines = src.split("\n");
        for (int i = 0; i < lines.length; i++) s.append(i + 1).append(": ").append(lines[i]).append('\n');
        return s.toString();
    }
}
