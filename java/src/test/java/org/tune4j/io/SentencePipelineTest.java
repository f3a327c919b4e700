package org.tune4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.nn.BertClassifier;

/** A sentence-transformers folder's pooling and normalization: written, read back, read as the Hub writes it, and refused by name where unsupported. */
class SentencePipelineTest {
    @TempDir
    Path dir;

    @Test
    void whatItWritesItReadsBack() throws IOException {
        for (SentencePipeline p : new SentencePipeline[] {new SentencePipeline(BertClassifier.Pooling.MEAN, true, 256), new SentencePipeline(BertClassifier.Pooling.CLS, false)}) {
            Path d = dir.resolve(p.pooling() + "-" + p.normalize());
            p.write(d, 384);
            assertEquals(Optional.of(p), SentencePipeline.read(d));
            assertTrue(Files.readString(d.resolve("1_Pooling/config.json")).contains("\"word_embedding_dimension\" : 384"));
        }
    }

    @Test
    void aFolderWithoutModulesHasNoneAndTakesTheDefault() throws IOException {
        assertEquals(Optional.empty(), SentencePipeline.read(dir));
        assertEquals(new SentencePipeline(BertClassifier.Pooling.MEAN, true), SentencePipeline.readOrDefault(dir));
    }

    @Test
    void readsTheHubsLayout() throws IOException {
        // BAAI/bge-small-en-v1.5 as the Hub has it: [CLS], then Normalize
        modules("""
                [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]""");
        pooling("""
                {"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": false,
                 "pooling_mode_mean_sqrt_len_tokens": false}""");
        assertEquals(Optional.of(new SentencePipeline(BertClassifier.Pooling.CLS, true)), SentencePipeline.read(dir));
        Files.writeString(dir.resolve(SentencePipeline.SETTINGS), "{\"max_seq_length\": 512, \"do_lower_case\": true}");
        assertEquals(Optional.of(new SentencePipeline(BertClassifier.Pooling.CLS, true, 512)), SentencePipeline.read(dir));
    }

    @Test
    void refusesWhatItCannotComputeByName() throws IOException {
        String transformerAndPooling = """
                [{"path": "", "type": "sentence_transformers.models.Transformer"}, {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}""";
        String[][] cases = {
            {transformerAndPooling + ", {\"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}]", "{\"pooling_mode_mean_tokens\": true}", "module 'sentence_transformers.models.Dense' is not supported"},
            {transformerAndPooling + "]", "{\"pooling_mode_max_tokens\": true}", "pooling_mode_max_tokens is not supported"},
            {transformerAndPooling + "]", "{\"pooling_mode_mean_tokens\": true, \"pooling_mode_cls_token\": true}", "pooling_mode_cls_token and pooling_mode_mean_tokens are not supported"},
            {transformerAndPooling + "]", "{\"pooling_mode_mean_tokens\": false}", "no pooling_mode_* is true"},
            {transformerAndPooling + "]", "{not json", "not JSON"},
            {"[{\"path\": \"0_Transformer\", \"type\": \"sentence_transformers.models.Transformer\"}]", "{}", "the Transformer module is in '0_Transformer'"},
            {"[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}]", "{}", "no sentence_transformers.models.Pooling module"},
            {"[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, {\"path\": \"../x\", \"type\": \"sentence_transformers.models.Pooling\"}]", "{}",
                "is not a folder inside"},
            {"{\"modules\": []}", "{}", "not a JSON array of modules"},
            {transformerAndPooling + "]", "{\"pooling_mode_mean_tokens\": true}", "max_seq_length must be an integer >= 2, is \"long\""},
        };
        Files.writeString(dir.resolve(SentencePipeline.SETTINGS), "{\"max_seq_length\": \"long\"}"); // read only once the modules are
        for (String[] c : cases) {
            modules(c[0]);
            pooling(c[1]);
            IOException e = assertThrows(IOException.class, () -> SentencePipeline.read(dir), c[0]);
            assertTrue(e.getMessage().contains(c[2]), e.getMessage());
        }
        Files.delete(dir.resolve("1_Pooling/config.json"));
        modules(transformerAndPooling + "]");
        IOException e = assertThrows(IOException.class, () -> SentencePipeline.read(dir));
        assertTrue(e.getMessage().contains("1_Pooling/config.json: not found"), e.getMessage());
    }

    @Test
    void tokensKeptAreAskedElseTheFoldersElse256() throws IOException {
        assertEquals(256, SentencePipeline.tokensKept(dir, 0, 512), "no settings: 256");
        assertEquals(64, SentencePipeline.tokensKept(dir, 0, 64), "no settings: the positions if fewer");
        new SentencePipeline(BertClassifier.Pooling.MEAN, true, 24).write(dir, 16);
        assertEquals(24, SentencePipeline.tokensKept(dir, 0, 512), "the folder's max_seq_length");
        assertEquals(100, SentencePipeline.tokensKept(dir, 100, 512), "asked");
        IllegalArgumentException asked = assertThrows(IllegalArgumentException.class, () -> SentencePipeline.tokensKept(dir, 600, 512));
        assertTrue(asked.getMessage().contains("max length of 600 tokens exceeds the model's 512 positions"), asked.getMessage());
        IllegalArgumentException said = assertThrows(IllegalArgumentException.class, () -> SentencePipeline.tokensKept(dir, 0, 16));
        assertTrue(said.getMessage().contains(SentencePipeline.SETTINGS + ": max_seq_length 24 tokens exceeds"), said.getMessage());
    }

    @Test
    void unitLengthScalesToOneAndLeavesZerosAlone() {
        assertArrayEquals(new float[] {0.6f, -0.8f}, SentencePipeline.unitLength(new float[] {3, -4}), 1e-7f);
        assertArrayEquals(new float[3], SentencePipeline.unitLength(new float[3]));
        float[] v = {1, 2};
        assertArrayEquals(new float[] {1, 2}, new SentencePipeline(BertClassifier.Pooling.MEAN, false).finish(v));
        assertArrayEquals(new float[] {1, 2}, v, "the input is not changed");
    }

    private void modules(String json) throws IOException {
        Files.writeString(dir.resolve(SentencePipeline.MODULES), json);
    }

    private void pooling(String json) throws IOException {
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), json);
    }
}
