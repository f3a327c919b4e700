package org.tune4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The finetune run's page: its table says every method's numbers, its charts are there, and other files are refused by name. */
class TextReportTest {
    private static final String METRICS = """
            {"model":"m","data":"SpamAssassin","train_size":600,"test_size":400,"max_length":96,
             "runs":[{"method":"lora","seed":1,"test_accuracy":0.945,"trainable_parameters":74498,"parameters":22787330,"seconds":51.2,"epoch_losses":[0.48,0.18],
                      "forgetting_probe_accuracy":0.40,"forgetting_base":0.42,"int8_accuracy":0.9425,"int8_layers":36,"int8_seconds":10.9},
                     {"method":"probe","seed":1,"test_accuracy":0.9475,"trainable_parameters":770,"parameters":22713602,"seconds":17.0,"epoch_losses":[],
                      "forgetting_probe_accuracy":null,"forgetting_base":0.42,"int8_accuracy":null,"int8_layers":null,"int8_seconds":null}],
             "summary":[{"method":"lora","mean_accuracy":0.945,"sd_accuracy":0.0,"trainable_percent":0.327,"mean_seconds":51.2,"mean_forgetting":2.0,"sd_forgetting":0.0,"mean_int8_accuracy":0.9425,"mean_int8_seconds":10.9},
                        {"method":"probe","mean_accuracy":0.9475,"sd_accuracy":0.0,"trainable_percent":0.003,"mean_seconds":17.0,"mean_forgetting":null,"sd_forgetting":null,"mean_int8_accuracy":null,"mean_int8_seconds":null}]}
            """;

    @Test
    void thePageHasTheTableAndBothCharts(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("metrics.json"), METRICS);
        Path page = TextReport.write(dir);
        String html = Files.readString(page);
        assertTrue(html.contains("<td>lora</td><td>0.9450 ± 0.0000</td>"), html);
        assertTrue(html.contains("<td>2.00 ± 0.00</td><td>0.9425</td><td>10.9</td>"), "forgetting, int8 and its time of LoRA");
        assertTrue(html.contains("<td>probe</td>") && html.contains("<td>-</td><td>-</td><td>-</td>"), "a probe has none of them");
        assertEquals(2, HtmlReport.imageCount(page), "the loss curves and the accuracy-forgetting front");
    }

    @Test
    void aDemoRunOrNothingIsRefusedByName(@TempDir Path dir) throws IOException {
        assertTrue(assertThrows(IOException.class, () -> TextReport.write(dir)).getMessage().contains("no metrics.json"));
        Files.writeString(dir.resolve("metrics.json"), "{\"report\":{}}");
        assertTrue(assertThrows(IOException.class, () -> TextReport.write(dir)).getMessage().contains("not a tune4j finetune run"));
    }
}
