package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA injection, as PEFT's {@code target_modules}: every Linear whose name (the last part of its path)
 * or whole path matches a target is wrapped in a {@link LoraLinear}; then everything is frozen but the
 * adapters and the modules named in {@code modulesToSave} (a classifier's new head).
 */
public final class Lora {
    /**
     * PEFT's LoraConfig, as far as tune4j uses it. {@code pissa} is PEFT's {@code init_lora_weights="pissa"}
     * ({@link LoraLinear#initPissa}), {@code useDora} its {@code use_dora} (a trained magnitude per output).
     */
    public record Config(int r, float alpha, float dropout, boolean rsLora, List<String> targetModules, List<String> modulesToSave, boolean pissa,
            boolean useDora) {
        public Config {
            if (r < 1) throw new IllegalArgumentException("LoRA rank must be >= 1, is " + r);
            if (!Float.isFinite(alpha)) throw new IllegalArgumentException("lora_alpha must be finite, is " + alpha);
            if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), is " + dropout);
            targetModules = List.copyOf(targetModules);
            modulesToSave = List.copyOf(modulesToSave);
        }

        /** Plain LoRA: PEFT's default initialisation, no DoRA. */
        public Config(int r, float alpha, float dropout, boolean rsLora, List<String> targetModules, List<String> modulesToSave) {
            this(r, alpha, dropout, rsLora, targetModules, modulesToSave, false, false);
        }

        public Config withVariant(boolean pissa, boolean useDora) {
            return new Config(r, alpha, dropout, rsLora, targetModules, modulesToSave, pissa, useDora);
        }
    }

    private Lora() {}

    /**
     * Folds every adapter under {@code root} into its base (W += s·B A) and puts the base back in its place: the model
     * as a plain one again, ready for a new adapter (a continual update) or for export. Returns how many were folded.
     */
    public static int fold(Module root, org.tune4j.backend.Backend backend) {
        Map<String, LoraLinear> adapters = new LinkedHashMap<>();
        root.namedModules().forEach((path, m) -> {
            if (m instanceof LoraLinear l) adapters.put(path, l);
        });
        adapters.forEach((path, l) -> {
            l.merge(backend);
            root.replaceModule(path, l.base());
        });
        return adapters.size();
    }

    /** Injects adapters into {@code root}; returns them by module path. */
    public static Map<String, LoraLinear> inject(Module root, Arena arena, Config config, SplittableRandom rng) {
        Map<String, LoraLinear> injected = new LinkedHashMap<>();
        for (Map.Entry<String, Module> e : root.namedModules().entrySet()) {
            Module parent = e.getValue();
            // a copy in registration order: Map.copyOf's iteration order is salted per JVM run, and the
            // order here decides which adapter gets which draws of rng (its A init)
            for (Map.Entry<String, Module> c : new LinkedHashMap<>(parent.children()).entrySet()) {
                String path = e.getKey().isEmpty() ? c.getKey() : e.getKey() + "." + c.getKey();
                if (c.getValue() instanceof Linear linear && matches(path, c.getKey(), config.targetModules())) {
                    LoraLinear lora = new LoraLinear(arena, linear, config.r(), config.alpha(), config.dropout(), config.rsLora(), config.useDora(), rng);
                    if (config.pissa()) lora.initPissa(arena, rng);
                    parent.replace(c.getKey(), lora);
                    injected.put(path, lora);
                }
            }
        }
        if (injected.isEmpty()) throw new IllegalArgumentException("no Linear matches target_modules " + config.targetModules());
        root.setTrainable(false);
        injected.values().forEach(l -> {
            l.loraA().setTrainable(true);
            l.loraB().setTrainable(true);
            if (l.magnitude() != null) l.magnitude().setTrainable(true);
        });
        root.namedModules().forEach((path, m) -> {
            if (config.modulesToSave().contains(path)) m.setTrainable(true);
        });
        return injected;
    }

    /** Whether the module at {@code path} (last segment {@code name}) is one of {@code targets}: by name, whole path or path suffix. */
    public static boolean matches(String path, String name, List<String> targets) {
        for (String t : targets) if (t.equals(name) || t.equals(path) || path.endsWith("." + t)) return true;
        return false;
    }
}
