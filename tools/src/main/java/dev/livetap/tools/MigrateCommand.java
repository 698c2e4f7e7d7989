package dev.livetap.tools;

import dev.livetap.testbed.orchestration.LocalMigration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap migrate --source PATH --target PATH}: a local migration between two running VMM processes. */
@Command(name = "migrate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Migrates a VM between two running 'livetap vmm' processes over their QMP sockets.",
            "Sets 'local' on both, migrate-incoming on the target, migrate on the source, follows the MIGRATION",
            "events, then prints a timeline ordered by the VMMs' CLOCK_MONOTONIC stamps and a summary (status,",
            "total time, downtime: the source's last queue stop -> every target queue reading again).",
            "Exit 0 when the migration completed, 1 when it failed, 2 when a QMP socket does not exist."})
public final class MigrateCommand implements Callable<Integer> {
    @Option(names = "--source", required = true, paramLabel = "PATH", description = "QMP socket of the source VM.")
    Path source;

    @Option(names = "--target", required = true, paramLabel = "PATH", description = "QMP socket of the target VM (started with --incoming).")
    Path target;

    @Option(names = "--uri", paramLabel = "unix:PATH", description = "Migration channel (default: unix:<target dir>/<target name>-incoming.sock).")
    String uri;

    @Option(names = "--no-backend-transfer", description = "Baseline: 'local' off; the target must have opened its own TAP.")
    boolean noBackendTransfer;

    @Option(names = "--cont", description = "Send 'cont' to a target started with --paused once it completed.")
    boolean cont;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "60", description = "Limit for the whole migration: 1-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object (progress goes to stderr).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
        requireSocket("--source", "source", source);
        requireSocket("--target", "target", target);
        LocalMigration.Options o = LocalMigration.Options.of(source, target).withUri(uri)
                .withBackendTransfer(!noBackendTransfer).withContTarget(cont).withTimeout(Duration.ofSeconds(timeoutSeconds));
        LocalMigration.Result r;
        try {
            r = LocalMigration.run(o, line -> (json ? System.err : System.out).println(line));
        } catch (java.io.IOException e) {
            System.err.println("livetap migrate: " + e.getMessage());
            return ExitCodes.FAILED;
        } catch (java.util.concurrent.TimeoutException e) {
            System.err.println("livetap migrate: " + e.getMessage());
            return ExitCodes.FAILED;
        } catch (dev.livetap.engine.qmp.QmpException e) {
            System.err.println("livetap migrate: refused: " + e.errorClass() + ": " + e.desc());
            return ExitCodes.FAILED;
        }
        if (json) {
            System.out.println(r.toJson());
        } else {
            System.out.print(LocalMigration.format(r));
        }
        return r.completed() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    /** A QMP socket path named on the command line must exist (a bad command line otherwise, exit 2). */
    private static void requireSocket(String option, String side, Path path) {
        if (!java.nio.file.Files.exists(path)) {
            throw new BadOptionValue(option + ": " + side + " QMP socket " + path + ": no such file");
        }
    }
}
