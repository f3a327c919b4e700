package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tune4j.data.TextTokenizer;

/**
 * all-MiniLM-L6-v2's tokenizer gives each token the characters it came from: the pieces of a word that WordPiece
 * splits map back into that word, accents and case folded by the normaliser still map to the original characters,
 * a character outside the Basic Multilingual Plane is counted as Java counts it, [CLS] and [SEP] map to none, and
 * the ids are those of {@code ids()}. A lone surrogate reads as U+FFFD, so the words after it keep their offsets.
 */
class TokenOffsetsTest {
    @Test
    void everyTokenMapsBackToItsCharacters() throws Exception {
        String text = "Detokenizers CAFÉ offers: 𝐅𝐑𝐄𝐄 tickets!";
        try (TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 64)) {
            List<TextTokenizer.Token> tokens = tok.tokens(text);
            assertArrayEquals(tok.ids(text), tokens.stream().mapToInt(TextTokenizer.Token::id).toArray(), "the same ids as ids()");
            assertTrue(tokens.getFirst().special() && tokens.getLast().special(), "[CLS] and [SEP] come from no characters");
            int last = 0;
            for (TextTokenizer.Token t : tokens) {
                if (t.special()) continue;
                assertTrue(t.start() >= last && t.end() > t.start() && t.end() <= text.length(), t + " lies in order inside the text");
                last = t.start();
                String under = text.substring(t.start(), t.end());
                String piece = t.piece().startsWith("##") ? t.piece().substring(2) : t.piece();
                if (!piece.equals("[UNK]")) {
                    String folded = java.text.Normalizer.normalize(under.toLowerCase(java.util.Locale.ROOT), java.text.Normalizer.Form.NFKD).replaceAll("\\p{M}", "");
                    assertEquals(piece, folded, "the characters under " + t);
                }
            }
            List<TextTokenizer.Token> word = tokens.stream().filter(t -> !t.special() && t.end() <= "Detokenizers".length()).toList();
            assertTrue(word.size() >= 2, "WordPiece splits 'Detokenizers' into pieces: " + word);
            assertEquals("Detokenizers", text.substring(word.getFirst().start(), word.getLast().end()), "its pieces cover the word");
        }
    }

    @Test
    void aListIsEncodedAsEachTextAlone() throws Exception {
        List<String> texts = List.of("Detokenizers CAFÉ offers: 𝐅𝐑𝐄𝐄 tickets!", "", "short", "a much longer text ".repeat(40), "zero\u200Bwidth р\u0430уp\u03B1l");
        try (TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 24)) {
            int[][] all = tok.ids(texts);
            assertEquals(texts.size(), all.length);
            for (int i = 0; i < texts.size(); i++) assertArrayEquals(tok.ids(texts.get(i)), all[i], "text " + i);
            assertEquals(24, all[3].length, "truncated to the window");
            assertEquals(0, tok.ids(List.of()).length);
        }
    }

    @Test
    void aLoneSurrogateReadsAsOneReplacementCharacter() throws Exception {
        // a high surrogate alone, a low one alone, a pair reversed, and a real pair (an emoji) for contrast
        String text = "hello \uD800 world \uDC00 spam \uDE00\uD83D offer \uD83D\uDE00 now";
        String replaced = text.replace('\uD800', '\uFFFD').replace('\uDC00', '\uFFFD').replace("\uDE00\uD83D", "\uFFFD\uFFFD");
        try (TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 64)) {
            assertArrayEquals(tok.ids(replaced), tok.ids(text), "the ids of the text with U+FFFD in their place");
            assertArrayEquals(tok.ids(List.of(replaced))[0], tok.ids(List.of(text))[0], "in a list too");
            List<TextTokenizer.Token> words = tok.tokens(text).stream().filter(t -> !t.special() && !t.piece().equals("[UNK]")).toList();
            assertEquals(List.of("hello", "world", "spa", "##m", "offer", "now"), words.stream().map(TextTokenizer.Token::piece).toList());
            for (TextTokenizer.Token t : words) assertEquals(t.piece().replace("##", ""), text.substring(t.start(), t.end()), "the characters under " + t);
        }
    }
}
