package dev.livetap.engine.vmm;

import dev.livetap.engine.api.VmSpec;
import java.nio.file.Path;
import java.util.List;

/**
 * The options of the VMM process ({@code livetap vmm}), parsed without a command-line library so
 * that a VMM child loads only the engine. {@link #parse} refuses a bad command line with a
 * {@link BadArguments} whose message is one line naming the option and the value.
 */
public record VmmArguments(Path qmp, Path qmpDir, int vms, String name, boolean incoming, boolean paused,
        String machine, String guestIp, boolean jsonLog, boolean noWarmUp, int migrationTimeoutSeconds,
        int qmpNegotiationTimeoutSeconds, boolean dieWithParent, Integer faultVhostSetup, Integer metricsPort, boolean help,
        boolean version) {

    /** The option with which the VMM watches its stdin and stops at end-of-file (the launcher's death). */
    public static final String DIE_WITH_PARENT_OPTION = "--die-with-parent";

    /** {@code livetap vmm --help}. */
    public static final String USAGE = """
            Usage: livetap vmm [-hV] [--die-with-parent] [--incoming] [--json-log]
                               [--no-warm-up] [--paused] [--guest-ip=IPV4] [--machine=TYPE]
                               [--migration-timeout=SECONDS] [--name=NAME] [--qmp=PATH]
                               [--qmp-dir=DIR] [--qmp-negotiation-timeout=SECONDS]
                               [--metrics-port=PORT] [--vms=N]
            Runs VM endpoints, each behind a QMP socket (mode 0600, same uid only).
            Prints 'READY <qmp-path>' per VM once its socket listens (after the warm-up).
            Stops on 'quit' (per VM; the process ends with its last VM, exit 0) or
            SIGTERM/SIGINT (exit 130), closing every fd and removing every socket.
                  --qmp=PATH          QMP socket of the (single) VM.
                  --qmp-dir=DIR       With --vms: QMP sockets DIR/<name><i>.qmp.
                  --vms=N             VM endpoints in this process (1-4096, default 1).
                  --name=NAME         VM name (with --vms: name prefix). Default vm.
                  --incoming          Start as a migration target (QEMU's -incoming defer):
                                        run state inmigrate.
                  --paused            QEMU's -S: stay paused after an incoming migration
                                        until 'cont' (else resume by itself).
                  --machine=TYPE      Machine type (default q35 = the latest,
                                        backend-transfer on; pc-q35-10.2 and older: off).
                  --guest-ip=IPV4     Address the guest stand-in answers ARP/ICMP for
                                        (default 10.0.1.2; device_add x-guest-ip overrides).
                  --json-log          Log JSON lines on stderr (one object per event).
                  --no-warm-up        Report READY without warming up (the first hand-off
                                        is then slower).
                  --migration-timeout=SECONDS
                                      Limit of each migration wait (connect/accept, return
                                        path): 1-3600, default 30.
                  --qmp-negotiation-timeout=SECONDS
                                      Disconnect a QMP client that has not sent
                                        qmp_capabilities this long after connecting
                                        (0: never; 0-3600, default 10).
                  --metrics-port=PORT Serve the Prometheus scrape endpoint
                                        http://127.0.0.1:PORT/metrics (1-65535;
                                        loopback only; off by default).
                  --die-with-parent   Stop (as on SIGTERM) when stdin reaches end-of-file:
                                        the launcher holds the pipe's only write end, so
                                        its death ends this VMM. Without it the VMM
                                        outlives whoever started it.
              -h, --help              Show this help message and exit.
              -V, --version           Print version information and exit.

            Exit codes:
              0     every VM quit
              1     start failed (e.g. a live process listens on the socket path)
              2     bad command line
              130   stopped by SIGTERM/SIGINT, after cleaning up
            """;

    /** A command line the VMM cannot use; the message is one line naming the option and the value. */
    public static final class BadArguments extends Exception {
        private static final long serialVersionUID = 1L;

        BadArguments(String message) {
            super(message, null, false, false);
        }
    }

    /** Parses {@code args} ({@code --opt VALUE} and {@code --opt=VALUE} alike) and checks every range. */
    public static VmmArguments parse(List<String> args) throws BadArguments {
        Path qmp = null;
        Path qmpDir = null;
        int vms = 1;
        String name = "vm";
        boolean incoming = false;
        boolean paused = false;
        String machine = "q35";
        String guestIp = VmSpec.DEFAULT_GUEST_IP;
        boolean jsonLog = false;
        boolean noWarmUp = false;
        int migrationTimeout = 30;
        int qmpNegotiationTimeout = 10;
        boolean dieWithParent = false;
        Integer faultVhostSetup = null;
        Integer metricsPort = null;
        boolean help = false;
        boolean version = false;
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String option = arg;
            String inline = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                option = arg.substring(0, eq);
                inline = arg.substring(eq + 1);
            }
            switch (option) {
                case "-h", "--help" -> help = true;
                case "-V", "--version" -> version = true;
                case "--incoming" -> incoming = true;
                case "--paused" -> paused = true;
                case "--json-log" -> jsonLog = true;
                case "--no-warm-up" -> noWarmUp = true;
                case DIE_WITH_PARENT_OPTION -> dieWithParent = true;
                case "--qmp", "--qmp-dir", "--vms", "--name", "--machine", "--guest-ip", "--migration-timeout",
                        "--qmp-negotiation-timeout", "--metrics-port", "--x-fault-vhost-setup" -> {
                    String value = inline;
                    if (value == null) {
                        if (i + 1 >= args.size()) {
                            throw new BadArguments("Missing required parameter for option '" + option + "' (" + label(option) + ")");
                        }
                        value = args.get(++i);
                    }
                    switch (option) {
                        case "--qmp" -> qmp = Path.of(value);
                        case "--qmp-dir" -> qmpDir = Path.of(value);
                        case "--vms" -> vms = integer(option, value);
                        case "--name" -> name = value;
                        case "--machine" -> machine = value;
                        case "--guest-ip" -> guestIp = value;
                        case "--migration-timeout" -> migrationTimeout = integer(option, value);
                        case "--qmp-negotiation-timeout" -> qmpNegotiationTimeout = integer(option, value);
                        case "--metrics-port" -> metricsPort = integer(option, value);
                        default -> faultVhostSetup = integer(option, value);
                    }
                }
                default -> throw new BadArguments(arg.startsWith("-")
                        ? "Unknown option: '" + arg + "'"
                        : "Unmatched argument at index " + i + ": '" + arg + "'");
            }
        }
        VmmArguments parsed = new VmmArguments(qmp, qmpDir, vms, name, incoming, paused, machine, guestIp, jsonLog, noWarmUp,
                migrationTimeout, qmpNegotiationTimeout, dieWithParent, faultVhostSetup, metricsPort, help, version);
        if (!help && !version) {
            range("--migration-timeout", migrationTimeout, 1, 3600);
            range("--qmp-negotiation-timeout", qmpNegotiationTimeout, 0, 3600);
            if (faultVhostSetup != null) {
                range("--x-fault-vhost-setup", faultVhostSetup, 0, 255);
            }
            if (metricsPort != null) {
                range("--metrics-port", metricsPort, 1, 65535);
            }
        }
        return parsed;
    }

    /** The VMs this command line asks for (creates {@code --qmp-dir}); refuses bad combinations and values. */
    public List<VmmServer.VmPlan> plans() throws BadArguments, java.io.IOException {
        range("--vms", vms, 1, 4096);
        if ((qmp == null) == (qmpDir == null)) {
            throw new BadArguments("give exactly one of --qmp PATH (one VM) or --qmp-dir DIR");
        }
        if (qmp != null && vms != 1) {
            throw new BadArguments("--qmp names one socket; use --qmp-dir DIR with --vms " + vms);
        }
        VmSpec base = option("--name", () -> VmSpec.of(vms == 1 ? name : name + "0"));
        VmSpec named = base;
        base = option("--machine", () -> named.machine(machine)).incoming(incoming).paused(paused);
        VmSpec typed = base;
        base = option("--guest-ip", () -> typed.guestIp(guestIp));
        List<VmmServer.VmPlan> plans = new java.util.ArrayList<>();
        if (qmp != null) {
            plans.add(new VmmServer.VmPlan(base, qmp));
            return plans;
        }
        java.nio.file.Files.createDirectories(qmpDir);
        for (int i = 0; i < vms; i++) {
            String n = name + i;
            plans.add(new VmmServer.VmPlan(new VmSpec(n, base.machine(), incoming, paused, base.guestIp()),
                    qmpDir.resolve(n + ".qmp")));
        }
        return plans;
    }

    private static String label(String option) {
        return switch (option) {
            case "--qmp" -> "PATH";
            case "--qmp-dir" -> "DIR";
            case "--vms" -> "N";
            case "--name" -> "NAME";
            case "--machine" -> "TYPE";
            case "--guest-ip" -> "IPV4";
            case "--migration-timeout", "--qmp-negotiation-timeout" -> "SECONDS";
            case "--metrics-port" -> "PORT";
            default -> "QUEUE";
        };
    }

    private static int integer(String option, String value) throws BadArguments {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new BadArguments("Invalid value for option '" + option + "': '" + value + "' is not an int");
        }
    }

    private static void range(String option, int value, int min, int max) throws BadArguments {
        if (value < min || value > max) {
            throw new BadArguments(option + " must be " + min + " to " + max + ", got " + value);
        }
    }

    /** A VmSpec step whose refusal is a bad value of {@code option}. */
    private static VmSpec option(String option, java.util.function.Supplier<VmSpec> step) throws BadArguments {
        try {
            return step.get();
        } catch (RuntimeException e) {
            throw new BadArguments(option + ": " + e.getMessage());
        }
    }
}
