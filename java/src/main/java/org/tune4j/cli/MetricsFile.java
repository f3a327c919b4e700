package org.tune4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A run's metrics.json: its records in snake_case, indented, the form `tune4j report` and the HTML pages read. */
final class MetricsFile {
    private MetricsFile() {}

    /** Writes {@code metrics} to {@code dir/metrics.json} (the folder made if needed); returns the file. */
    static Path write(Path dir, Object metrics) throws IOException {
        Files.createDirectories(dir);
        Path file = dir.resolve("metrics.json");
        new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), metrics);
        return file;
    }
}
