package dev.livetap.tools;

import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.orchestration.LocalMigration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap migrate --source PATH --target PATH}: a local migration between two running VMM processes (livetap or QEMU). */
@Command(name = "migrate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Migrates a VM between two running VMM processes ('livetap vmm' or QEMU) over their QMP sockets.",
            "Method local: the TAP's queue fds travel in the stream ('local' set on both). Method new-tap: the target",
            "(started with -S / --paused on a TAP of its own) gets 'cont' once the source completed and --switch moved",
            "the network. auto picks local when both VMMs offer it, else new-tap. held-fds is refused (docs/qemu.md).",
            "Follows the MIGRATION, STOP and RESUME events, then prints a timeline and a summary: status, total time,",
            "stop -> resume (source STOP event to target RESUME event), the VMM's own downtime, and with livetap VMMs",
            "the downtime of their CLOCK_MONOTONIC stamps (source's last queue stop -> every target queue reading).",
            "Exit 0 when the migration completed (and the switch and cont succeeded), 1 when not, 2 on a bad command line."})
public final class MigrateCommand implements Callable<Integer> {
    static final Duration SWITCH_TIMEOUT = Duration.ofSeconds(30);

    @Option(names = "--source", required = true, paramLabel = "PATH", description = "QMP socket of the source VM.")
    Path source;

    @Option(names = "--target", required = true, paramLabel = "PATH",
            description = "QMP socket of the target VM (started with --incoming / -incoming defer).")
    Path target;

    @Option(names = "--method", paramLabel = "auto|local|new-tap", defaultValue = "auto",
            description = "How the backend reaches the target: auto (default: probe query-migrate-parameters), local, new-tap.")
    String method;

    @Option(names = "--switch", paramLabel = "COMMAND",
            description = "new-tap: a shell command (sh -c, at most 30 s, must exit 0) that moves the host's address and MAC "
                    + "to the target's TAP; it runs after the source completed and before cont.")
    String switchCommand;

    @Option(names = "--uri", paramLabel = "unix:PATH", description = "Migration channel (default: unix:<target dir>/<target name>-incoming.sock).")
    String uri;

    @Option(names = "--no-backend-transfer", description = "The same as --method new-tap (kept for older scripts).")
    boolean noBackendTransfer;

    @Option(names = "--cont", description = "local: send 'cont' to a target started with --paused once it completed.")
    boolean cont;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "60", description = "Limit for the whole migration: 1-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object (progress goes to stderr).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
        LocalMigration.Method m = method(method, noBackendTransfer);
        if (switchCommand != null && m == LocalMigration.Method.LOCAL) {
            throw new BadOptionValue("--switch: method local moves no network (the TAP itself travels)");
        }
        requireSocket("--source", "source", source);
        requireSocket("--target", "target", target);
        LocalMigration.Options o = LocalMigration.Options.of(source, target).withUri(uri).withMethod(m)
                .withContTarget(cont).withTimeout(Duration.ofSeconds(timeoutSeconds));
        if (switchCommand != null) {
            o = o.withNetworkSwitch(() -> HostCommand.run(SWITCH_TIMEOUT, List.of("sh", "-c", switchCommand)).orThrow());
        }
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
        return r.succeeded() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    /** {@code --method}'s value; held-fds and unknown names are a bad command line (exit 2). */
    static LocalMigration.Method method(String name, boolean noBackendTransfer) {
        LocalMigration.Method m;
        try {
            m = LocalMigration.Method.parse(name);
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue("--method: " + e.getMessage());
        }
        if (m == LocalMigration.Method.HELD_FDS) {
            throw new BadOptionValue("--method: " + LocalMigration.HELD_FDS_REFUSAL);
        }
        if (noBackendTransfer) {
            if (m == LocalMigration.Method.LOCAL) {
                throw new BadOptionValue("--no-backend-transfer contradicts --method local");
            }
            m = LocalMigration.Method.NEW_TAP;
        }
        return m;
    }

    /** A QMP socket path named on the command line must exist (a bad command line otherwise, exit 2). */
    private static void requireSocket(String option, String side, Path path) {
        if (!java.nio.file.Files.exists(path)) {
            throw new BadOptionValue(option + ": " + side + " QMP socket " + path + ": no such file");
        }
    }
}
