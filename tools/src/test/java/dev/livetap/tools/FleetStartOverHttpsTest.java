package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.fleet.cluster.RotatingTlsContext;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code livetap fleet start --operator-url} against a real fleet node's operator endpoint (HTTPS with a client
 * certificate, on loopback): the plan is accepted (201), printed with its id, and is the plan the node's
 * {@code /fleet/status} reports; a second plan while the first has a step open is refused (409), printed as
 * {@code plan refused: REASON}, exit 1. {@code long}: the certificates come from {@code scripts/fleet-certs}
 * (keytool, 10-30 s at load), and a TLS node starts in seconds more.
 */
@Tag("long")
class FleetStartOverHttpsTest {
    private static final Duration START = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void aPlanIsAcceptedOverHttpsAndASecondIsRefusedWithItsReason() throws Exception {
        Path certs = dir.resolve("certs");
        makeCertificates(certs, "node1");
        Path tls = certs.resolve("node1"); // a member's certificate may start plans (as an operate one)
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "https-start-test-migration"));
        try (FleetNode node = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), FleetConfig.h2File(dir.resolve("journal")),
                List.of(FleetNode.COORDINATOR_ROLE), FleetTls.fromDirectory(tls), FleetConfig.MANAGEMENT_ANY_PORT), START)) {
            URI https = node.management().orElseThrow();
            assertEquals("https", https.getScheme(), https.toString());
            // an agent whose one step waits until the test ends: the plan keeps a step open
            HostAgent.MigrationPort port = new HostAgent.MigrationPort() {
                @Override
                public HostAgent.StepDone migrate(String vm, String id) throws Exception {
                    release.await(120, TimeUnit.SECONDS);
                    return new HostAgent.StepDone(vm, id, "completed", 1.0);
                }

                @Override
                public List<String> vms() {
                    return List.of("vm1");
                }
            };
            node.system().systemActorOf(HostAgent.create("h1", StepLedger.open(dir.resolve("h1.ledger")),
                    new FreezeBudget(FreezeBudget.Settings.fixed(1)), Duration.ofSeconds(60), port, executor),
                    HostAgent.ACTOR_NAME_PREFIX + "h1", Props.empty());
            List<String> start = List.of("fleet", "start", "--operator-url", https.toString(), "--tls-dir", tls.toString(),
                    "--hosts", "h1", "--max-failures", "0");

            CliRun accepted = CliRun.of(start);
            assertEquals(ExitCodes.OK, accepted.code(), accepted.toString());
            assertTrue(accepted.out().matches("plan 1 accepted at coordinator epoch \\d+\\s*"), accepted.toString());
            HttpClient client = HttpClient.newBuilder().sslContext(new RotatingTlsContext(FleetTls.fromDirectory(tls)).context())
                    .connectTimeout(Duration.ofSeconds(10)).build();
            JsonNode status = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            do {
                if (status != null) {
                    Thread.sleep(100);
                }
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(https.resolve("/fleet/status")).timeout(Duration.ofSeconds(20))
                        .GET().build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
                status = Json.MAPPER.readTree(r.body());
            } while (status.path("open").size() == 0 && System.nanoTime() < deadline);
            assertEquals("running", status.path("state").asText(), "the node runs the plan: " + status);
            assertEquals(List.of("h1"), hosts(status.path("plan")), "the submitted plan: " + status);
            assertEquals(1, status.path("open").size(), "its step is open: " + status);

            CliRun refused = CliRun.of(start);
            assertEquals(ExitCodes.FAILED, refused.code(), refused.toString());
            assertTrue(refused.out().startsWith("plan refused: a plan is running"), refused.toString());
            assertEquals(1, refused.out().strip().lines().count(), "one line: " + refused);
            assertFalse(refused.all().contains("Exception"), refused.toString());

            CliRun json = CliRun.of(append(start, "--json"));
            assertEquals(ExitCodes.FAILED, json.code(), json.toString());
            JsonNode o = Json.MAPPER.readTree(json.out());
            assertFalse(o.path("accepted").asBoolean(), json.toString());
            assertEquals(409, o.path("status").asInt(), json.toString());
            assertTrue(o.path("reason").asText().startsWith("a plan is running"), json.toString());
        } finally {
            release.countDown();
            executor.shutdownNow();
        }
    }

    private static List<String> hosts(JsonNode plan) {
        List<String> out = new ArrayList<>();
        plan.path("hosts").forEach(h -> out.add(h.asText()));
        return out;
    }

    private static List<String> append(List<String> args, String more) {
        List<String> out = new ArrayList<>(args);
        out.add(more);
        return out;
    }

    /** {@code scripts/fleet-certs DIR NAMES} (the documented way) with this JVM's keytool first on the PATH. */
    private static void makeCertificates(Path certs, String... names) throws Exception {
        Path script = null;
        for (Path p : List.of(Path.of("../scripts/fleet-certs"), Path.of("scripts/fleet-certs"))) {
            if (Files.isExecutable(p)) {
                script = p.toAbsolutePath().normalize();
            }
        }
        assertTrue(script != null, "scripts/fleet-certs from " + Path.of("").toAbsolutePath());
        List<String> cmd = new ArrayList<>(List.of(script.toString(), certs.toString()));
        cmd.addAll(List.of(names));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + pb.environment().getOrDefault("PATH", ""));
        Process p = pb.start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("scripts/fleet-certs did not finish within 120 s");
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "scripts/fleet-certs: " + output);
    }
}
