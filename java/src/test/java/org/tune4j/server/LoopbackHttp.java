package org.tune4j.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** Requests to a server on loopback, for the server's tests: POST and GET, and an Open Inference Protocol infer body. */
final class LoopbackHttp {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private LoopbackHttp() {}

    static HttpResponse<String> post(int port, String path, String body) throws IOException, InterruptedException {
        HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).header("Content-Type", "application/json").build();
        return HTTP.send(r, HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    /** An infer request's body: {@code texts} as the "text" input, {@code task} ("classify", "embed") unless null. */
    static String infer(String task, String... texts) throws IOException {
        var root = JSON.createObjectNode();
        if (task != null) root.putObject("parameters").put("task", task);
        var in = root.putArray("inputs").addObject();
        in.put("name", "text").put("datatype", "BYTES").putArray("shape").add(texts.length);
        var data = in.putArray("data");
        for (String t : texts) data.add(t);
        return JSON.writeValueAsString(root);
    }
}
