package dev.livetap.engine.vmm;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code livetap vmm --metrics-port}: the engine's meters as a Prometheus scrape endpoint, {@code GET
 * http://127.0.0.1:PORT/metrics}, served by the JDK's HTTP server on one named thread. Loopback
 * only: the meters name VMs and migrations. The only class that touches the Prometheus registry
 * (an optional dependency of the engine, which the distribution brings).
 */
final class MetricsEndpoint implements AutoCloseable {
    static final String PATH = "/metrics";
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final HttpServer server;
    private final ExecutorService thread;

    private MetricsEndpoint(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 8);
        thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "livetap-metrics-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(thread);
        server.createContext(PATH, this::scrape);
    }

    /** Binds 127.0.0.1:{@code port} and serves; fails with the bind error. */
    static MetricsEndpoint start(int port) throws IOException {
        MetricsEndpoint e = new MetricsEndpoint(port);
        e.server.start();
        return e;
    }

    /** The registry as Micrometer's type: callers (VmmMain) then verify without the optional Prometheus jar. */
    MeterRegistry registry() {
        return registry;
    }

    InetSocketAddress address() {
        return server.getAddress();
    }

    private void scrape(HttpExchange x) throws IOException {
        try (x) {
            if (!x.getRequestMethod().equals("GET") && !x.getRequestMethod().equals("HEAD")) {
                x.sendResponseHeaders(405, -1);
                return;
            }
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            boolean head = x.getRequestMethod().equals("HEAD");
            x.sendResponseHeaders(200, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = x.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        thread.shutdownNow();
        registry.close();
    }
}
