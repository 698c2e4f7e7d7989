package dev.livetap.fleet.cluster;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Test certificates made by the project's own {@code scripts/fleet-certs} (the documented way), never committed. */
final class FleetCerts {
    private FleetCerts() {
    }

    /** The script, from the fleet module's directory (surefire's working directory) or the repository root. */
    static Path script() {
        for (Path p : List.of(Path.of("../scripts/fleet-certs"), Path.of("scripts/fleet-certs"))) {
            if (Files.isExecutable(p)) {
                return p.toAbsolutePath().normalize();
            }
        }
        throw new IllegalStateException("scripts/fleet-certs not found from " + Path.of("").toAbsolutePath());
    }

    /** Starts {@code scripts/fleet-certs dir names...} with this JVM's keytool first on the PATH. */
    static Process start(Path dir, String... names) throws IOException {
        return startWithRole(dir, null, names);
    }

    /** {@link #start} with {@code --role role} ({@code read} or {@code operate}; null: members' certificates). */
    static Process startWithRole(Path dir, String role, String... names) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(script().toString()));
        if (role != null) {
            cmd.addAll(List.of("--role", role));
        }
        cmd.add(dir.toString());
        cmd.addAll(List.of(names));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + pb.environment().getOrDefault("PATH", ""));
        return pb.start();
    }

    /** Waits (bounded) for a {@link #start} and fails with its output when it did not succeed. */
    static void await(Process p, long timeoutS) throws IOException, InterruptedException {
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("scripts/fleet-certs did not finish within " + timeoutS + " s");
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (p.exitValue() != 0) {
            throw new IllegalStateException("scripts/fleet-certs failed (exit " + p.exitValue() + "): " + out);
        }
    }

    /** An HTTPS client presenting the certificate in {@code tlsDir} (a directory {@code scripts/fleet-certs} made). */
    static HttpClient httpsClient(Path tlsDir) throws IOException {
        return HttpClient.newBuilder().sslContext(new RotatingTlsContext(FleetTls.fromDirectory(tlsDir)).context())
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** {@code method path} on {@code base} with no body (20 s bound). */
    static HttpResponse<String> send(HttpClient client, URI base, String method, String path)
            throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(20))
                .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }
}
