package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.engine.metrics.LivetapMetrics;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code livetap vmm --metrics-port}: livetap's meters in Prometheus' text format, on loopback only. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MetricsEndpointTest {
    @Test
    void theScrapeEndpointServesLivetapsMetersOnLoopback() throws Exception {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        try (MetricsEndpoint endpoint = MetricsEndpoint.start(port)) {
            LivetapMetrics meters = new LivetapMetrics();
            meters.bindTo(endpoint.registry());
            meters.countQmpSessions(() -> 2);
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + MetricsEndpoint.PATH)).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"), r.headers().toString());
            for (String meter : List.of("livetap_qmp_sessions 2.0", "livetap_migrations_in_flight{role=\"source\"} 0.0",
                    "livetap_tap_fds 0.0", "livetap_switchover_downtime_seconds_count 0")) {
                assertTrue(r.body().contains(meter), "the scrape shows " + meter + ":\n" + r.body());
            }
            HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + MetricsEndpoint.PATH)).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode(), "only GET and HEAD");
            assertEquals("127.0.0.1", endpoint.address().getAddress().getHostAddress(), "bound to loopback only");
        }
    }

    @Test
    void theMetricsPortIsOffByDefaultAndRangeChecked() throws Exception {
        assertEquals(null, VmmArguments.parse(List.of("--qmp", "/tmp/x.qmp")).metricsPort(), "off by default");
        assertEquals(9464, VmmArguments.parse(List.of("--qmp", "/tmp/x.qmp", "--metrics-port", "9464")).metricsPort());
        VmmArguments.BadArguments e = assertThrows(VmmArguments.BadArguments.class,
                () -> VmmArguments.parse(List.of("--qmp", "/tmp/x.qmp", "--metrics-port=0")));
        assertEquals("--metrics-port must be 1 to 65535, got 0", e.getMessage());
        assertEquals(5, VmmArguments.parse(List.of("--qmp", "/tmp/x.qmp", "--qmp-negotiation-timeout", "5"))
                .qmpNegotiationTimeoutSeconds(), "--qmp-negotiation-timeout parses (it fell through to 'Unknown option')");
    }
}
