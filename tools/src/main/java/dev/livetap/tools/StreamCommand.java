package dev.livetap.tools;

import dev.livetap.codec.StreamDumper;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code livetap stream ...}: tools for recorded migration streams. */
@Command(name = "stream", mixinStandardHelpOptions = true, description = "Inspect recorded migration streams.",
        subcommands = StreamCommand.Dump.class)
public final class StreamCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("livetap stream: name a subcommand (dump)");
        return ExitCodes.USAGE;
    }

    /** {@code livetap stream dump FILE [--json]}, like QEMU's analyze-migration script. */
    @Command(name = "dump", mixinStandardHelpOptions = true,
            description = "Print a recorded stream: header, sections with fields and versions, fd slots, description.")
    static final class Dump implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE", description = "A recorded stream (.ltrec).")
        Path file;

        @Option(names = "--json", description = "Print JSON instead of text.")
        boolean json;

        @Override
        public Integer call() {
            BadOptionValue.readableFile("FILE", file);
            int rc = StreamDumper.dump(file, json, System.out);
            // StreamDumper: 0 ok, 1 malformed stream, 2 unreadable file (a bad command line, as a missing one)
            return switch (rc) {
                case 0 -> ExitCodes.OK;
                case 2 -> ExitCodes.USAGE;
                default -> ExitCodes.FAILED;
            };
        }
    }
}
