package dev.livetap.fleet.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a fleet node's cluster transport (Artery) is secured. Every command's default is {@link Stores}: TLS 1.3
 * with mutual authentication, so a member, an operator's short-lived member included, is admitted only with a
 * certificate signed by the fleet's CA ({@code scripts/fleet-certs} makes test certificates). {@link #OFF} is the
 * explicit opt-out ({@code --no-tls}) for tests and benches whose members all run on loopback.
 */
public sealed interface FleetTls {
    /** Plain TCP on the cluster transport: no encryption, no authentication. */
    FleetTls OFF = new Off();

    /** The key store's file in a directory made by {@code scripts/fleet-certs}. */
    String KEY_STORE = "node.p12";
    /** The trust store's file (the fleet CA's certificate). */
    String TRUST_STORE = "trust.p12";
    /** The file holding the password of both stores (one line). */
    String PASSWORD = "password";

    /** Plain TCP (see {@link #OFF}). */
    record Off() implements FleetTls {
    }

    /**
     * TLS with this node's key and certificate ({@code keyStore}, PKCS12) and the fleet CA's certificate
     * ({@code trustStore}, PKCS12), both opened with {@code password}.
     */
    record Stores(Path keyStore, Path trustStore, String password) implements FleetTls {
        public Stores {
            Objects.requireNonNull(keyStore, "keyStore");
            Objects.requireNonNull(trustStore, "trustStore");
            Objects.requireNonNull(password, "password");
            keyStore = keyStore.toAbsolutePath();
            trustStore = trustStore.toAbsolutePath();
        }

        @Override
        public String toString() {
            return "Stores[keyStore=" + keyStore + ", trustStore=" + trustStore + "]"; // never the password
        }
    }

    /**
     * The stores of {@code dir} as {@code scripts/fleet-certs DIR NAME} writes them for one node: {@value #KEY_STORE},
     * {@value #TRUST_STORE} and {@value #PASSWORD}.
     *
     * @throws IOException a file is missing or unreadable (the message names it)
     */
    static Stores fromDirectory(Path dir) throws IOException {
        Objects.requireNonNull(dir, "dir");
        for (String f : new String[] {KEY_STORE, TRUST_STORE, PASSWORD}) {
            Path p = dir.resolve(f);
            if (!Files.isReadable(p)) {
                throw new IOException("TLS directory " + dir + " has no readable " + f
                        + " (make one with scripts/fleet-certs DIR NAME, or switch TLS off explicitly)");
            }
        }
        String password = Files.readString(dir.resolve(PASSWORD), StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) {
            throw new IOException("TLS directory " + dir + ": " + PASSWORD + " is empty");
        }
        return new Stores(dir.resolve(KEY_STORE), dir.resolve(TRUST_STORE), password);
    }
}
