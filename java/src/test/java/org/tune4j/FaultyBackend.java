package org.tune4j;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicBoolean;
import org.tune4j.backend.Backend;

/**
 * A backend that runs every op on another until {@code armed}, then throws an {@link IllegalStateException} from one op
 * by name: an internal fault, for the paths that must answer one rather than hang or end the process. Only calls made
 * on this backend are faulted, not those a default method of the inner one makes on itself.
 */
public final class FaultyBackend {
    private FaultyBackend() {}

    public static Backend around(Backend inner, String op, AtomicBoolean armed) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (proxy, method, args) -> {
            if (armed.get() && method.getName().equals(op)) throw new IllegalStateException("injected fault in " + op);
            try {
                return method.invoke(inner, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }
}
