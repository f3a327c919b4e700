package org.tune4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link LeasePool}: the item given back last goes out first; a close waits for every item in use before it frees any,
 * and refuses the calls that come or wait after it by the owner's name.
 */
class LeasePoolTest {
    private final ExecutorService threads = Executors.newCachedThreadPool(); // a thread each: the common pool may have one

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    @Test
    void theItemGivenBackLastGoesOutFirst() {
        List<String> released = new ArrayList<>();
        try (LeasePool<String> pool = new LeasePool<>("this test", List.of("a", "b"), released::add)) {
            String first = pool.take(), second = pool.take();
            pool.give(second);
            pool.give(first);
            String again = pool.take();
            assertSame(first, again);
            IllegalStateException inside = assertThrows(IllegalStateException.class, pool::close, "a close from inside a call waits for itself");
            assertTrue(inside.getMessage().contains("from inside one of its calls"), inside.getMessage());
            assertTrue(released.isEmpty());
            pool.give(again);
        }
        assertEquals(List.of("a", "b"), released);
    }

    @Test
    void closeWaitsForTheItemsInUseAndFreesNothingBefore() throws Exception {
        List<String> released = java.util.Collections.synchronizedList(new ArrayList<>());
        LeasePool<String> pool = new LeasePool<>("this test", List.of("a", "b"), released::add);
        String inUse = pool.take();
        CompletableFuture<Void> closing = CompletableFuture.runAsync(pool::close, threads);
        assertThrows(TimeoutException.class, () -> closing.get(300, TimeUnit.MILLISECONDS), "close returned with an item in use");
        assertTrue(released.isEmpty(), "freed " + released + " while an item was in use");
        IllegalStateException late = assertThrows(IllegalStateException.class, pool::take);
        assertEquals("this test is closed", late.getMessage());
        pool.give(inUse); // the call in flight ends
        closing.get(10, TimeUnit.SECONDS);
        assertEquals(2, released.size());
        pool.close(); // a second close does nothing
        assertEquals(2, released.size());
        assertThrows(IllegalStateException.class, pool::checkOpen);
    }

    @Test
    void aCallWaitingForAnItemIsRefusedWhenThePoolCloses() throws Exception {
        LeasePool<String> pool = new LeasePool<>("this test", List.of("only"), item -> {});
        String inUse = pool.take();
        CompletableFuture<String> waiting = CompletableFuture.supplyAsync(pool::take, threads);
        assertThrows(TimeoutException.class, () -> waiting.get(200, TimeUnit.MILLISECONDS), "took an item that was in use");
        CompletableFuture<Void> closing = CompletableFuture.runAsync(pool::close, threads);
        ExecutionException refused = assertThrows(ExecutionException.class, () -> waiting.get(10, TimeUnit.SECONDS));
        assertTrue(refused.getCause() instanceof IllegalStateException && refused.getCause().getMessage().equals("this test is closed"), refused.getCause().toString());
        assertFalse(closing.isDone(), "close returned with an item in use");
        pool.give(inUse);
        closing.get(10, TimeUnit.SECONDS);
    }

    @Test
    void sizesOutOfRangeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> LeasePool.workspaces("this test", 0));
        assertThrows(IllegalArgumentException.class, () -> LeasePool.workspaces("this test", LeasePool.MAX + 1));
        assertThrows(IllegalArgumentException.class, () -> new LeasePool<>("this test", List.of(), item -> {}));
    }
}
