package org.tune4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.tune4j.io.SentencePipeline;
import org.tune4j.serve.AdapterPredictor;

/**
 * OpenAI's embeddings API ({@code POST /v1/embeddings}) as {@code tune4j serve} speaks it beside the Open Inference
 * Protocol, for the many clients that have it (LangChain4j's, Spring AI's, OpenAI's own SDKs): a request names a model
 * ({@value InferenceServer#BASE} or an adapter) and gives {@code input}, one text or an array of texts, and optionally
 * {@code encoding_format} ("float", or "base64": each vector's float32 values little-endian, as the SDKs ask by
 * default); the response lists one embedding per text, in order, with the tokens counted in {@code usage}. Token-id
 * inputs and a {@code dimensions} other than the model's width are refused; errors are OpenAI's
 * {@code {"error": {"message", "type"}}}. {@code GET /v1/models} lists the base and the resident adapters.
 */
final class OpenAiEmbeddings {
    /** A parsed request: the model (base or an adapter), the texts, whether vectors go back as base64. */
    record Request(String model, List<String> texts, boolean base64, Integer dimensions) {}

    private OpenAiEmbeddings() {}

    static Request parse(byte[] body, int maxTexts, int maxChars) {
        JsonNode root = V2Protocol.readBody(body);
        if (root == null || !root.isObject()) throw new V2Protocol.HttpError(400, "the body must be a JSON object with \"model\" and \"input\"");
        JsonNode model = root.path("model");
        if (!model.isTextual() || model.asText().isEmpty()) throw new V2Protocol.HttpError(400, "\"model\" must name the base or an adapter, is " + model);
        JsonNode input = root.path("input");
        List<String> texts = new ArrayList<>();
        if (input.isTextual()) {
            texts.add(input.asText());
        } else if (input.isArray()) {
            for (JsonNode t : input) {
                if (!t.isTextual()) throw new V2Protocol.HttpError(400, "\"input\" must be a text or an array of texts (token ids are not taken), holds " + t.getNodeType().name().toLowerCase());
                texts.add(t.asText());
            }
        } else {
            throw new V2Protocol.HttpError(400, "\"input\" must be a text or an array of texts, is " + input);
        }
        if (texts.isEmpty()) throw new V2Protocol.HttpError(400, "\"input\" holds no text");
        if (texts.size() > maxTexts) throw new V2Protocol.HttpError(400, texts.size() + " texts in one request; at most " + maxTexts);
        for (int i = 0; i < texts.size(); i++) V2Protocol.checkText("input[" + i + "]", texts.get(i), maxChars);
        JsonNode format = root.path("encoding_format");
        boolean base64 = false;
        if (!format.isMissingNode() && !format.isNull()) {
            if (!format.isTextual() || !(format.asText().equals("float") || format.asText().equals("base64"))) {
                throw new V2Protocol.HttpError(400, "\"encoding_format\" must be \"float\" or \"base64\", is " + format);
            }
            base64 = format.asText().equals("base64");
        }
        JsonNode dims = root.path("dimensions");
        Integer dimensions = null;
        if (!dims.isMissingNode() && !dims.isNull()) {
            if (!dims.isIntegralNumber() || !dims.canConvertToInt()) throw new V2Protocol.HttpError(400, "\"dimensions\" must be an integer, is " + dims);
            dimensions = dims.asInt();
        }
        return new Request(model.asText(), texts, base64, dimensions);
    }

    /** The response: each result's embedding ended as {@code pipeline} ends it, in order; usage: their tokens, [CLS] and [SEP] included. */
    static byte[] response(String model, List<AdapterPredictor.Result> results, SentencePipeline pipeline, boolean base64) {
        ObjectNode root = V2Protocol.JSON.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        long tokens = 0;
        for (int i = 0; i < results.size(); i++) {
            ObjectNode e = data.addObject().put("object", "embedding").put("index", i);
            float[] v = pipeline.finish(results.get(i).embedding());
            tokens += results.get(i).tokens();
            if (base64) {
                ByteBuffer bytes = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) bytes.putFloat(x);
                e.put("embedding", Base64.getEncoder().encodeToString(bytes.array()));
            } else {
                ArrayNode a = e.putArray("embedding");
                for (float x : v) a.add(x);
            }
        }
        root.put("model", model);
        root.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        return V2Protocol.bytes(root);
    }

    /** {@code GET /v1/models}: the base and the resident adapters, as OpenAI lists models. */
    static JsonNode models(String base, java.util.Collection<String> adapters) {
        ObjectNode root = V2Protocol.JSON.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        data.addObject().put("id", base).put("object", "model").put("owned_by", "tune4j");
        for (String id : adapters) data.addObject().put("id", id).put("object", "model").put("owned_by", "tune4j");
        return root;
    }

    /** OpenAI's error body: invalid_request_error for a 4xx, server_error otherwise. */
    static byte[] error(int status, String message) {
        ObjectNode root = V2Protocol.JSON.createObjectNode();
        root.putObject("error").put("message", message).put("type", status < 500 ? "invalid_request_error" : "server_error").putNull("code");
        return V2Protocol.bytes(root);
    }
}
