package org.tune4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Labelled texts as JSON lines, {@code {"label": "spam", "text": "..."}}: the embedded subsets' format. */
public final class TextLines {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TextLines() {}

    public static TextDataset read(String name, InputStream in, List<String> classes) throws IOException {
        List<String> texts = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        int lineNo = 0;
        for (String line; (line = r.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank()) continue;
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IOException(name + ": line " + lineNo + " is not JSON: " + e.getOriginalMessage(), e);
            }
            int label = classes.indexOf(n.path("label").asText());
            if (label < 0 || !n.path("text").isTextual()) throw new IOException(name + ": line " + lineNo + " needs a label of " + classes + " and a text");
            texts.add(n.get("text").asText());
            labels.add(label);
        }
        return new TextDataset(name, texts, labels.stream().mapToInt(Integer::intValue).toArray(), classes);
    }

    public static void write(TextDataset set, OutputStream out) throws IOException {
        Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8);
        for (int i = 0; i < set.size(); i++) {
            ObjectNode n = JSON.createObjectNode();
            n.put("label", set.classes().get(set.labels()[i]));
            n.put("text", set.texts().get(i));
            w.write(JSON.writeValueAsString(n));
            w.write('\n');
        }
        w.flush();
    }
}
