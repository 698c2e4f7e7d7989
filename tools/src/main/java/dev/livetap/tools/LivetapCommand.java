package dev.livetap.tools;

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

    /** Builds the command line with every subcommand, registered directly. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new LivetapCommand());
        cl.addSubcommand("selftest", new SelftestCommand());
        cl.addSubcommand("stream", new StreamCommand());
        cl.addSubcommand("vmm", new VmmCommand());
        cl.addSubcommand("qmp", new QmpCliCommand());
        cl.addSubcommand("migrate", new MigrateCommand());
        cl.addSubcommand("cleanup", new CleanupCommand());
        cl.addSubcommand("demo", new DemoCommand());
        cl.addSubcommand("simulate", new SimulateCommand());
        cl.addSubcommand("chaos", new ChaosCommand());
        cl.addSubcommand("bench", new BenchCommand());
        cl.addSubcommand("fleet", new FleetCommand());
        cl.addSubcommand("agent", new AgentCommand());
        cl.setExitCodeExceptionMapper(t -> t instanceof CommandLine.ParameterException || t instanceof BadOptionValue
                ? ExitCodes.USAGE : ExitCodes.FAILED);
        // one place for every command: a bad command line is exit 2 and one line, never a stack trace
        cl.setParameterExceptionHandler((e, args) -> badCommandLine(cl.getErr(), e.getCommandLine(), e.getMessage()));
        cl.setExecutionExceptionHandler((e, executed, parsed) -> {
            if (e instanceof BadOptionValue) {
                return badCommandLine(cl.getErr(), executed, e.getMessage());
            }
            throw e;
        });
        useWholeSentenceSummaries(cl);
        return cl;
    }

    /** Prints "livetap CMD: MESSAGE (see 'livetap CMD --help')" as one line on the command's stderr; exit 2. */
    static int badCommandLine(java.io.PrintWriter err, CommandLine cmd, String message) {
        String name = cmd.getCommandSpec().qualifiedName();
        String oneLine = message == null ? "bad command line" : message.strip().replaceAll("\\s*\\R\\s*", "; ");
        err.println(name + ": " + oneLine + " (see '" + name + " --help')");
        err.flush();
        return ExitCodes.USAGE;
    }

    /**
     * The command lists of --help show each command's first whole sentence (picocli shows the first
     * description line, which for a multi-line description stops mid-sentence).
     */
    private static void useWholeSentenceSummaries(CommandLine cl) {
        cl.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST, LivetapCommand::commandList);
        cl.getSubcommands().values().forEach(LivetapCommand::useWholeSentenceSummaries);
    }

    private static String commandList(CommandLine.Help help) {
        java.util.Map<String, CommandLine.Help> subs = help.subcommands();
        if (subs.isEmpty()) {
            return "";
        }
        int width = help.commandSpec().usageMessage().width();
        int nameWidth = subs.keySet().stream().mapToInt(String::length).max().orElse(0) + 4;
        CommandLine.Help.TextTable table = CommandLine.Help.TextTable.forColumns(help.colorScheme(),
                new CommandLine.Help.Column(nameWidth, 2, CommandLine.Help.Column.Overflow.SPAN),
                new CommandLine.Help.Column(width - nameWidth, 1, CommandLine.Help.Column.Overflow.WRAP));
        subs.forEach((name, sub) -> {
            if (!sub.commandSpec().usageMessage().hidden()) {
                table.addRowValues(name, summary(sub.commandSpec()));
            }
        });
        return table.toString();
    }

    /** The first sentence of a command's description (its header if it has one). */
    static String summary(CommandSpec spec) {
        String[] lines = spec.usageMessage().header().length > 0 ? spec.usageMessage().header() : spec.usageMessage().description();
        String text = String.join(" ", lines).replaceAll("\\s+", " ").strip();
        java.util.regex.Matcher end = java.util.regex.Pattern.compile("[.!?](\\s|$)").matcher(text);
        return end.find() ? text.substring(0, end.start() + 1) : text;
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("vmm")) {
            // the VMM parses its own options and loads no command-line library
            dev.livetap.engine.vmm.VmmMain.main(args);
            return;
        }
        if (args.length > 0 && !args[0].startsWith("-")) {
            // a command's logging starts here, on this one thread: started by Pekko's threads at once, SLF4J printed three
            // lines on stderr about "replayed" logging calls at every fleet command, agent and node (--help stays quick)
            org.slf4j.LoggerFactory.getILoggerFactory();
        }
        int code = commandLine().execute(args);
        System.exit(code);
    }

    /** The version from the jar manifest, or the development version. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LivetapCommand.class.getPackage().getImplementationVersion();
            return new String[] {"livetap " + (v == null ? "0.2.0" : v),
                "Java " + System.getProperty("java.version") + " on " + System.getProperty("os.name") + " " + System.getProperty("os.arch")};
        }
    }
}
