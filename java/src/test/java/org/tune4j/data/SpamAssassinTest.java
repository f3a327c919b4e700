package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spam corpus: what a message becomes, the shipped subset, and splits that keep each class's share and never share a text. */
class SpamAssassinTest {
    @Test
    void aMessageIsItsSubjectAndDecodedBodyWithoutOtherHeaders() {
        String raw = "From: someone@example.com\r\nReceived: from mail.list.example (routing that leaks the label)\r\nSubject: =?iso-8859-1?q?Caf=E9?= offer\r\n"
                + "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Buy <b>now</b></p>\r\n"
                + "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nBuy now, na=C3=AFve\r\n  reader\r\n--b--\r\n";
        String[] sb = SpamAssassin.subjectAndBody(raw.getBytes(StandardCharsets.ISO_8859_1));
        assertEquals("Café offer", sb[0]);
        assertEquals("Buy now, naïve reader", sb[1], "the plain alternative, decoded, whitespace collapsed");
        String html = "Subject: x\r\nContent-Type: text/html\r\n\r\n<html><body><p>Hello&nbsp;<i>you</i></p><script>x()</script></body></html>\r\n";
        assertEquals("Hello you", SpamAssassin.subjectAndBody(html.getBytes(StandardCharsets.US_ASCII))[1].replace('\u00a0', ' '));
        assertFalse(SpamAssassin.join("s", "b").contains("Received"));
    }

    @Test
    void theEmbeddedSubsetHasBothClassesAndNoRepeatedText() throws IOException {
        TextDataset s = SpamAssassin.embedded();
        assertEquals(2000, s.size());
        assertArrayEquals(new int[] {1438, 562}, s.counts());
        assertEquals(s.size(), new HashSet<>(s.texts()).size(), "deduplicated before sampling");
        assertTrue(s.texts().stream().allMatch(t -> !t.isBlank() && t.length() <= 1000));
    }

    @Test
    void theEmbeddedSubsetIsTheDocumentedSampleOfTheNpmPackage() throws IOException {
        Path cache = TextDataCache.requireOrSkip(NpmPackage.SPAM_ASSASSIN);
        TextDataset full = SpamAssassin.load(cache);
        assertTrue(full.size() > 5500 && full.size() < 6046, "6,046 messages less the repeated bodies: " + full.size());
        TextDataset sub = SpamAssassin.subsetOf(full), shipped = SpamAssassin.embedded();
        assertEquals(sub.texts(), shipped.texts());
        assertArrayEquals(sub.labels(), shipped.labels());
    }

    @Test
    void splitsKeepClassSharesAndAreDisjoint() {
        List<String> texts = new java.util.ArrayList<>();
        int[] labels = new int[100];
        for (int i = 0; i < 100; i++) {
            texts.add("text " + i);
            labels[i] = i < 30 ? 1 : 0;
        }
        TextDataset d = new TextDataset("t", texts, labels, SpamAssassin.CLASSES);
        List<TextDataset> parts = d.stratifiedSplit(7, new String[] {"train", "val", "test"}, 0.6, 0.2);
        assertArrayEquals(new int[] {42, 18}, parts.get(0).counts());
        assertArrayEquals(new int[] {14, 6}, parts.get(1).counts());
        assertArrayEquals(new int[] {14, 6}, parts.get(2).counts());
        Set<String> seen = new HashSet<>();
        for (TextDataset p : parts) for (String t : p.texts()) assertTrue(seen.add(t), t + " is in two parts");
        assertEquals(parts.get(0).texts(), d.stratifiedSplit(7, new String[] {"train", "val", "test"}, 0.6, 0.2).get(0).texts(), "seeded");
    }

    @Test
    void badPackagesAndLinesAreRefusedByName(@TempDir Path dir) throws IOException {
        IOException missing = assertThrows(IOException.class, () -> SpamAssassin.load(dir));
        assertTrue(missing.getMessage().contains("fetch-text-data.sh"), missing.getMessage());
        Files.writeString(dir.resolve(NpmPackage.SPAM_ASSASSIN.fileName()), "not the package");
        IOException wrong = assertThrows(IOException.class, () -> SpamAssassin.load(dir));
        assertTrue(wrong.getMessage().contains("sha256"), wrong.getMessage());
        IOException line = assertThrows(IOException.class,
                () -> TextLines.read("x", new ByteArrayInputStream("{\"label\":\"eggs\",\"text\":\"a\"}\n".getBytes(StandardCharsets.UTF_8)), SpamAssassin.CLASSES));
        assertTrue(line.getMessage().contains("line 1"), line.getMessage());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TextLines.write(new TextDataset("t", List.of("a \"quoted\"\nline", "b"), new int[] {1, 0}, SpamAssassin.CLASSES), out);
        TextDataset back = TextLines.read("t", new ByteArrayInputStream(out.toByteArray()), SpamAssassin.CLASSES);
        assertEquals(List.of("a \"quoted\"\nline", "b"), back.texts());
    }
}
