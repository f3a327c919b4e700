package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.Safetensors;
import org.tune4j.tensor.Tensor;

/**
 * The Java half of the PEFT interop check (its Python half runs where PEFT is: bench/gpu/peft_interop.py): the folders
 * it writes are a Hugging Face checkpoint and a PEFT adapter by their names, the adapter trained (B off zero), and
 * tune4j reads them back to the logits it recorded, bit for bit.
 */
class PeftInteropTest {
    @Test
    void writesFoldersThatReadBackToTheRecordedLogits(@TempDir Path dir) throws Exception {
        PeftInterop.write(dir);
        ObjectMapper json = new ObjectMapper();
        JsonNode config = json.readTree(dir.resolve("base/config.json").toFile());
        assertEquals("bert", config.get("model_type").asText());
        assertEquals("gelu", config.get("hidden_act").asText());
        JsonNode adapter = json.readTree(dir.resolve("adapter/adapter_config.json").toFile());
        assertEquals("LORA", adapter.get("peft_type").asText());
        assertEquals(8, adapter.get("r").asInt());
        try (Safetensors.File weights = Safetensors.read(dir.resolve("adapter/adapter_model.safetensors"));
                Safetensors.File expected = Safetensors.read(dir.resolve("expected.safetensors"));
                Arena arena = Arena.ofShared()) {
            // PEFT's names on a BertModel: base_model.model.<module>.lora_A.weight [r, in], lora_B.weight [out, r]
            Tensor a = weights.get("base_model.model.encoder.layer.1.attention.self.value.lora_A.weight");
            Tensor b = weights.get("base_model.model.encoder.layer.1.attention.self.value.lora_B.weight");
            assertEquals(8, a.dim(0));
            assertEquals(PeftInterop.CONFIG.hidden(), a.dim(1));
            assertEquals(PeftInterop.CONFIG.hidden(), b.dim(0));
            assertEquals(2 * 2 * PeftInterop.CONFIG.layers(), weights.tensors().size()); // A and B of query and value
            double largest = 0;
            for (long i = 0; i < b.numel(); i++) largest = Math.max(largest, Math.abs(b.getFloat(i)));
            assertTrue(largest > 1e-3, "trained B off zero: " + largest); // else the adapter would not move the output
            assertTrue(Files.isRegularFile(dir.resolve("adapter").resolve(BertAdapter.HEAD_FILE)));

            Tensor ids = expected.get("input_ids"), logits = expected.get("logits");
            int[][] seqs = new int[PeftInterop.LENGTHS.length][];
            for (int s = 0; s < seqs.length; s++) {
                seqs[s] = new int[PeftInterop.LENGTHS[s]];
                for (int i = 0; i < seqs[s].length; i++) seqs[s][i] = ids.getInt(s * ids.dim(1) + i);
            }
            BertAdapter.Loaded loaded = BertAdapter.load(arena, dir.resolve("base"), dir.resolve("adapter"));
            assertEquals(PeftInterop.CLASSES, loaded.classes());
            try (Tape t = new Tape(CpuBackend.get(), false)) {
                Tensor again = loaded.model().logits(t, TokenBatch.of(arena, seqs, null)).value();
                assertEquals(logits.numel(), again.numel());
                for (long i = 0; i < logits.numel(); i++) assertEquals(logits.getFloat(i), again.getFloat(i), 0f, "logit " + i);
            }
        }
    }
}
