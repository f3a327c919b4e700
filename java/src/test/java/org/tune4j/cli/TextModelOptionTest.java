package org.tune4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.io.SentencePipeline;

/**
 * NAME|DIR: a folder is taken as given; a known name (or Hub id) is its cache folder, given the modules an older import
 * lacked; without --model, the base an adapter's config names.
 */
class TextModelOptionTest {
    @TempDir
    Path home;

    private Path adapterNaming(String base) throws IOException {
        Path dir = Files.createDirectories(home.resolve("adapter-" + Integer.toHexString(base.hashCode())));
        Files.writeString(dir.resolve(org.tune4j.io.PeftAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\", \"base_model_name_or_path\": \"" + base + "\"}");
        return dir;
    }

    @Test
    void aFolderIsItselfAndAKnownNameItsCacheFolderWithItsModules() throws IOException {
        assertEquals(Path.of("some/folder"), TextModelOption.folderOf("some/folder"));
        String was = System.getProperty("user.home");
        try {
            System.setProperty("user.home", home.toString());
            for (PretrainedModels.Known known : PretrainedModels.Known.values()) {
                Path cached = Files.createDirectories(home.resolve(".cache/tune4j/models/" + known.name)); // as a tune4j before modules.json left it
                Files.writeString(cached.resolve(HfCheckpoint.CONFIG), "{\"hidden_size\": 384}");
                Files.writeString(cached.resolve(HfCheckpoint.WEIGHTS), "");
                Files.writeString(cached.resolve(HfCheckpoint.TOKENIZER), "{}");
                assertEquals(cached, TextModelOption.folderOf(known.name));
                SentencePipeline written = SentencePipeline.read(cached).orElseThrow();
                assertEquals(known.pipeline(), written, known.name);
                assertEquals(cached, TextModelOption.folderOf(known.name)); // a second time: as it is
                assertEquals(cached, TextModelOption.folderOf(known.hubId));
                assertEquals(cached, TextModelOption.baseOf(adapterNaming(known.hubId)));
            }
            assertEquals(home, TextModelOption.baseOf(adapterNaming(home.toString())));
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> TextModelOption.baseOf(adapterNaming("someone/else")));
            assertTrue(none.getMessage().contains("'someone/else'") && none.getMessage().contains("give --model"), none.getMessage());
        } finally {
            System.setProperty("user.home", was);
        }
    }

    /**
     * A known model's first use imports it whole, once: two commands importing at once both get the whole folder (the
     * first rename wins), and a folder that an import stopped half-way left (its config and weights, no tokenizer) is
     * replaced, where before every later command took it as imported and failed on the missing tokenizer.
     */
    @Test
    void aFirstUseImportsTheWholeFolderOnceEvenTwoAtOnce() throws Exception {
        Path jar = PretrainedModels.Known.MINILM.localJar();
        assertTrue(Files.isRegularFile(jar), "the MiniLM jar is in the local Maven repository (a test dependency: ./mvnw test puts it there): " + jar);
        String was = System.getProperty("user.home"), repo = System.getProperty("maven.repo.local");
        try {
            System.setProperty("maven.repo.local", jar.toString().substring(0, jar.toString().indexOf("/dev/langchain4j/")));
            System.setProperty("user.home", home.toString());
            Path models = home.resolve(".cache/tune4j/models"), dir = models.resolve("minilm");
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(HfCheckpoint.CONFIG), "{\"hidden_size\": 384}"); // as an import stopped half-way left it
            Files.writeString(dir.resolve(HfCheckpoint.WEIGHTS), "");
            try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
                var a = pool.submit(() -> TextModelOption.folderOf("minilm"));
                var b = pool.submit(() -> TextModelOption.folderOf("minilm"));
                assertEquals(dir, a.get());
                assertEquals(dir, b.get());
            }
            for (String f : java.util.List.of(HfCheckpoint.CONFIG, HfCheckpoint.WEIGHTS, HfCheckpoint.TOKENIZER, SentencePipeline.MODULES)) {
                assertTrue(Files.isRegularFile(dir.resolve(f)), f + " in " + dir);
            }
            assertEquals(6, HfCheckpoint.readBertConfig(dir).layers(), "the whole config, not the stopped import's");
            try (var left = Files.list(models)) {
                assertEquals(java.util.List.of(dir), left.toList(), "no importing folder left");
            }
        } finally {
            System.setProperty("user.home", was);
            if (repo == null) System.clearProperty("maven.repo.local"); else System.setProperty("maven.repo.local", repo);
        }
    }
}
