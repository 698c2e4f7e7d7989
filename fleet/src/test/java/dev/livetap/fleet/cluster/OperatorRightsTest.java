package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanJson;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Operator rights over real TLS, certificates from {@code scripts/fleet-certs}: a coordinator node serves
 * Management and the operator routes over HTTPS; a read-only certificate reads ({@code /cluster/members},
 * {@code /fleet/status}) and is refused {@code pause} with 403 and one line, and never becomes a cluster member;
 * an operate certificate joins, submits a plan and pauses it over HTTPS; plain HTTP and a client without a
 * certificate get nothing; every command is in the audit log. {@code long}: keytool takes 10-30 s at load.
 */
@Tag("long")
class OperatorRightsTest {
    private static final Duration START = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    @BeforeAll
    static void makeCertificates() throws Exception {
        Process members = FleetCerts.start(dir.resolve("certs"), "node1");
        FleetCerts.await(members, 120); // the CA first: the role runs below reuse it
        Process readers = FleetCerts.startWithRole(dir.resolve("certs"), "read", "reader");
        FleetCerts.await(readers, 120);
        Process operators = FleetCerts.startWithRole(dir.resolve("certs"), "operate", "op");
        FleetCerts.await(operators, 120);
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void readersReadOperatorsActAndEveryCommandIsAudited() throws Exception {
        ListAppender<ILoggingEvent> audit = new ListAppender<>();
        Logger auditLogger = (Logger) LoggerFactory.getLogger(OperatorAudit.LOGGER);
        ch.qos.logback.classic.Level level = auditLogger.getLevel();
        auditLogger.setLevel(ch.qos.logback.classic.Level.INFO); // the test configuration logs WARN and above
        audit.start();
        auditLogger.addAppender(audit);
        FleetTls nodeTls = FleetTls.fromDirectory(dir.resolve("certs/node1"));
        try (FleetNode node = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), FleetConfig.h2File(dir.resolve("journal")),
                List.of(FleetNode.COORDINATOR_ROLE), nodeTls, FleetConfig.MANAGEMENT_ANY_PORT), START)) {
            URI https = node.management().orElseThrow();
            assertEquals("https", https.getScheme(), "Management over HTTPS when TLS is on: " + https);
            String seed = org.apache.pekko.cluster.typed.Cluster.get(node.system()).selfMember().address().toString();

            // read-only: health and status yes, pause no (403, one line), membership no
            HttpClient reader = client("reader");
            HttpResponse<String> members = send(reader, https, "GET", "/cluster/members");
            assertEquals(200, members.statusCode(), members.body());
            assertEquals("Up", new ObjectMapper().readTree(members.body()).path("members").get(0).path("status").asText());
            HttpResponse<String> status = send(reader, https, "GET", "/fleet/status");
            assertEquals(200, status.statusCode(), status.body());
            assertEquals("none", new ObjectMapper().readTree(status.body()).path("state").asText(), status.body());
            HttpResponse<String> pause = send(reader, https, "POST", "/fleet/pause");
            assertEquals(403, pause.statusCode(), pause.body());
            assertEquals("reader has the role read, which may not pause (it needs a certificate with OU=livetap-operate or a "
                    + "member's)\n", pause.body());
            assertThrows(TimeoutException.class, () -> OperatorClient.join(List.of(seed),
                    FleetTls.fromDirectory(dir.resolve("certs/reader")), Duration.ofSeconds(6)).close(),
                    "a read-only certificate never becomes a cluster member");

            // operate: joins the cluster (start), and pauses over HTTPS
            try (OperatorClient op = OperatorClient.join(List.of(seed), FleetTls.fromDirectory(dir.resolve("certs/op")), START)) {
                assertInstanceOf(UpgradeCoordinator.PlanAccepted.class, op.submit(new Plan("0.2.0", List.of("h1"), 1, 0, 10.0)));
            }
            HttpResponse<String> paused = send(client("op"), https, "POST", "/fleet/pause");
            assertEquals(200, paused.statusCode(), paused.body());
            JsonNode state = new ObjectMapper().readTree(paused.body());
            assertEquals("paused", state.path("state").asText(), paused.body());
            HttpResponse<String> readAgain = send(reader, https, "GET", "/fleet/status");
            assertEquals("paused", new ObjectMapper().readTree(readAgain.body()).path("state").asText(), readAgain.body());

            // no plaintext on the port, no service without a client certificate
            HttpClient plain = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            URI http = URI.create("http://" + https.getHost() + ":" + https.getPort() + "/cluster/members");
            assertThrows(IOException.class, () -> plain.send(HttpRequest.newBuilder(http).timeout(Duration.ofSeconds(10)).GET()
                    .build(), HttpResponse.BodyHandlers.ofString()), "plain HTTP on the HTTPS port");
            HttpClient anonymous = HttpClient.newBuilder().sslContext(trustOnly("reader")).connectTimeout(Duration.ofSeconds(5)).build();
            assertThrows(IOException.class, () -> send(anonymous, https, "GET", "/fleet/status"), "no client certificate");
        } finally {
            auditLogger.detachAppender(audit);
            auditLogger.setLevel(level);
        }
        List<String> lines = audit.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertTrue(lines.contains("operator reader (read) status: done (none)"), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator reader (read) pause: refused (reader has the role read")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator member pekko://livetap-fleet@127.0.0.1:") && l.contains(" start: asked")),
                "a plan submitted by a cluster member is audited with its address: " + lines);
        assertTrue(lines.contains("operator op (operate) pause: done (paused)"), lines.toString());
    }

    /**
     * {@code POST /fleet/plans}: a reader gets 403, a body that is no plan 400 naming what is wrong, a plan 201 with
     * its id, a second plan while the first has steps open 409; each in the audit log.
     */
    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void operatorsStartAPlanOverHttpsAndNobodyElseDoes() throws Exception {
        ListAppender<ILoggingEvent> audit = new ListAppender<>();
        Logger auditLogger = (Logger) LoggerFactory.getLogger(OperatorAudit.LOGGER);
        ch.qos.logback.classic.Level level = auditLogger.getLevel();
        auditLogger.setLevel(ch.qos.logback.classic.Level.INFO);
        audit.start();
        auditLogger.addAppender(audit);
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService executor = Executors.newFixedThreadPool(2, r -> new Thread(r, "rights-test-migration"));
        FleetTls nodeTls = FleetTls.fromDirectory(dir.resolve("certs/node1"));
        try (FleetNode node = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), FleetConfig.h2File(dir.resolve("journal-start")),
                List.of(FleetNode.COORDINATOR_ROLE), nodeTls, FleetConfig.MANAGEMENT_ANY_PORT), START)) {
            URI https = node.management().orElseThrow();
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
            String plan = PlanJson.toJson(new Plan("0.2.0", List.of("h1"), 1, 0, 10.0)).toString();

            HttpResponse<String> read = post(client("reader"), https, plan);
            assertEquals(403, read.statusCode(), read.body());
            assertEquals("reader has the role read, which may not start (it needs a certificate with OU=livetap-operate or a "
                    + "member's)\n", read.body());
            HttpResponse<String> bad = post(client("op"), https, "{\"target_version\":\"0.2.0\",\"hosts\":[\"h1\"]}");
            assertEquals(400, bad.statusCode(), bad.body());
            assertTrue(bad.body().startsWith("not a plan: not a plan as fleet plan --out writes it: no max_parallel_hosts"),
                    bad.body());
            HttpResponse<String> far = post(client("op"), https, plan.replace("0.2.0", "0.4.0"));
            assertEquals(400, far.statusCode(), far.body());
            assertTrue(far.body().contains("more than one version step"), far.body());

            HttpResponse<String> started = post(client("op"), https, plan);
            assertEquals(201, started.statusCode(), started.body());
            JsonNode accepted = new ObjectMapper().readTree(started.body());
            assertTrue(accepted.path("accepted").asBoolean(), started.body());
            assertEquals(1, accepted.path("plan").asLong(), "the journal's first plan: " + started.body());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            JsonNode status;
            do {
                Thread.sleep(100);
                status = new ObjectMapper().readTree(send(client("reader"), https, "GET", "/fleet/status").body());
            } while (status.path("open").size() == 0 && System.nanoTime() < deadline);
            assertEquals(1, status.path("open").size(), "the plan's step is open: " + status);
            HttpResponse<String> second = post(client("op"), https, plan);
            assertEquals(409, second.statusCode(), second.body());
            assertTrue(second.body().startsWith("a plan is running"), second.body());
        } finally {
            release.countDown();
            executor.shutdownNow();
            auditLogger.detachAppender(audit);
            auditLogger.setLevel(level);
        }
        List<String> lines = audit.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator reader (read) start: refused (")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator op (operate) start: failed (bad plan: not a plan")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator op (operate) start: done (plan 1 of 1 host(s), target 0.2.0")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("operator op (operate) start: failed (a plan is running")),
                lines.toString());
    }

    private static HttpResponse<String> post(HttpClient client, URI base, String json) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(base.resolve("/fleet/plans")).timeout(Duration.ofSeconds(20))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpClient client(String name) throws IOException {
        return FleetCerts.httpsClient(dir.resolve("certs/" + name));
    }

    /** A context that trusts the fleet's CA but presents no certificate. */
    private static javax.net.ssl.SSLContext trustOnly(String name) throws Exception {
        FleetTls.Stores s = FleetTls.fromDirectory(dir.resolve("certs/" + name));
        java.security.KeyStore trust = java.security.KeyStore.getInstance("PKCS12");
        try (var in = java.nio.file.Files.newInputStream(s.trustStore())) {
            trust.load(in, s.password().toCharArray());
        }
        javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        javax.net.ssl.SSLContext c = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        c.init(null, tmf.getTrustManagers(), null);
        return c;
    }

    private static HttpResponse<String> send(HttpClient client, URI base, String method, String path)
            throws IOException, InterruptedException {
        return FleetCerts.send(client, base, method, path);
    }
}
