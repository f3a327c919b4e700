package org.tune4j.autograd;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A later micro-batch's parameter gradients, kept apart from the parameters' own until the parts before it have added
 * theirs ({@link MicroBatches}; ARCHITECTURE.md, "Micro-batches"): each parameter a Var whose gradient the tape makes on
 * first use, as an activation's, and an embedding's rows bound for a table with no such gradient, added row by row.
 */
final class ApartGradients {
    private final Map<Var, Parameter> parameters = new IdentityHashMap<>();
    private final List<Var> order = new ArrayList<>(); // as the tape met them
    private final List<Runnable> rows = new ArrayList<>();

    /** p as this part's tape sees it: its gradient the part's own. */
    Var param(Parameter p) {
        Var v = new Var(p.value(), true, null);
        parameters.put(v, p);
        order.add(v);
        return v;
    }

    /**
     * Whether g's rows [n, d] for {@code table} at ids [n] wait for {@link #addTo} (table a parameter with no gradient of
     * its own yet): then no gradient of the table's size is zeroed and added (MiniLM's word embeddings, 47 MB, of
     * which a batch touches a few hundred rows).
     */
    boolean deferRows(Backend backend, Var table, Tensor ids, Tensor g) {
        Parameter p = table.grad == null ? parameters.get(table) : null;
        if (p == null) return false;
        rows.add(() -> backend.scatterRowsAdd(ids, g, p.grad()));
        return true;
    }

    /** Adds the gradients kept apart into the parameters' own: whole ones in the order met, then the rows. */
    void addTo(Backend backend) {
        for (Var v : order)
            if (v.grad != null) backend.axpy(1f, v.grad, parameters.get(v).grad());
        for (Runnable r : rows) r.run();
    }
}
