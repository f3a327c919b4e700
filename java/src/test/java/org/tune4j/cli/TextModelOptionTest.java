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
}
