package org.tune4j.bench.peers;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/** Finds the peers built into this jar; a broken provider is reported, not fatal. */
public final class PeerLoader {
    private PeerLoader() {}

    /** The providers of {@code type}; {@code problems} receives one line per provider that failed to load. */
    public static <T> List<T> load(Class<T> type, List<String> problems) {
        List<T> out = new ArrayList<>();
        Iterator<T> it = ServiceLoader.load(type).iterator();
        while (true) {
            try {
                if (!it.hasNext()) break;
                out.add(it.next());
            } catch (ServiceConfigurationError | LinkageError e) {
                problems.add(e.getMessage());
            }
        }
        return out;
    }
}
