package org.tune4j.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (WordPiece for BERT: normaliser, pre-tokeniser, [CLS] … [SEP]) run by
 * the Hugging Face tokenizers library through DJL's binding, whose native library ships in its jar (nothing is
 * downloaded). Sequences are truncated to {@code maxLength} tokens (the [SEP] kept) and padded to the longest
 * of a batch ({@link TokenBatch}). A lone surrogate (malformed UTF-16: a JSON string may escape one) is read as
 * U+FFFD, one character for one, as a UTF-8 decoder reads a bad byte. Handed over as it is, the library counted it as
 * three characters, and every later token's offsets came out two too far.
 */
public final class TextTokenizer implements AutoCloseable {
    /*
     * DJL's binding, on its first tokenizer, calls home: it asks the cloud metadata address (169.254.169.254) for the
     * machine's id, and on EC2 sends it to DJL's telemetry bucket. On a machine with an Ampere or Hopper GPU it also
     * looks for a CUDA build of its native library, which its jar lacks, and downloads one. tune4j reaches no network at
     * run time, and a tokenizer needs no GPU: both are turned off here, unless the application has set them itself
     * (environment or system property; ARCHITECTURE.md, "The boundary").
     */
    static final String DJL_TELEMETRY = "OPT_OUT_TRACKING", DJL_NATIVE_FLAVOR = "RUST_FLAVOR";

    /*
     * DJL copies the library's native code into ~/.djl.ai, or, where the home folder is not writable (a service account,
     * a read-only container), into <tmpdir>/.djl.ai: one folder for every user of the machine, where another user could
     * put a library of their own first, which DJL would load, and where the first user's copy locks every other user
     * out. There the copy goes to a folder of this JVM's own (owner-only), deleted when the JVM exits, unless the
     * application names a folder itself (ARCHITECTURE.md, "Bindings").
     */
    static final String DJL_CACHE = "DJL_CACHE_DIR", DJL_ENGINE_CACHE = "ENGINE_CACHE_DIR";

    static {
        propertyUnlessSet(DJL_TELEMETRY, "true");
        propertyUnlessSet(DJL_NATIVE_FLAVOR, "cpu");
        if (!isSet(DJL_CACHE) && !isSet(DJL_ENGINE_CACHE) && !Files.isWritable(Path.of(System.getProperty("user.home")))) ownEngineCache();
    }

    private static boolean isSet(String name) {
        return System.getenv(name) != null || System.getProperty(name) != null;
    }

    private static void propertyUnlessSet(String name, String value) {
        if (!isSet(name)) System.setProperty(name, value);
    }

    private static void ownEngineCache() {
        try {
            Path dir = Files.createTempDirectory("tune4j-djl-");
            System.setProperty(DJL_ENGINE_CACHE, dir.toString());
            Runtime.getRuntime().addShutdownHook(new Thread(() -> { // deepest first, as io.Folders.deleteTree (a layer above this package)
                try (java.util.stream.Stream<Path> paths = Files.walk(dir)) {
                    for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                } catch (IOException e) { // a copy left in the temp folder is all it costs
                }
            }, "tune4j-djl-cache"));
        } catch (IOException e) { // no temp folder either: DJL's own error names the folder it could not write
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, int maxLength) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    /** Loads {@code tokenizer.json}; {@code maxLength} is the most tokens a sequence keeps, special tokens included. */
    public static TextTokenizer load(Path tokenizerJson, int maxLength) throws IOException {
        return load(tokenizerJson, maxLength, Integer.MAX_VALUE);
    }

    /**
     * As {@link #load(Path, int)} for a model whose embeddings hold {@code vocabSize} tokens: a tokenizer whose vocabulary
     * gives larger ids (another model's) is refused here, not at the first text that has such a token.
     */
    public static TextTokenizer load(Path tokenizerJson, int maxLength, int vocabSize) throws IOException {
        if (maxLength < 2) throw new IllegalArgumentException("maxLength must be >= 2 (room for [CLS] and [SEP]), is " + maxLength);
        if (!Files.isRegularFile(tokenizerJson)) throw new IOException(tokenizerJson + ": no such tokenizer file");
        int idEnd = TokenizerFileChecks.check(tokenizerJson, maxLength); // and what the library would abort the JVM on while encoding
        if (idEnd > vocabSize) {
            throw new IOException(tokenizerJson + ": its vocabulary gives ids up to " + (idEnd - 1) + ", the model's embeddings hold " + vocabSize
                    + " tokens: the tokenizer of another model?");
        }
        try {
            return new TextTokenizer(HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("truncation", "true", "padding", "false", "maxLength", String.valueOf(maxLength), "addSpecialTokens", "true")), maxLength);
        } catch (RuntimeException e) { // the library's parse error (a JSON or tokenizer error from native code)
            throw new IOException(tokenizerJson + ": not a tokenizer the tokenizers library can load: " + e.getMessage(), e);
        } catch (LinkageError e) { // its native code failed to load before (the first try's error said why)
            throw new IOException(tokenizerJson + ": the tokenizers library's native code is not loaded (" + e + ")", e);
        }
    }

    public int maxLength() {
        return maxLength;
    }

    /** Token ids of one text, special tokens included. */
    public int[] ids(String text) {
        return toInts(tokenizer.encode(wellFormed(text)).getIds());
    }

    /** Token ids of each text, the same as {@link #ids(String)} of each (the library encodes a list on its own threads). */
    public int[][] ids(java.util.List<String> texts) {
        if (texts.isEmpty()) return new int[0][];
        Encoding[] enc = tokenizer.batchEncode(wellFormed(texts));
        int[][] out = new int[enc.length][];
        for (int i = 0; i < out.length; i++) out[i] = toInts(enc[i].getIds());
        return out;
    }

    /**
     * One token of a text: its id, its string as the vocabulary has it ("##ing" for a WordPiece continuation), and
     * the characters of the text it came from, [start, end) (UTF-16 indices, as Java's String counts them); a
     * special token ([CLS], [SEP]) came from no characters: start = end = -1.
     */
    public record Token(int id, String piece, int start, int end) {
        public boolean special() {
            return start < 0;
        }
    }

    /**
     * The tokens of one text with where each came from in it, special tokens included (an attack that edits the
     * characters under the most important tokens needs this map).
     */
    public List<Token> tokens(String text) {
        Encoding e = tokenizer.encode(wellFormed(text));
        long[] ids = e.getIds(), special = e.getSpecialTokenMask();
        String[] pieces = e.getTokens();
        ai.djl.huggingface.tokenizers.jni.CharSpan[] spans = e.getCharTokenSpans();
        List<Token> out = new java.util.ArrayList<>(ids.length);
        for (int i = 0; i < ids.length; i++) {
            boolean none = special[i] != 0 || spans[i] == null;
            out.add(new Token(Math.toIntExact(ids[i]), pieces[i], none ? -1 : utf16(text, spans[i].getStart()), none ? -1 : utf16(text, spans[i].getEnd())));
        }
        return out;
    }

    /** The UTF-16 index of code point {@code cp} of {@code text} (the library counts characters as code points). */
    private static int utf16(String text, int cp) {
        return text.offsetByCodePoints(0, Math.min(cp, text.codePointCount(0, text.length())));
    }

    /** A padded batch of {@code texts} in {@code arena}. */
    public TokenBatch encode(Arena arena, List<String> texts) {
        if (texts.isEmpty()) throw new IllegalArgumentException("no texts to encode");
        Encoding[] enc = tokenizer.batchEncode(wellFormed(texts));
        int[][] ids = new int[enc.length][], types = new int[enc.length][];
        for (int b = 0; b < enc.length; b++) {
            ids[b] = toInts(enc[b].getIds());
            types[b] = toInts(enc[b].getTypeIds());
        }
        return TokenBatch.of(arena, ids, types);
    }

    /** {@code text} with each lone surrogate replaced by U+FFFD; the same String when it has none (the usual case). */
    static String wellFormed(String text) {
        char[] out = null; // copied at the first lone surrogate
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++; // a pair: one code point
            } else if (Character.isSurrogate(c)) {
                if (out == null) out = text.toCharArray();
                out[i] = '\uFFFD';
            }
        }
        return out == null ? text : new String(out);
    }

    private static List<String> wellFormed(List<String> texts) {
        return texts.stream().map(TextTokenizer::wellFormed).toList();
    }

    private static int[] toInts(long[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Math.toIntExact(v[i]);
        return out;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
