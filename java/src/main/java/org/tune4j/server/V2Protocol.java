package org.tune4j.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.io.SentencePipeline;
import org.tune4j.serve.AdapterPredictor;

/**
 * The Open Inference Protocol (KServe v2) JSON that {@code tune4j serve} speaks: an infer request holds one BYTES
 * input tensor "text" (shape [n], n texts; [n, 1] is taken too) and optional parameters {"task": "classify" or
 * "embed", "normalize": true or false (embed: unit-length vectors; default: as the model folder's sentence-transformers
 * modules say)}; the response holds, for classify, "label" (BYTES [n]) and "probabilities" (FP32 [n, classes]), for
 * embed "embedding" (FP32 [n, hidden]), data flattened row-major as the protocol says. Anything else is a
 * {@link HttpError} with status 400 naming what is wrong.
 */
final class V2Protocol {
    static final ObjectMapper JSON = new ObjectMapper();

    enum Task { CLASSIFY, EMBED }

    /** A parsed infer request: its id (or null), the task asked for (null: the adapter's default), whether embeddings are normalized (null: the model's way), the texts. */
    record InferRequest(String id, Task task, Boolean normalize, List<String> texts) {}

    /** An error the client gets as {"error": message} with this HTTP status. */
    static final class HttpError extends RuntimeException {
        final int status;

        HttpError(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    private V2Protocol() {}

    /** A request body as JSON (null for an empty one), or a 400 naming why it is not. */
    static JsonNode readBody(byte[] body) {
        try {
            return JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw new HttpError(400, "the body is not JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new HttpError(400, "the body could not be read: " + e.getMessage());
        }
    }

    /** A text a request gives at {@code where} (e.g. "input[2]"): 400 when it is blank or longer than {@code maxChars}. */
    static void checkText(String where, String text, int maxChars) {
        if (text.isBlank()) throw new HttpError(400, where + " is empty");
        if (text.length() > maxChars) throw new HttpError(400, where + " holds " + text.length() + " characters; at most " + maxChars);
    }

    static InferRequest parse(byte[] body, int maxTexts, int maxChars) {
        JsonNode root = readBody(body);
        if (root == null || !root.isObject()) throw new HttpError(400, "the body must be a JSON object with \"inputs\"");
        String id = null;
        if (root.has("id")) {
            if (!root.get("id").isTextual()) throw new HttpError(400, "\"id\" must be a string");
            id = root.get("id").asText();
        }
        Task task = null;
        Boolean normalize = null;
        JsonNode params = root.path("parameters");
        if (!params.isMissingNode() && !params.isNull()) {
            if (!params.isObject()) throw new HttpError(400, "\"parameters\" must be an object");
            JsonNode t = params.path("task");
            if (!t.isMissingNode()) {
                if (!t.isTextual() || !(t.asText().equals("classify") || t.asText().equals("embed"))) {
                    throw new HttpError(400, "parameters.task must be \"classify\" or \"embed\", is " + t);
                }
                task = t.asText().equals("classify") ? Task.CLASSIFY : Task.EMBED;
            }
            JsonNode norm = params.path("normalize");
            if (!norm.isMissingNode()) {
                if (!norm.isBoolean()) throw new HttpError(400, "parameters.normalize must be true or false, is " + norm);
                normalize = norm.asBoolean();
            }
        }
        JsonNode inputs = root.path("inputs");
        if (!inputs.isArray() || inputs.size() != 1) throw new HttpError(400, "\"inputs\" must be an array of one tensor, \"text\"");
        JsonNode in = inputs.get(0);
        if (!in.isObject()) throw new HttpError(400, "inputs[0] must be an object");
        if (!"text".equals(in.path("name").asText(null))) throw new HttpError(400, "inputs[0].name must be \"text\", is " + in.path("name"));
        if (!"BYTES".equals(in.path("datatype").asText(null))) throw new HttpError(400, "inputs[0].datatype must be \"BYTES\", is " + in.path("datatype"));
        JsonNode shape = in.path("shape"), data = in.path("data");
        if (!shape.isArray() || shape.isEmpty() || shape.size() > 2) throw new HttpError(400, "inputs[0].shape must be [n] or [n, 1], is " + shape);
        for (JsonNode d : shape) if (!d.isIntegralNumber() || d.asLong() < 0) throw new HttpError(400, "inputs[0].shape must hold non-negative integers, is " + shape);
        if (shape.size() == 2 && shape.get(1).asLong() != 1) throw new HttpError(400, "inputs[0].shape must be [n] or [n, 1], is " + shape);
        if (!data.isArray()) throw new HttpError(400, "inputs[0].data must be an array of strings");
        long n = shape.get(0).asLong();
        if (n != data.size()) throw new HttpError(400, "inputs[0].shape " + shape + " says " + n + " texts, data holds " + data.size());
        if (n == 0) throw new HttpError(400, "inputs[0] holds no text");
        if (n > maxTexts) throw new HttpError(400, n + " texts in one request; at most " + maxTexts);
        List<String> texts = new ArrayList<>((int) n);
        for (int i = 0; i < n; i++) {
            JsonNode d = data.get(i);
            if (!d.isTextual()) throw new HttpError(400, "inputs[0].data[" + i + "] must be a string, is " + d.getNodeType().name().toLowerCase());
            checkText("inputs[0].data[" + i + "]", d.asText(), maxChars);
            texts.add(d.asText());
        }
        return new InferRequest(id, task, normalize, texts);
    }

    /** The response to a request: {@code normalize} (embed) scales each embedding to unit length. */
    static byte[] response(String model, String id, Task task, boolean normalize, List<AdapterPredictor.Result> results) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model_name", model);
        if (id != null) root.put("id", id);
        root.putObject("parameters").put("task", task.name().toLowerCase());
        ArrayNode outputs = root.putArray("outputs");
        int n = results.size();
        if (task == Task.CLASSIFY) {
            int classes = results.getFirst().probabilities().length;
            ObjectNode label = tensor(outputs, "label", "BYTES", n);
            ObjectNode probs = tensor(outputs, "probabilities", "FP32", n);
            ((ArrayNode) probs.get("shape")).add(classes);
            for (AdapterPredictor.Result r : results) {
                ((ArrayNode) label.get("data")).add(r.label());
                for (float p : r.probabilities()) ((ArrayNode) probs.get("data")).add(p);
            }
        } else {
            int hidden = results.getFirst().embedding().length;
            ObjectNode emb = tensor(outputs, "embedding", "FP32", n);
            ((ArrayNode) emb.get("shape")).add(hidden);
            for (AdapterPredictor.Result r : results) for (float v : normalize ? SentencePipeline.unitLength(r.embedding()) : r.embedding()) ((ArrayNode) emb.get("data")).add(v);
        }
        return bytes(root);
    }

    private static ObjectNode tensor(ArrayNode outputs, String name, String datatype, int n) {
        ObjectNode t = outputs.addObject();
        t.put("name", name);
        t.put("datatype", datatype);
        t.putArray("shape").add(n);
        t.putArray("data");
        return t;
    }

    static byte[] error(String message) {
        return bytes(JSON.createObjectNode().put("error", message));
    }

    static byte[] bytes(JsonNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree that does not serialize", e);
        }
    }
}
