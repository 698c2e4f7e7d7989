package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CI variant of {@link FleetTlsTest} and {@link SplitBrainResolverTest}: what a node is configured with
 * (TLS with mutual authentication from a TLS directory, the Split Brain Resolver's strategy, read-only
 * Management), and one started node answering {@code GET /cluster/members} on loopback.
 */
class FleetTransportTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aStartedNodeListsItselfUpOverManagementAndRunsTheConfiguredResolver() throws Exception {
        try (FleetNode node = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:never-opened",
                List.of(FleetNode.AGENT_ROLE), FleetTls.OFF, FleetConfig.MANAGEMENT_ANY_PORT), Duration.ofSeconds(60))) {
            URI management = node.management().orElseThrow();
            assertEquals("127.0.0.1", management.getHost(), "Management binds loopback only");
            assertTrue(management.getPort() > 0, management.toString());
            String self = Cluster.get(node.system()).selfMember().address().toString();
            assertEquals(Map.of(self, "Up"), FleetTlsTest.members(management));
            Config c = node.system().settings().config();
            assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider", c.getString("pekko.cluster.downing-provider-class"));
            assertEquals("keep-majority", c.getString("pekko.cluster.split-brain-resolver.active-strategy"));
            assertEquals(FleetNode.COORDINATOR_ROLE, c.getString("pekko.cluster.split-brain-resolver.keep-majority.role"));
            assertTrue(c.getBoolean("pekko.management.http.route-providers-read-only"), "no leave or down over HTTP");
            assertEquals("tcp", c.getString("pekko.remote.artery.transport"), "FleetTls.OFF is plain TCP");
        }
    }

    @Test
    void tlsStoresConfigureArteryOverTlsWithMutualAuthentication() {
        FleetTls.Stores stores = new FleetTls.Stores(dir.resolve("node.p12"), dir.resolve("trust.p12"), "s3cret");
        Config c = new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:x", List.of(), stores, FleetConfig.MANAGEMENT_OFF)
                .toConfig();
        String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
        assertEquals("tls-tcp", c.getString("pekko.remote.artery.transport"));
        assertTrue(c.getBoolean(engine + "require-mutual-authentication"));
        assertEquals("TLSv1.3", c.getString(engine + "protocol"));
        assertEquals(dir.resolve("node.p12").toAbsolutePath().toString(), c.getString(engine + "key-store"));
        assertEquals(dir.resolve("trust.p12").toAbsolutePath().toString(), c.getString(engine + "trust-store"));
        assertEquals("s3cret", c.getString(engine + "trust-store-password"));
        assertFalse(stores.toString().contains("s3cret"), "the password never appears in a toString: " + stores);
        assertThrows(IllegalArgumentException.class, () -> new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:x", List.of(),
                stores, -2));
    }

    @Test
    void aTlsDirectoryWithoutItsFilesIsAClearError() throws Exception {
        Files.writeString(dir.resolve(FleetTls.PASSWORD), "x\n");
        IOException e = assertThrows(IOException.class, () -> FleetTls.fromDirectory(dir));
        assertTrue(e.getMessage().contains(FleetTls.KEY_STORE) && e.getMessage().contains("scripts/fleet-certs"), e.getMessage());
        Files.writeString(dir.resolve(FleetTls.KEY_STORE), "k");
        Files.writeString(dir.resolve(FleetTls.TRUST_STORE), "t");
        Files.writeString(dir.resolve(FleetTls.PASSWORD), "  \n");
        e = assertThrows(IOException.class, () -> FleetTls.fromDirectory(dir));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        Files.writeString(dir.resolve(FleetTls.PASSWORD), "pw\n");
        assertEquals("pw", FleetTls.fromDirectory(dir).password());
    }
}
