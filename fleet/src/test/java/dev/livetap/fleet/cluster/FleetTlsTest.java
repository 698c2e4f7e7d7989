package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cluster transport over TLS with mutual authentication, certificates from {@code scripts/fleet-certs}: a
 * node with the fleet CA's certificate joins (Pekko Management on the founder, over HTTPS, lists both {@code Up}); a node
 * whose certificate another CA signed, and a node without TLS, do not become members within a bounded wait.
 * 30-60 s on the shared 2-core machine at load 16-20 (keytool 10-20 s of it): {@code long}; the CI variant is
 * {@link FleetTransportTest}.
 */
@Tag("long")
class FleetTlsTest {
    private static final Duration START = Duration.ofSeconds(60);
    /** How long a refused node is given to join: several join attempts (the seed-node retry is 1-2 s). */
    private static final Duration REFUSED_WAIT = Duration.ofSeconds(6);

    @TempDir
    static Path certs;

    @BeforeAll
    static void makeCertificates() throws Exception {
        Process fleet = FleetCerts.start(certs.resolve("fleet"), "node");
        Process rogue = FleetCerts.start(certs.resolve("rogue"), "node");
        FleetCerts.await(fleet, 120);
        FleetCerts.await(rogue, 120);
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aNodeWithTheFleetsCertificateJoinsAndOthersDoNot() throws Exception {
        FleetTls fleetTls = FleetTls.fromDirectory(certs.resolve("fleet/node"));
        FleetTls rogueTls = FleetTls.fromDirectory(certs.resolve("rogue/node"));
        try (FleetNode founder = FleetNode.start(node(List.of(), fleetTls, FleetConfig.MANAGEMENT_ANY_PORT), START)) {
            String seed = Cluster.get(founder.system()).selfMember().address().toString();
            assertEquals("tls-tcp", founder.system().settings().config().getString("pekko.remote.artery.transport"));
            try (FleetNode member = FleetNode.start(node(List.of(seed), fleetTls, FleetConfig.MANAGEMENT_OFF), START)) {
                Address memberAddress = Cluster.get(member.system()).selfMember().address();
                URI management = founder.management().orElseThrow();
                assertEquals("127.0.0.1", management.getHost());
                assertTrue(management.getPort() > 0, "the any-free-port endpoint reports the port it got: " + management);
                assertEquals("https", management.getScheme(), "Management over HTTPS with TLS on: " + management);
                HttpClient https = HttpClient.newBuilder().sslContext(new RotatingTlsContext((FleetTls.Stores) fleetTls).context()).build();
                Map<String, String> status = awaitMembersUp(https, management, 2);
                assertEquals(Map.of(seed, "Up", memberAddress.toString(), "Up"), status);
                // a certificate from another CA, and no TLS at all: both started at once, each with a bounded wait
                CompletableFuture<Throwable> rogue = CompletableFuture.supplyAsync(() -> startFails(node(List.of(seed), rogueTls,
                        FleetConfig.MANAGEMENT_OFF)));
                CompletableFuture<Throwable> plain = CompletableFuture.supplyAsync(() -> startFails(node(List.of(seed), FleetTls.OFF,
                        FleetConfig.MANAGEMENT_OFF)));
                assertTrue(rogue.get(120, TimeUnit.SECONDS) instanceof TimeoutException, "a rogue-CA node: " + rogue.get());
                assertTrue(plain.get(120, TimeUnit.SECONDS) instanceof TimeoutException, "a plaintext node: " + plain.get());
                List<Address> members = StreamSupport.stream(Cluster.get(founder.system()).state().getMembers().spliterator(), false)
                        .map(Member::address).toList();
                assertEquals(java.util.Set.of(Cluster.get(founder.system()).selfMember().address(), memberAddress),
                        java.util.Set.copyOf(members), "only the two nodes of the fleet's CA are members: " + members);
                assertEquals(Map.of(seed, "Up", memberAddress.toString(), "Up"), members(https, management),
                        "Management lists the two members, both Up");
            }
        }
    }

    private static FleetConfig node(List<String> seeds, FleetTls tls, int managementPort) {
        return new FleetConfig("127.0.0.1", 0, seeds, "jdbc:h2:mem:never-opened", List.of(FleetNode.AGENT_ROLE), tls,
                managementPort);
    }

    /** Starts a node expected never to become Up; returns what its start threw (null: it joined). */
    private static Throwable startFails(FleetConfig config) {
        try (FleetNode n = FleetNode.start(config, REFUSED_WAIT)) {
            return null;
        } catch (Exception e) {
            return e;
        } finally {
        }
    }

    private static Map<String, String> awaitMembersUp(HttpClient client, URI management, int count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Map<String, String> m = members(client, management);
        while (!(m.size() == count && m.values().stream().allMatch("Up"::equals)) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            m = members(client, management);
        }
        return m;
    }

    /** {@code GET /cluster/members}: member address → status. */
    static Map<String, String> members(URI management) throws IOException, InterruptedException {
        return members(HttpClient.newHttpClient(), management);
    }

    /** {@code GET /cluster/members} with {@code client} (an HTTPS client with a fleet certificate when TLS is on). */
    static Map<String, String> members(HttpClient client, URI management) throws IOException, InterruptedException {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(management.resolve("/cluster/members"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = new ObjectMapper().readTree(r.body());
        Map<String, String> m = new HashMap<>();
        body.path("members").forEach(n -> m.put(n.path("node").asText(), n.path("status").asText()));
        return m;
    }
}
