package dev.livetap.fleet.journal;

import dev.livetap.testbed.HostCommand;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL server of its own for a test or a bench: {@code initdb} into a fresh directory under
 * the temp dir, the server on 127.0.0.1 at a free port (its unix socket inside its data directory),
 * one database {@link #DATABASE} owned by the user {@link #USER} who logs in with a random password
 * over TCP (SCRAM). PostgreSQL refuses to run as root: as root the server runs as the system user
 * {@code postgres} (Debian's package creates it) through {@code runuser}. {@link #close()} stops it
 * ({@code pg_ctl stop -m immediate}) and deletes the directory; a shutdown hook does the same if the
 * JVM ends first.
 */
public final class ThrowawayPostgres implements AutoCloseable {
    /** The database the journal lives in. */
    public static final String DATABASE = "livetap_fleet";
    /** The superuser {@code initdb} creates and the journal logs in as. */
    public static final String USER = "livetap";
    /** The Debian package whose binaries this runs. */
    public static final String PACKAGE = "postgresql";
    private static final Logger LOG = LoggerFactory.getLogger(ThrowawayPostgres.class);
    private static final String RUN_AS = "postgres";
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration INSTALL_TIMEOUT = Duration.ofMinutes(10);

    private final Path bin;
    private final Path dir;
    private final Path data;
    private final Path passwordFile;
    private final int port;
    private final String password;
    private final boolean asRoot;
    private final Thread cleanupHook;
    private boolean running;
    private boolean closed;

    private ThrowawayPostgres(Path bin, Path dir, int port, String password, boolean asRoot) {
        this.bin = bin;
        this.dir = dir;
        this.data = dir.resolve("data");
        this.passwordFile = dir.resolve("password");
        this.port = port;
        this.password = password;
        this.asRoot = asRoot;
        this.cleanupHook = new Thread(this::closeQuietly, "throwaway-postgres-cleanup");
    }

    /**
     * The directory holding {@code initdb}, {@code pg_ctl} and {@code postgres}: Debian's
     * {@code /usr/lib/postgresql/<major>/bin} (the newest major), else the one on the PATH.
     */
    public static Optional<Path> findBinaries() {
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (Stream<Path> majors = Files.list(debian)) {
                Optional<Path> newest = majors.filter(p -> p.getFileName().toString().matches("\\d+"))
                        .filter(p -> hasServer(p.resolve("bin")))
                        .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString())));
                if (newest.isPresent()) {
                    return Optional.of(newest.get().resolve("bin"));
                }
            } catch (IOException e) {
                LOG.debug("cannot list {}: {}", debian, e.toString());
            }
        }
        String path = System.getenv().getOrDefault("PATH", "");
        for (String entry : path.split(":")) {
            if (!entry.isEmpty() && hasServer(Path.of(entry))) {
                return Optional.of(Path.of(entry));
            }
        }
        return Optional.empty();
    }

    private static boolean hasServer(Path dir) {
        return Stream.of("initdb", "pg_ctl", "postgres").allMatch(n -> Files.isExecutable(dir.resolve(n)));
    }

    /**
     * Why a throw-away server cannot start here, or empty when it can. Missing binaries are installed
     * with {@code apt-get install postgresql} when {@code install} is true, the process is root, apt-get
     * exists and {@code LIVETAP_NO_INSTALL} is not 1 (as {@code scripts/prereqs} does).
     */
    public static Optional<String> unavailableReason(boolean install) {
        if (findBinaries().isPresent()) {
            return runAsUserMissing();
        }
        String hint = "the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed; "
                + "install them with: apt-get install -y " + PACKAGE + " (or scripts/prereqs --with postgres)";
        if (!install) {
            return Optional.of(hint);
        }
        if ("1".equals(System.getenv("LIVETAP_NO_INSTALL"))) {
            return Optional.of(hint + " (not installing: LIVETAP_NO_INSTALL=1)");
        }
        if (!isRoot()) {
            return Optional.of(hint + " (not root, so not installing)");
        }
        if (!Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
            return Optional.of(hint + " (no apt-get here)");
        }
        LOG.warn("installing {} with apt-get (the PostgreSQL server is missing; LIVETAP_NO_INSTALL=1 prevents this)", PACKAGE);
        try {
            Path log = Files.createTempFile("livetap-apt-postgresql", ".log");
            try {
                HostCommand.Result r = HostCommand.runLogged(INSTALL_TIMEOUT, List.of("apt-get", "install", "-y", "-qq",
                        "--no-install-recommends", PACKAGE), null, Map.of("DEBIAN_FRONTEND", "noninteractive"), log);
                if (r.exitCode() == -1) {
                    return Optional.of(hint + " (apt-get install did not end within " + INSTALL_TIMEOUT.toMinutes()
                            + " min, or could not start: " + r.output() + ")");
                }
                if (!r.ok()) {
                    return Optional.of(hint + " (apt-get install failed, exit " + r.exitCode() + ": " + tail(log) + ")");
                }
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            return Optional.of(hint + " (apt-get install could not run: " + e.getMessage() + ")");
        }
        return findBinaries().isPresent() ? runAsUserMissing()
                : Optional.of(hint + " (apt-get installed " + PACKAGE + " but the binaries are still not found)");
    }

    private static Optional<String> runAsUserMissing() {
        if (!isRoot()) {
            return Optional.empty();
        }
        try {
            Path.of("/").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(RUN_AS);
            return runuser().isPresent() ? Optional.empty()
                    : Optional.of("running as root, and runuser (util-linux) is missing to run PostgreSQL as " + RUN_AS);
        } catch (IOException e) {
            return Optional.of("running as root, PostgreSQL refuses root and the system user '" + RUN_AS
                    + "' (made by Debian's " + PACKAGE + " package) does not exist");
        }
    }

    /** util-linux's runuser (its absolute path: a test JVM's PATH may lack the sbin directories). */
    private static Optional<Path> runuser() {
        return Stream.of("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser").map(Path::of).filter(Files::isExecutable)
                .findFirst();
    }

    private static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    /** Creates and starts a server; throws with the server's log when it does not come up. */
    public static ThrowawayPostgres start() throws IOException, InterruptedException {
        Path bin = findBinaries().orElseThrow(() -> new IllegalStateException(unavailableReason(false).orElse("no PostgreSQL")));
        Path dir = Files.createTempDirectory("livetap-pg-");
        // the server's user must reach its data directory inside
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        String password = randomPassword();
        ThrowawayPostgres pg = new ThrowawayPostgres(bin, dir, freePort(), password, isRoot());
        Runtime.getRuntime().addShutdownHook(pg.cleanupHook);
        try {
            pg.initialise();
            pg.startServer();
            pg.createDatabase();
            return pg;
        } catch (IOException | InterruptedException | RuntimeException e) {
            pg.closeQuietly();
            throw e;
        }
    }

    private void initialise() throws IOException, InterruptedException {
        Files.createDirectory(data, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Files.writeString(passwordFile, password + "\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(passwordFile, PosixFilePermissions.fromString("rw-------"));
        if (asRoot) {
            giveToServerUser(data);
            giveToServerUser(passwordFile);
        }
        // no fsync at initdb only (the template files); the running server keeps PostgreSQL's durable defaults
        run(List.of(bin.resolve("initdb").toString(), "--pgdata=" + data, "--username=" + USER, "--pwfile=" + passwordFile,
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
                "--no-instructions"));
    }

    private void giveToServerUser(Path path) throws IOException {
        UserPrincipalLookupService users = path.getFileSystem().getUserPrincipalLookupService();
        GroupPrincipal group = users.lookupPrincipalByGroupName(RUN_AS);
        PosixFileAttributeView view = Files.getFileAttributeView(path, PosixFileAttributeView.class);
        view.setOwner(users.lookupPrincipalByName(RUN_AS));
        view.setGroup(group);
    }

    /** Starts the server (again, after {@link #stop()}) and waits until it accepts connections. */
    public synchronized void startServer() throws IOException, InterruptedException {
        run(List.of(bin.resolve("pg_ctl").toString(), "start", "--pgdata=" + data, "--log=" + data.resolve("server.log"),
                "--wait", "--timeout=" + COMMAND_TIMEOUT.toSeconds(), "--silent",
                "-o", "-c listen_addresses=127.0.0.1 -c port=" + port + " -c unix_socket_directories=" + data
                        + " -c max_connections=50"));
        running = true;
    }

    /** Stops the server the way an operator's restart does: {@code pg_ctl stop -m fast} (sessions cut). */
    public synchronized void stop() throws IOException, InterruptedException {
        run(List.of(bin.resolve("pg_ctl").toString(), "stop", "--pgdata=" + data, "--mode=fast", "--wait",
                "--timeout=" + COMMAND_TIMEOUT.toSeconds(), "--silent"));
        running = false;
    }

    private void createDatabase() throws IOException {
        createDatabase(DATABASE);
    }

    /** Creates another empty database {@code name} (lower case letters, digits, _) and returns its JDBC URL. */
    public String createDatabase(String name) throws IOException {
        if (!name.matches("[a-z_][a-z0-9_]{0,62}")) {
            throw new IllegalArgumentException("a database name of lower case letters, digits and _: " + name);
        }
        try (Connection c = DriverManager.getConnection(url("postgres"), USER, password);
                Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IOException("cannot create the database " + name + ": " + e.getMessage() + "; " + serverLogTail(), e);
        }
        return url(name);
    }

    /** The JDBC URL of the journal's database. */
    public String jdbcUrl() {
        return url(DATABASE);
    }

    private String url(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    public JournalCredentials credentials() {
        return new JournalCredentials(USER, password);
    }

    public int port() {
        return port;
    }

    /** The server's own log (the last lines), for a failure message. */
    public String serverLogTail() {
        return tail(data.resolve("server.log"));
    }

    private void run(List<String> command) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>();
        if (asRoot) {
            full.addAll(List.of(runuser().orElseThrow(() -> new IOException("runuser is missing")).toString(), "-u", RUN_AS, "--"));
        }
        full.addAll(command);
        Path out = dir.resolve("commands.log");
        Map<String, String> env = new HashMap<>();
        env.put("LC_ALL", "C");
        env.put("PGPASSWORD", null);
        HostCommand.Result r = HostCommand.runLogged(COMMAND_TIMEOUT.plusSeconds(10), full, dir, env, out);
        if (Thread.interrupted()) {
            throw new InterruptedException(String.join(" ", command) + " interrupted");
        }
        if (r.exitCode() == -1) {
            throw new IOException(String.join(" ", command) + " did not end within " + COMMAND_TIMEOUT.toSeconds()
                    + " s, or could not start (" + r.output() + "); " + tail(out));
        }
        if (!r.ok()) {
            throw new IOException(command.get(0) + " " + command.get(1) + " failed (exit " + r.exitCode() + "): " + tail(out)
                    + "; server log: " + serverLogTail());
        }
    }

    private static String tail(Path file) {
        try {
            if (!Files.exists(file)) {
                return "(no " + file.getFileName() + ")";
            }
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String randomPassword() {
        byte[] bytes = new byte[18];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** Stops the server at once (it is thrown away) and deletes its directory. */
    @Override
    public synchronized void close() throws IOException, InterruptedException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (running || Files.exists(data.resolve("postmaster.pid"))) {
                run(List.of(bin.resolve("pg_ctl").toString(), "stop", "--pgdata=" + data, "--mode=immediate", "--wait",
                        "--timeout=" + COMMAND_TIMEOUT.toSeconds(), "--silent"));
                running = false;
            }
        } finally {
            deleteTree(dir);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanupHook);
            } catch (IllegalStateException e) {
                LOG.debug("the JVM is shutting down: the cleanup hook runs or ran: {}", e.toString());
            }
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot remove the throw-away PostgreSQL in {}: {}", dir, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Override
    public String toString() {
        return "ThrowawayPostgres[" + jdbcUrl() + ", dir " + dir + ", binaries " + bin + "]";
    }
}
