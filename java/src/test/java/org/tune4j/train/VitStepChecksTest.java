package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;

/** What the tape-free ViT step takes (checked before anything is allocated, on the GPU or the host). */
class VitStepChecksTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(8, 4, 16, 2, 2, 32, 3);
    private static final List<String> TARGETS = List.of("qkv", "proj", "fc1", "fc2");

    private static String refusal(VisionTransformer vit) {
        return assertThrows(IllegalArgumentException.class, () -> VitStep.checkTrainable(vit)).getMessage();
    }

    private static VisionTransformer vit(Arena arena, Lora.Config lora) {
        VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(1));
        if (lora != null) Lora.inject(vit, arena, lora, new SplittableRandom(2));
        return vit;
    }

    @Test
    void takesPlainLoraAndPlainLayersAndRefusesTheRest() {
        try (Arena arena = Arena.ofConfined()) {
            assertDoesNotThrow(() -> VitStep.checkTrainable(vit(arena, null)), "a plain ViT (full fine-tuning, pretraining)");
            assertDoesNotThrow(() -> VitStep.checkTrainable(vit(arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of("head")))), "LoRA and the head");
            assertDoesNotThrow(() -> VitStep.checkTrainable(vit(arena, new Lora.Config(2, 4f, 0f, false, List.of("qkv", "proj"), List.of()))),
                    "adapters on some layers");

            String dropout = refusal(vit(arena, new Lora.Config(2, 4f, 0.1f, false, TARGETS, List.of())));
            assertTrue(dropout.contains("no LoRA dropout"), dropout);
            String dora = refusal(vit(arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of()).withVariant(false, true)));
            assertTrue(dora.contains("no DoRA"), dora);
            String head = refusal(vit(arena, new Lora.Config(2, 4f, 0f, false, List.of("head"), List.of())));
            assertTrue(head.contains("plain biased linear head"), head);
            String embed = refusal(vit(arena, new Lora.Config(2, 4f, 0f, false, List.of("patch_embed"), List.of())));
            assertTrue(embed.contains("plain biased linear patch_embed"), embed);
            VisionTransformer merged = vit(arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of()));
            merged.namedModules().values().forEach(m -> {
                if (m instanceof org.tune4j.nn.LoraLinear l) l.merge(org.tune4j.backend.CpuBackend.get());
            });
            String mergedRefusal = refusal(merged);
            assertTrue(mergedRefusal.contains("trains no merged adapter"), mergedRefusal);
        }
    }
}
