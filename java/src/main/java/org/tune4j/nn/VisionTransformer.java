package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.autograd.ColumnPermutation;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.VisionOps;

/**
 * A ViT (Dosovitskiy et al. 2021) for small grey images: non-overlapping patch×patch patches embedded by a
 * linear layer, a class token, learned positions, {@code depth} pre-norm blocks, a final LayerNorm and a
 * linear head on the class token. Parameter names follow timm's ("patch_embed", "cls_token",
 * "pos_embed", "blocks.i.attn.qkv", "head").
 */
public final class VisionTransformer extends Module implements Classifier {
    /** The shape of a ViT. */
    public record Config(int image, int patch, int dim, int depth, int heads, int mlpHidden, int classes) {
        public Config {
            if (image < 1 || patch < 1 || dim < 1 || depth < 1 || heads < 1 || mlpHidden < 1 || classes < 1) {
                throw new IllegalArgumentException("every size of a ViT must be >= 1: image " + image + ", patch " + patch + ", dim " + dim + ", depth " + depth
                        + ", heads " + heads + ", mlp_hidden " + mlpHidden + ", classes " + classes);
            }
            if (dim % heads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of heads " + heads);
            if (image % patch != 0) throw new IllegalArgumentException("image " + image + " is not a multiple of patch " + patch);
        }

        public int patches() {
            return (image / patch) * (image / patch);
        }
    }

    private final Config config;
    private Layer patchEmbed;
    private final Parameter cls;
    private final Parameter pos;
    private final List<Block> blocks = new ArrayList<>();
    private final LayerNorm norm;
    private Layer head;
    private final ColumnPermutation patchOrder; // to each pixel of a row-major image its position in the patch matrix [P, patch²]

    public VisionTransformer(Arena arena, Config c, SplittableRandom rng) {
        this.config = c;
        int img = c.image(), p = c.patch(), per = img / p;
        long[] patchIndex = new long[img * img];
        for (int r = 0; r < img; r++)
            for (int col = 0; col < img; col++) patchIndex[r * img + col] = (long) ((r / p) * per + col / p) * p * p + (r % p) * p + col % p;
        patchOrder = new ColumnPermutation(patchIndex);
        patchEmbed = register("patch_embed", new Linear(arena, c.patch() * c.patch(), c.dim(), true, rng));
        cls = register("cls_token", new Parameter(arena, 1, c.dim()));
        pos = register("pos_embed", new Parameter(arena, c.patches() + 1, c.dim()));
        Init.normal(cls.value(), 0.02, rng);
        Init.normal(pos.value(), 0.02, rng);
        Module list = register("blocks", new Module() {});
        for (int i = 0; i < c.depth(); i++) blocks.add(list.register(String.valueOf(i), new Block(arena, c.dim(), c.heads(), c.mlpHidden(), rng)));
        norm = register("norm", new LayerNorm(arena, c.dim()));
        head = register("head", new Linear(arena, c.dim(), c.classes(), true, rng));
    }

    public Config config() {
        return config;
    }

    @Override
    public Module module() {
        return this;
    }

    /**
     * images [batch, H·W] → logits [batch, classes]. The final LayerNorm runs on the class tokens only (it is per row:
     * the other tokens' outputs would be dropped). In no-grad mode on a kept {@code Workspace} this is the serving path
     * ({@code serve.Predictor}): the same memory every call, one block's activations at a time.
     */
    @Override
    public Var logits(Tape t, Var images) {
        int batch = (int) images.value().dim(0), per = config.image() / config.patch();
        Var patches = VisionOps.permuteRows(t, images, patchOrder, (long) per * per, (long) config.patch() * config.patch()); // [batch·P, patch²]
        long mark = t.mark(); // no-grad on a workspace: each stage's activations are freed but its output (Tape.keepOnly)
        Var x = t.keepOnly(mark, VisionOps.tokens(t, patchEmbed.forward(t, patches), t.param(cls), t.param(pos), batch));
        for (Block b : blocks) {
            mark = t.mark();
            x = t.keepOnly(mark, b.forward(t, x, batch));
        }
        return head.forward(t, norm.forward(t, t.everyNthRow(x, config.patches() + 1, 0)));
    }

    @Override
    protected void onChildReplaced(String name, Module child) {
        if (name.equals("head")) head = (Layer) child;
        else if (name.equals("patch_embed")) patchEmbed = (Layer) child;
    }
}
