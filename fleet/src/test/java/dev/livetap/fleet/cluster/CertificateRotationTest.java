package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Certificate rotation without a restart, in the documented order (docs/security.md "Rotating certificates"):
 * two nodes of CA A trust A and B, then switch to keys of B, then drop A — each file renamed into place in the
 * node's TLS directory while both run. Afterwards both are still the same members ({@code Up}, same unique
 * addresses), an operator of CA B joins the cluster and reads over HTTPS, and one of CA A is refused.
 * {@code long}: keytool takes 20-40 s at load.
 */
@Tag("long")
class CertificateRotationTest {
    private static final Duration START = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    @BeforeAll
    static void makeCertificates() throws Exception {
        Process a = FleetCerts.start(dir.resolve("a"), "node1", "node2", "op");
        Process b = FleetCerts.start(dir.resolve("b"), "node1", "node2", "op");
        FleetCerts.await(a, 180);
        FleetCerts.await(b, 180);
        for (String n : List.of("node1", "node2")) {
            Path live = Files.createDirectories(dir.resolve("live/" + n));
            for (String f : List.of(FleetTls.KEY_STORE, FleetTls.TRUST_STORE, FleetTls.PASSWORD)) {
                Files.copy(dir.resolve("a/" + n + "/" + f), live.resolve(f));
            }
        }
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void nodesKeepTheirMembershipAcrossARotationAndANewOperatorIsAccepted() throws Exception {
        Path live1 = dir.resolve("live/node1");
        Path live2 = dir.resolve("live/node2");
        try (FleetNode n1 = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), FleetConfig.h2File(dir.resolve("journal")),
                List.of(FleetNode.COORDINATOR_ROLE), FleetTls.fromDirectory(live1), FleetConfig.MANAGEMENT_ANY_PORT), START)) {
            String seed = Cluster.get(n1.system()).selfMember().address().toString();
            try (FleetNode n2 = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(seed), "jdbc:h2:mem:never-opened",
                    List.of(FleetNode.AGENT_ROLE), FleetTls.fromDirectory(live2), FleetConfig.MANAGEMENT_OFF), START)) {
                Set<UniqueAddress> before = upMembers(n1);
                assertEquals(2, before.size(), before.toString());
                URI https = n1.management().orElseThrow();
                assertEquals(200, FleetCerts.send(client("a/op"), https, "GET", "/fleet/status").statusCode());

                // 1. trust the new CA beside the old one; 2. switch keys to the new CA's; 3. drop the old CA
                for (Path live : List.of(live1, live2)) {
                    replace(live.resolve(FleetTls.TRUST_STORE), trust(live, dir.resolve("a/ca/ca.crt"), dir.resolve("b/ca/ca.crt")));
                }
                touchBoth(https);
                for (Path live : List.of(live1, live2)) {
                    replace(live.resolve(FleetTls.KEY_STORE), keysOf(dir.resolve("b/" + live.getFileName()), live));
                }
                touchBoth(https);
                for (Path live : List.of(live1, live2)) {
                    replace(live.resolve(FleetTls.TRUST_STORE), trust(live, dir.resolve("b/ca/ca.crt")));
                }

                HttpResponse<String> newOperator = FleetCerts.send(client("b/op"), https, "GET", "/fleet/status");
                assertEquals(200, newOperator.statusCode(), newOperator.body());
                assertThrows(IOException.class, () -> FleetCerts.send(client("a/op"), https, "GET", "/fleet/status"),
                        "the old CA is no longer trusted by a new connection");
                try (OperatorClient op = OperatorClient.join(List.of(seed), FleetTls.fromDirectory(dir.resolve("b/op")), START)) {
                    assertEquals("none", op.status().state(), "an operator of the new CA joins and reads");
                }
                assertEquals(before, upMembers(n1), "the nodes kept their membership (same unique addresses, Up)");
                assertEquals(MemberStatus.up(), Cluster.get(n2.system()).selfMember().status());
            }
        }
    }

    /** A new HTTPS connection from an operator of either CA: the node reloads its stores on it. */
    private static void touchBoth(URI https) throws Exception {
        for (String op : List.of("a/op", "b/op")) {
            try {
                FleetCerts.send(client(op), https, "GET", "/fleet/status");
            } catch (IOException e) {
                // mid-rotation one of the two CAs may not fit yet; what counts is the connection attempt
            }
        }
    }

    private static Set<UniqueAddress> upMembers(FleetNode node) {
        return StreamSupport.stream(Cluster.get(node.system()).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).map(Member::uniqueAddress).collect(Collectors.toSet());
    }

    private static HttpClient client(String name) throws IOException {
        return FleetCerts.httpsClient(dir.resolve(name));
    }

    private static char[] password(Path tlsDir) throws IOException {
        return Files.readString(tlsDir.resolve(FleetTls.PASSWORD), StandardCharsets.UTF_8).strip().toCharArray();
    }

    /** A trust store of {@code caCertificates} (PEM), under {@code live}'s password. */
    private static KeyStore trust(Path live, Path... caCertificates) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, password(live));
        int i = 0;
        for (Path pem : caCertificates) {
            try (InputStream in = Files.newInputStream(pem)) {
                trust.setCertificateEntry("fleet-ca-" + i++, CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
        }
        return trust;
    }

    /** {@code from}'s key and chain, re-encrypted under {@code live}'s password (the directory keeps its password file). */
    private static KeyStore keysOf(Path from, Path live) throws Exception {
        char[] fromPassword = password(from);
        KeyStore source = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(from.resolve(FleetTls.KEY_STORE))) {
            source.load(in, fromPassword);
        }
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, password(live));
        Key key = source.getKey("node", fromPassword);
        Certificate[] chain = source.getCertificateChain("node");
        keys.setKeyEntry("node", key, password(live), chain);
        return keys;
    }

    /** Writes {@code store} beside {@code target} and renames it into place (a reader sees the old or the new file). */
    private static void replace(Path target, KeyStore store) throws Exception {
        Path next = target.resolveSibling(target.getFileName() + ".next");
        try (OutputStream out = Files.newOutputStream(next)) {
            store.store(out, password(target.getParent()));
        }
        Files.move(next, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
