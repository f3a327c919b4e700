package org.tune4j.bindings;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The one place that makes restricted FFM calls (library lookup and downcall handles). Generated
 * bindings ask it for their method handles; nothing else in tune4j links native code.
 */
public final class NativeAccess {
    private static final Linker LINKER = Linker.nativeLinker();

    private NativeAccess() {}

    /**
     * A downcall handle for {@code name} in {@code library}. {@code critical} binds it as a critical
     * function: no thread-state transition, for calls that return at once.
     *
     * @throws UnsatisfiedLinkError if the library does not export {@code name}
     */
    public static MethodHandle downcall(SymbolLookup library, String name, FunctionDescriptor descriptor, boolean critical) {
        MemorySegment address = library.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("native symbol not found: " + name));
        return critical
                ? LINKER.downcallHandle(address, descriptor, Linker.Option.critical(false))
                : LINKER.downcallHandle(address, descriptor);
    }

    /** Whether {@code library} exports {@code name}. */
    public static boolean exports(SymbolLookup library, String name) {
        return library.find(name).isPresent();
    }

    /**
     * The same memory as {@code segment}, with {@code arena}'s lifetime: a step's tensors carved from a
     * buffer that outlives the step stop working when the step's arena closes (no stale aliasing).
     */
    public static MemorySegment scoped(MemorySegment segment, java.lang.foreign.Arena arena) {
        return segment.reinterpret(arena, null);
    }

    /**
     * {@code bytes} of native memory at {@code pointer} (a zero-length address a native allocator returned), owned
     * by {@code arena}: {@code free} runs with it when the arena closes.
     */
    public static MemorySegment owned(MemorySegment pointer, long bytes, java.lang.foreign.Arena arena, java.util.function.Consumer<MemorySegment> free) {
        return pointer.reinterpret(bytes, arena, free);
    }

    /** Opens a shared library by path (kept open for the life of the JVM). */
    static SymbolLookup open(java.nio.file.Path path) {
        return SymbolLookup.libraryLookup(path, java.lang.foreign.Arena.global());
    }

    /** Opens a system library by name, such as {@code libopenblas.so.0}; empty when it is absent. */
    public static Optional<SymbolLookup> openSystem(String soname) {
        try {
            return Optional.of(SymbolLookup.libraryLookup(soname, java.lang.foreign.Arena.global()));
        } catch (IllegalArgumentException notFound) {
            return Optional.empty();
        }
    }
}
