package dev.livetap.fleet.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.livetap.fleet.journal.JournalCredentials;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The configuration of one fleet node: a cluster member on loopback or a given host, the Split Brain
 * Resolver as downing provider, fleet messages serialized with Jackson CBOR, and the event journal
 * and snapshot store in a database through pekko-persistence-jdbc (H2 in a file by default).
 *
 * @param host        the canonical host the node binds and is reached at
 * @param port        the canonical port (0: any free port; only for a node that joins itself)
 * @param seedNodes   {@code pekko://livetap-fleet@HOST:PORT} addresses; empty: the node joins itself
 * @param journalUrl  a JDBC URL; {@link #h2File(Path)} for the embedded default
 * @param roles       cluster roles ({@code coordinator}, {@code agent})
 * @param tls         the cluster transport's security: {@link FleetTls.Stores} (TLS, mutual authentication) or
 *                    {@link FleetTls#OFF}
 * @param managementPort Pekko Management's HTTP port on 127.0.0.1 ({@code /cluster/members} and the health
 *                    checks, read-only): {@link #MANAGEMENT_OFF}, {@link #MANAGEMENT_ANY_PORT} or a port
 * @param journalCredentials the journal database's login (H2's default for an H2 file)
 */
public record FleetConfig(String host, int port, List<String> seedNodes, String journalUrl, List<String> roles, FleetTls tls,
        int managementPort, JournalCredentials journalCredentials) {
    /** The actor system name every node of one fleet shares (cluster membership requires it). */
    public static final String SYSTEM_NAME = "livetap-fleet";
    /** {@link #managementPort()}: no Management endpoint. */
    public static final int MANAGEMENT_OFF = -1;
    /** {@link #managementPort()}: Management on any free port of 127.0.0.1 (the node reports the one it got). */
    public static final int MANAGEMENT_ANY_PORT = 0;
    /**
     * Management always binds loopback: without TLS its routes carry no authentication of their own; with TLS it
     * serves HTTPS and asks every client for a certificate of the fleet's CA.
     */
    public static final String MANAGEMENT_HOST = "127.0.0.1";

    public FleetConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(journalUrl, "journalUrl");
        Objects.requireNonNull(journalCredentials, "journalCredentials");
        if (!isPostgres(journalUrl) && !journalUrl.startsWith("jdbc:h2:")) {
            throw new IllegalArgumentException("the journal must be a jdbc:h2: or jdbc:postgresql: URL: " + journalUrl);
        }
        Objects.requireNonNull(tls, "tls");
        seedNodes = List.copyOf(seedNodes);
        roles = List.copyOf(roles);
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535: " + port);
        }
        if (managementPort < MANAGEMENT_OFF || managementPort > 65535) {
            throw new IllegalArgumentException("management port must be -1 (off), 0 (any free) or 1..65535: " + managementPort);
        }
    }

    /**
     * A node with a plain TCP transport and no Management endpoint: for in-process tests and the benches, whose
     * members all run on loopback. The commands ({@code livetap fleet node}, {@code livetap agent}, the operator's)
     * use TLS unless told {@code --no-tls}.
     */
    public FleetConfig(String host, int port, List<String> seedNodes, String journalUrl, List<String> roles) {
        this(host, port, seedNodes, journalUrl, roles, FleetTls.OFF, MANAGEMENT_OFF, JournalCredentials.H2_DEFAULT);
    }

    /** A node with {@code tls} and {@code managementPort} whose journal logs in as H2's default user. */
    public FleetConfig(String host, int port, List<String> seedNodes, String journalUrl, List<String> roles, FleetTls tls,
            int managementPort) {
        this(host, port, seedNodes, journalUrl, roles, tls, managementPort, JournalCredentials.H2_DEFAULT);
    }

    /** A node with plain TCP, no Management endpoint, and the journal login {@code journalCredentials}. */
    public FleetConfig(String host, int port, List<String> seedNodes, String journalUrl, List<String> roles,
            JournalCredentials journalCredentials) {
        this(host, port, seedNodes, journalUrl, roles, FleetTls.OFF, MANAGEMENT_OFF, journalCredentials);
    }

    /** This configuration with {@code tls} and {@code managementPort}. */
    public FleetConfig withTransport(FleetTls tls, int managementPort) {
        return new FleetConfig(host, port, seedNodes, journalUrl, roles, tls, managementPort, journalCredentials);
    }

    /**
     * How long a journal write or read waits for a database connection (Slick's default, made explicit). A
     * database restarted within it is invisible (the writes wait); a longer outage fails the write and the
     * coordinator restarts with a backoff until the database answers (a new epoch). Not shorter: on the
     * loaded 2-core machine opening an H2 file took more than 3 s.
     */
    public static final int JOURNAL_CONNECTION_TIMEOUT_MS = 30_000;

    /** True for a PostgreSQL journal URL (Slick's Postgres profile and the PostgreSQL driver). */
    public static boolean isPostgres(String journalUrl) {
        return journalUrl.startsWith("jdbc:postgresql:");
    }

    /** This configuration with another journal (URL and login); everything else unchanged. */
    public FleetConfig withJournal(String url, JournalCredentials credentials) {
        return new FleetConfig(host, port, seedNodes, url, roles, tls, managementPort, credentials);
    }

    /** A node on 127.0.0.1, any free port, joining itself, journal in the H2 file {@code file}. */
    public static FleetConfig singleNode(Path h2File) {
        return new FleetConfig("127.0.0.1", 0, List.of(), h2File(h2File), List.of("coordinator", "agent"));
    }

    /**
     * An embedded H2 database in {@code file} (H2 appends {@code .mv.db}); AUTO_SERVER off: one
     * process owns it, the one holding the coordinator.
     */
    public static String h2File(Path file) {
        return "jdbc:h2:file:" + file.toAbsolutePath() + ";DB_CLOSE_DELAY=-1";
    }

    /** The Pekko configuration, over the class path's reference.conf files. */
    public Config toConfig() {
        String driver = isPostgres(journalUrl) ? "org.postgresql.Driver" : "org.h2.Driver";
        String profile = isPostgres(journalUrl) ? "slick.jdbc.PostgresProfile$" : "slick.jdbc.H2Profile$";
        Config fleet = ConfigFactory.parseString("""
                pekko {
                  loglevel = INFO
                  loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
                  logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
                  # Pekko's own stdout logger speaks before SLF4J starts and after it stops (a leaving
                  # member's shutdown): stdout belongs to the commands' output (--json), so it stays off
                  stdout-loglevel = OFF
                  actor.provider = cluster
                  actor.serialization-bindings {
                    "dev.livetap.fleet.FleetSerializable" = jackson-cbor
                  }
                  remote.artery.transport = tcp
                  cluster {
                    # docs/fleet.md "Security and health": keep-majority counted over the coordinator-capable
                    # nodes only, so that the side holding 2 of the 3 coordinators survives whatever the agents do
                    downing-provider-class = "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"
                    split-brain-resolver {
                      active-strategy = keep-majority
                      keep-majority.role = "coordinator"
                    }
                    jmx.multi-mbeans-in-same-jvm = on
                  }
                  management.http {
                    # read-only routes (GET /cluster/members, health checks): no leave or down over HTTP
                    route-providers-read-only = true
                  }
                  coordinated-shutdown.exit-jvm = off
                  persistence {
                    journal.plugin = "jdbc-journal"
                    snapshot-store.plugin = "jdbc-snapshot-store"
                  }
                }
                jdbc-journal.use-shared-db = "slick"
                jdbc-snapshot-store.use-shared-db = "slick"
                jdbc-read-journal.use-shared-db = "slick"
                jdbc-durable-state-store.use-shared-db = "slick"
                pekko-persistence-jdbc.shared-databases.slick {
                  db {
                    # a pooled connection is checked before use; a dead one (the server restarted) is replaced
                    validationTimeout = 1000
                    numThreads = 2
                    maxConnections = 2
                    minConnections = 1
                  }
                }
                """)
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedNodes))
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(roles))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.profile", ConfigValueFactory.fromAnyRef(profile))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.db.url", ConfigValueFactory.fromAnyRef(journalUrl))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.db.driver", ConfigValueFactory.fromAnyRef(driver))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.db.connectionTimeout",
                        ConfigValueFactory.fromAnyRef(JOURNAL_CONNECTION_TIMEOUT_MS))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.db.user",
                        ConfigValueFactory.fromAnyRef(journalCredentials.user()))
                .withValue("pekko-persistence-jdbc.shared-databases.slick.db.password",
                        ConfigValueFactory.fromAnyRef(journalCredentials.password()));
        if (tls instanceof FleetTls.Stores stores) {
            fleet = tls(stores).withFallback(fleet);
        }
        if (managementPort != MANAGEMENT_OFF) {
            fleet = fleet.withValue("pekko.management.http.hostname", ConfigValueFactory.fromAnyRef(MANAGEMENT_HOST))
                    .withValue("pekko.management.http.port", ConfigValueFactory.fromAnyRef(managementPort));
        }
        return fleet.withFallback(ConfigFactory.load());
    }

    /**
     * Artery over TLS 1.3, both sides presenting a certificate the other's trust store must vouch for, through
     * {@link FleetSslEngineProvider}: the stores are read again when they change (rotation without a restart) and
     * a read-only operator's certificate is refused as a member. The {@code config-ssl-engine} section states the
     * same settings for Pekko's own provider (unused while ours is named), so that the configuration says what runs.
     */
    private static Config tls(FleetTls.Stores stores) {
        String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
        String ours = FleetSslEngineProvider.CONFIG + ".";
        return ConfigFactory.parseString("""
                        pekko.remote.artery {
                          transport = tls-tcp
                          ssl {
                            ssl-engine-provider = "dev.livetap.fleet.cluster.FleetSslEngineProvider"
                            config-ssl-engine {
                              protocol = "TLSv1.3"
                              enabled-algorithms = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
                              require-mutual-authentication = on
                              # members are addressed by IP and port, not names: the CA's signature is the check
                              hostname-verification = off
                            }
                          }
                        }
                        # the HTTPS endpoint reads the client certificate of each request (operator rights)
                        pekko.http.server.parsing.ssl-session-attribute = on
                        """)
                .withValue(engine + "key-store", ConfigValueFactory.fromAnyRef(stores.keyStore().toString()))
                .withValue(engine + "trust-store", ConfigValueFactory.fromAnyRef(stores.trustStore().toString()))
                .withValue(engine + "key-store-password", ConfigValueFactory.fromAnyRef(stores.password()))
                .withValue(engine + "key-password", ConfigValueFactory.fromAnyRef(stores.password()))
                .withValue(engine + "trust-store-password", ConfigValueFactory.fromAnyRef(stores.password()))
                .withValue(ours + "key-store", ConfigValueFactory.fromAnyRef(stores.keyStore().toString()))
                .withValue(ours + "trust-store", ConfigValueFactory.fromAnyRef(stores.trustStore().toString()))
                .withValue(ours + "password", ConfigValueFactory.fromAnyRef(stores.password()));
    }
}
