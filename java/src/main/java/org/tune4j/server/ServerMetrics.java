package org.tune4j.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.Supplier;

/** The server's Prometheus metrics, through Micrometer: requests by task and status, latency, batches, queue, adapters. */
final class ServerMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final DistributionSummary batchTexts, batchRequests;
    private final Timer batchTime, adapterLoad;

    ServerMetrics(Supplier<Number> queued, Supplier<Number> adapters, Supplier<Number> adapterBytes) {
        batchTexts = DistributionSummary.builder("tune4j.batch.texts").description("texts per batch").publishPercentiles(0.5, 0.99).register(registry);
        batchRequests = DistributionSummary.builder("tune4j.batch.requests").description("requests per batch").register(registry);
        batchTime = Timer.builder("tune4j.batch.duration").description("time to run one batch").publishPercentiles(0.5, 0.99).register(registry);
        adapterLoad = Timer.builder("tune4j.adapter.load.duration").description("time to read, check and make an adapter resident").register(registry);
        Gauge.builder("tune4j.queue.jobs", queued).description("requests waiting for a batch").register(registry);
        Gauge.builder("tune4j.adapters.resident", adapters).description("adapters resident").register(registry);
        Gauge.builder("tune4j.adapters.bytes", adapterBytes).description("bytes of the resident adapters").register(registry);
    }

    void request(String task, int status, long nanos) {
        Timer.builder("tune4j.request.duration").description("an infer request, accepted to answered").tags("task", task, "status", String.valueOf(status))
                .publishPercentiles(0.5, 0.99).register(registry).record(Duration.ofNanos(nanos));
    }

    void refused(int status) {
        Counter.builder("tune4j.request.refused").description("requests refused before they were queued").tag("status", String.valueOf(status)).register(registry).increment();
    }

    /** A batch run; {@code kernelThreads}: the CPU kernel threads it ran on (0: the process's, not chosen per batch). */
    void batch(int texts, int requests, long nanos, int kernelThreads) {
        Counter.builder("tune4j.batches").description("batches run, by the CPU kernel threads each ran on (\"process\": the process's setting)")
                .tag("kernel_threads", kernelThreads > 0 ? String.valueOf(kernelThreads) : "process").register(registry).increment();
        batchTexts.record(texts);
        batchRequests.record(requests);
        batchTime.record(Duration.ofNanos(nanos));
    }

    void adapterLoaded(long nanos) {
        adapterLoad.record(Duration.ofNanos(nanos));
    }

    /** The Prometheus text exposition. */
    String scrape() {
        return registry.scrape();
    }
}
