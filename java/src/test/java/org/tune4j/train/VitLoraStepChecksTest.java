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

/** What the LoRA step accepts (checked before anything is allocated, on the GPU or the host). */
class VitLoraStepChecksTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(8, 4, 16, 2, 2, 32, 3);
    private static final List<String> TARGETS = List.of("qkv", "proj", "fc1", "fc2");

    private static String refusal(VisionTransformer vit) {
        return assertThrows(IllegalArgumentException.class, () -> VitLoraStep.checkOnlyAdaptersTrain(vit)).getMessage();
    }

    @Test
    void acceptsTheMainJobsAdaptersAndRefusesTheRest() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer plain = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            assertTrue(refusal(plain).contains("blocks.0.attn.qkv has none"), refusal(plain));

            VisionTransformer partial = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            Lora.inject(partial, arena, new Lora.Config(2, 4f, 0f, false, List.of("qkv", "proj"), List.of()), new SplittableRandom(2));
            assertTrue(refusal(partial).contains("blocks.0.mlp.fc1 has none"), refusal(partial));

            VisionTransformer withHead = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            Lora.inject(withHead, arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of("head")), new SplittableRandom(2));
            assertTrue(refusal(withHead).contains("head.weight is trainable too"), refusal(withHead));

            VisionTransformer dropout = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            Lora.inject(dropout, arena, new Lora.Config(2, 4f, 0.1f, false, TARGETS, List.of()), new SplittableRandom(2));
            assertTrue(refusal(dropout).contains("no LoRA dropout"), refusal(dropout));

            VisionTransformer dora = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            Lora.inject(dora, arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of()).withVariant(false, true), new SplittableRandom(2));
            assertTrue(refusal(dora).contains("not DoRA"), refusal(dora));

            VisionTransformer ok = new VisionTransformer(arena, TINY, new SplittableRandom(1));
            Lora.inject(ok, arena, new Lora.Config(2, 4f, 0f, false, TARGETS, List.of()), new SplittableRandom(2));
            assertDoesNotThrow(() -> VitLoraStep.checkOnlyAdaptersTrain(ok));
        }
    }
}
