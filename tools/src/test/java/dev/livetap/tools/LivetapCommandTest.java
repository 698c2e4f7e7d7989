package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class LivetapCommandTest {
    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cl = LivetapCommand.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void versionNamesTheProduct() {
        Run r = run("--version");
        assertEquals(ExitCodes.OK, r.code(), "--version exits 0");
        assertTrue(r.out().startsWith("livetap "), "--version prints 'livetap <version>', got: " + r.out());
    }

    @Test
    void unknownOptionIsAUsageError() {
        Run r = run("--no-such-option");
        assertEquals(ExitCodes.USAGE, r.code(), "an unknown option exits with the usage code");
        assertTrue(r.err().contains("--no-such-option"), "the error names the bad option: " + r.err());
    }

    @Test
    void noSubcommandPrintsUsage() {
        Run r = run();
        assertEquals(ExitCodes.USAGE, r.code(), "livetap without a command prints usage and exits 2");
        assertTrue(r.out().contains("selftest"), "usage lists the built-in subcommands: " + r.out());
    }

    @Test
    void helpSummarizesEveryCommandInAWholeSentence() {
        Run r = run("--help");
        String help = r.out().replaceAll("\\s+", " ");
        CommandLine cl = LivetapCommand.commandLine();
        for (var e : cl.getSubcommands().entrySet()) {
            String summary = LivetapCommand.summary(e.getValue().getCommandSpec());
            assertTrue(summary.endsWith("."), e.getKey() + "'s summary is a whole sentence: " + summary);
            assertTrue(help.contains(e.getKey() + " " + summary), "--help shows " + e.getKey() + " with '" + summary + "': " + r.out());
        }
    }

    @Test
    void helpListsExitCodes() {
        Run r = run("--help");
        assertEquals(ExitCodes.OK, r.code());
        assertTrue(r.out().contains("Exit codes"), "help documents the exit codes: " + r.out());
    }
}
