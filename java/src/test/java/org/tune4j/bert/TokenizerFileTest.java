package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.data.TextTokenizer;

/**
 * A tokenizer.json that the tokenizers library would load and then abort the JVM on (an unknown token outside the
 * vocabulary), or that adds more special tokens than a text keeps, is refused at load by name; all-MiniLM's own and
 * small files of the other model kinds that can encode any word load and encode.
 */
class TokenizerFileTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** all-MiniLM's tokenizer.json edited by {@code edit}, written to a file of its own. */
    private Path miniLmEdited(String name, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(MiniLm.onnxDir().resolve("tokenizer.json").toFile());
        edit.accept(root);
        Path file = dir.resolve(name + ".json");
        JSON.writeValue(file.toFile(), root);
        return file;
    }

    private Path written(String name, String json) throws IOException {
        Path file = dir.resolve(name + ".json");
        Files.writeString(file, json);
        return file;
    }

    @Test
    void aWordPieceVocabularyWithoutItsUnknownTokenIsRefused() throws IOException {
        Path noUnk = miniLmEdited("no-unk", root -> ((ObjectNode) root.path("model").path("vocab")).remove("[UNK]"));
        IOException e = assertThrows(IOException.class, () -> TextTokenizer.load(noUnk, 32));
        assertTrue(e.getMessage().contains("WordPiece model's unk_token [UNK] is not in its vocabulary"), e.getMessage());
        Path renamed = miniLmEdited("renamed-unk", root -> ((ObjectNode) root.path("model")).put("unk_token", "[MISSING]"));
        assertTrue(assertThrows(IOException.class, () -> TextTokenizer.load(renamed, 32)).getMessage().contains("unk_token [MISSING]"));
        try (TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 32)) {
            assertEquals(100, tok.ids("ꙮꙮꙮ")[1], "MiniLM's own: an unknown word is [UNK] (100)");
        }
    }

    @Test
    void moreSpecialTokensThanATextKeepsAreRefused() throws IOException {
        Path three = miniLmEdited("three-special", root -> ((com.fasterxml.jackson.databind.node.ArrayNode) root.path("post_processor").path("single"))
                .addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TextTokenizer.load(three, 2));
        assertTrue(e.getMessage().contains("adds 3 special tokens to a text, more than the 2 tokens a text keeps"), e.getMessage());
        try (TextTokenizer tok = TextTokenizer.load(three, 5)) {
            assertEquals(5, tok.ids("one two three four five six").length, "room for them: truncated as asked");
        }
    }

    @Test
    void otherModelKindsAreCheckedForTheirUnknownToken() throws IOException {
        String wordLevel = "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"<unk>\":0,\"hello\":1},\"unk_token\":\"%s\"},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}";
        try (TextTokenizer tok = TextTokenizer.load(written("word-level", wordLevel.formatted("<unk>")), 8)) {
            assertEquals(java.util.List.of(1, 0), java.util.Arrays.stream(tok.ids("hello stranger")).boxed().toList());
        }
        assertTrue(assertThrows(IOException.class, () -> TextTokenizer.load(written("word-level-bad", wordLevel.formatted("<oov>")), 8)).getMessage()
                .contains("WordLevel model's unk_token <oov> is not in its vocabulary"));
        String bpe = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[],\"unk_token\":\"<unk>\"}}";
        assertTrue(assertThrows(IOException.class, () -> TextTokenizer.load(written("bpe", bpe), 8)).getMessage().contains("BPE model's unk_token <unk>"));
        String unigram = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"<unk>\",0.0],[\"a\",-1.0]]%s}}";
        assertTrue(assertThrows(IOException.class, () -> TextTokenizer.load(written("unigram", unigram.formatted("")), 8)).getMessage().contains("Unigram model's unk_id is missing"));
        assertTrue(assertThrows(IOException.class, () -> TextTokenizer.load(written("unigram-far", unigram.formatted(",\"unk_id\":7")), 8)).getMessage().contains("unk_id 7"));
        try (TextTokenizer tok = TextTokenizer.load(written("unigram-ok", unigram.formatted(",\"unk_id\":0")), 8)) {
            assertTrue(tok.ids("ab").length > 0);
        }
    }

    @Test
    void aFileThatIsNotJsonIsLeftToTheLibrarysMessage() throws IOException {
        IOException e = assertThrows(IOException.class, () -> TextTokenizer.load(written("cut", "{\"model\": {\"type\": \"WordPiece\","), 8));
        assertTrue(e.getMessage().contains("not a tokenizer the tokenizers library can load"), e.getMessage());
    }

    @Test
    void anotherModelsTokenizerIsRefusedAtLoad() throws IOException {
        Path miniLm = MiniLm.onnxDir().resolve("tokenizer.json");
        IOException e = assertThrows(IOException.class, () -> TextTokenizer.load(miniLm, 32, 1000));
        assertTrue(e.getMessage().contains("its vocabulary gives ids up to 30521, the model's embeddings hold 1000 tokens"), e.getMessage());
        try (TextTokenizer tok = TextTokenizer.load(miniLm, 32, 30522)) {
            assertEquals(32, tok.maxLength(), "MiniLM's own vocabulary fits its 30,522 embeddings");
        }
    }

    @Test
    void anImportWithATokenizerThatDoesNotLoadWritesNothing() throws IOException {
        Path notATokenizer = written("not-a-tokenizer", "{\"model\": 7}"), out = dir.resolve("imported");
        IOException e = assertThrows(IOException.class,
                () -> org.tune4j.io.OnnxImport.toHuggingFace(MiniLm.onnxDir().resolve("model.onnx"), org.tune4j.nn.BertConfig.miniLmL6(), notATokenizer, out));
        assertTrue(e.getMessage().contains("not a tokenizer the tokenizers library can load"), e.getMessage());
        assertTrue(Files.notExists(out), "nothing written");
    }
}
