package dev.livetap.engine.cli;

import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The root {@code livetap} command. */
@Command(
        name = "livetap",
        mixinStandardHelpOptions = true,
        versionProvider = LivetapCommand.Version.class,
        description = "Live-migrates a virtio-net NIC together with its TAP backend between two VMM processes on one host.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:success",
            "1:the command ran and found a failure",
            "2:bad command line",
            "3:a prerequisite is missing (e.g. /dev/net/tun, root, ip, ping)",
            "130:interrupted, after cleaning up"
        })
public final class LivetapCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return ExitCodes.USAGE;
    }

    /** Builds the command line with the built-in subcommands and every SPI provider on the class path. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new LivetapCommand());
        cl.addSubcommand("selftest", new SelftestCommand());
        cl.addSubcommand("stream", new StreamCommand());
        cl.addSubcommand("vmm", new VmmCommand());
        cl.addSubcommand("qmp", new QmpCliCommand());
        cl.addSubcommand("migrate", new MigrateCommand());
        cl.addSubcommand("cleanup", new CleanupCommand());
        cl.addSubcommand("demo", new DemoCommand());
        for (SubcommandProvider p : ServiceLoader.load(SubcommandProvider.class)) {
            cl.addSubcommand(p.name(), p.command());
        }
        cl.setExitCodeExceptionMapper(t -> t instanceof CommandLine.ParameterException ? ExitCodes.USAGE : ExitCodes.FAILED);
        return cl;
    }

    public static void main(String[] args) {
        configureLogging(args);
        int code = commandLine().execute(args);
        System.exit(code);
    }

    /**
     * Chooses the log format and level before the first logger exists: {@code vmm --json-log}
     * logs JSON lines (logback-json.xml); {@code vmm} logs at INFO unless -Dlivetap.log says otherwise.
     */
    static void configureLogging(String[] args) {
        java.util.List<String> list = java.util.Arrays.asList(args);
        if (!list.isEmpty() && list.get(0).equals("vmm")) {
            if (list.contains("--json-log") && System.getProperty("logback.configurationFile") == null) {
                System.setProperty("logback.configurationFile", "logback-json.xml");
            }
            if (System.getProperty("livetap.log") == null) {
                System.setProperty("livetap.log", "INFO");
            }
        }
    }

    /** The version from the jar manifest, or the development version. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LivetapCommand.class.getPackage().getImplementationVersion();
            return new String[] {"livetap " + (v == null ? "0.1.0-SNAPSHOT" : v),
                "Java " + System.getProperty("java.version") + " on " + System.getProperty("os.name") + " " + System.getProperty("os.arch")};
        }
    }
}
