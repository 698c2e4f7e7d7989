package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.tools.ExitCodes;
import dev.livetap.tools.LivetapCommand;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every bad value of every command, through the real command line (with the simulation's SPI
 * commands on the class path): exit 2, one line on stderr naming the option and the value, no
 * stack trace, nothing started.
 */
class BadCommandLineTest {
    private static final String MISSING = "/nonexistent-livetap-test/x";

    static Stream<Arguments> badCommandLines() {
        return Stream.of(
                bad("--queues", "0", "bench", "downtime", "--queues", "0"),
                bad("--queues", "257", "bench", "downtime", "--queues", "257"),
                bad("--queues", "abc", "bench", "downtime", "--queues", "abc"),
                bad("--migrations", "0", "bench", "downtime", "--migrations", "0"),
                bad("--warmup", "-1", "bench", "downtime", "--warmup", "-1"),
                bad("--jvm", "foo", "bench", "downtime", "--jvm", "foo"),
                bad("--vms", "0", "bench", "concurrent", "--vms", "0"),
                bad("--vms", "5000", "bench", "concurrent", "--vms", "5000"),
                bad("--warmup", "-1", "bench", "concurrent", "--warmup", "-1"),
                bad("--in-flight", "-1", "bench", "concurrent", "--in-flight", "-1"),
                bad("--setup-width", "0", "bench", "concurrent", "--setup-width", "0"),
                bad("--timeout", "0", "bench", "concurrent", "--timeout", "0"),
                bad("--jvm", "x", "bench", "concurrent", "--jvm", "x"),
                bad("downtime", "concurrent", "bench"),
                bad("--migrations", "0", "bench", "functional", "--migrations", "0"),
                bad("--interval-ms", "0.1", "bench", "functional", "--interval-ms", "0.1"),
                bad("--row", "qemu", "bench", "functional", "--row", "qemu"),
                bad("--runs", "0", "chaos", "--runs", "0"),
                bad("--queues", "65", "chaos", "--queues", "65"),
                bad("--migration-timeout", "0", "chaos", "--migration-timeout", "0"),
                bad("--max-delay-ms", "-1", "chaos", "--max-delay-ms", "-1"),
                bad("--faults", "nope", "chaos", "--faults", "nope"),
                bad("--seed", "x", "chaos", "--seed", "x"),
                bad("--runs", "0", "simulate", "--runs", "0"),
                bad("--queues", "0-3", "simulate", "--queues", "0-3"),
                bad("--queues", "x", "simulate", "--queues", "x"),
                bad("--workers", "0", "simulate", "--workers", "0"),
                bad("--faults", "nope", "simulate", "--faults", "nope"),
                bad("--migration-timeout", "-1", "vmm", "--migration-timeout", "-1"),
                bad("--vms", "0", "vmm", "--vms", "0", "--qmp-dir", MISSING),
                bad("--machine", "pc-i440fx", "vmm", "--machine", "pc-i440fx", "--qmp", MISSING),
                bad("--guest-ip", "10.0.0.300", "vmm", "--guest-ip", "10.0.0.300", "--qmp", MISSING),
                bad("--bogus", "vmm", "--bogus"),
                bad("--timeout", "0", "migrate", "--timeout", "0", "--source", MISSING, "--target", MISSING),
                bad("docs/qemu.md", "migrate", "--method", "held-fds", "--source", MISSING, "--target", MISSING),
                bad("--method", "foo", "migrate", "--method", "foo", "--source", MISSING, "--target", MISSING),
                bad("--switch", "migrate", "--method", "local", "--switch", "true", "--source", MISSING, "--target", MISSING),
                bad("source QMP socket", MISSING, "migrate", "--source", MISSING, "--target", MISSING),
                bad("--source", "migrate", "--target", MISSING),
                bad("--timeout", "0", "qmp", "--timeout", "0", MISSING, "query-status"),
                bad("PATH", MISSING, "qmp", MISSING, "query-status"),
                bad("JSON", "qmp", "/dev/null", "{\"execute\": 1}"),
                bad("JSON", "qmp", "/dev/null", "{oops"),
                bad("FILE", MISSING, "stream", "dump", MISSING),
                bad("--queues", "0", "selftest", "--queues", "0"),
                bad("--queues", "0", "demo", "--queues", "0"),
                bad("--migrations", "101", "demo", "--migrations", "101"),
                bad("--interval-ms", "0.1", "demo", "--interval-ms", "0.1"),
                bad("--step-timeout-s", "0", "fleet", "start", "--seed-nodes", "x", "--hosts", "h", "--step-timeout-s", "0"),
                bad("--host-down-limit-s", "0", "fleet", "start", "--seed-nodes", "x", "--hosts", "h", "--host-down-limit-s", "0"),
                bad("--hosts", "--plan", "fleet", "start", "--seed-nodes", "x"),
                bad("--plan", "--max-failures", "fleet", "plan", "--seed-nodes", "x", "--plan", MISSING, "--max-failures", "2"),
                bad("--plan", MISSING, "fleet", "start", "--seed-nodes", "x", "--plan", MISSING),
                bad("--step-estimate-s", "0", "fleet", "plan", "--seed-nodes", "x", "--hosts", "h", "--step-estimate-s", "0"),
                bad("--max-parallel-hosts", "0", "fleet", "plan", "--seed-nodes", "x", "--hosts", "h", "--max-parallel-hosts", "0"),
                bad("--tls-certs", MISSING, "fleet", "bench", "--tls-certs", MISSING),
                bad("--seed-nodes", "fleet", "pause"),
                bad("--budget", "fast", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir", MISSING, "--budget", "fast"),
                bad("--budget", "0", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir", MISSING, "--budget", "0"),
                bad("--budget-max", "0", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir", MISSING, "--budget", "auto",
                        "--budget-max", "0"),
                bad("--downtime-limit-ms", "0", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir", MISSING,
                        "--downtime-limit-ms", "0"),
                bad("--vmm-build", "0.1.9", "not an executable file", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir",
                        MISSING, "--vmm-build", "0.1.9=" + MISSING),
                bad("--vmm-build", "VERSION=LAUNCHER", "agent", "--host", "h", "--seed-nodes", "x", "--vmm-dir", MISSING,
                        "--vmm-build", "0.1.9"),
                bad("--seed-nodes", "fleet", "abort"),
                // TLS is on by default: without a TLS directory (and no LIVETAP_FLEET_TLS_DIR) a fleet command says how to get one
                bad("--tls-dir", "--no-tls", "fleet", "status", "--seed-nodes", "x"),
                bad("--tls-dir", MISSING, "fleet", "pause", "--seed-nodes", "x", "--tls-dir", MISSING),
                // fleet start joins the cluster or posts over HTTPS: exactly one way, HTTPS only, with a certificate
                bad("--seed-nodes", "--operator-url", "fleet", "start", "--hosts", "h"),
                bad("--seed-nodes", "--operator-url", "fleet", "start", "--hosts", "h", "--seed-nodes", "x", "--operator-url",
                        "https://127.0.0.1:1"),
                bad("--operator-url", "http://127.0.0.1:1", "fleet", "start", "--hosts", "h", "--operator-url", "http://127.0.0.1:1"),
                bad("--operator-url", "--tls-dir", "fleet", "start", "--hosts", "h", "--operator-url", "https://127.0.0.1:1"),
                bad("--management-port", "-2", "fleet", "node", "--journal", MISSING, "--no-tls", "--management-port", "-2"));
    }

    /** {@code names}: what the one line must mention; then the command line. */
    private static Arguments bad(String... namesThenArgs) {
        int split = 0;
        while (split < namesThenArgs.length && !isCommand(namesThenArgs[split])) {
            split++;
        }
        return Arguments.of(List.of(Arrays.copyOfRange(namesThenArgs, 0, split)),
                List.of(Arrays.copyOfRange(namesThenArgs, split, namesThenArgs.length)));
    }

    private static boolean isCommand(String s) {
        return List.of("bench", "chaos", "simulate", "vmm", "migrate", "qmp", "stream", "selftest", "demo", "fleet", "agent").contains(s);
    }

    @ParameterizedTest(name = "livetap {1}")
    @MethodSource("badCommandLines")
    void exitsTwoWithOneLineNamingTheOptionAndTheValue(List<String> mentions, List<String> args) {
        CliRun run = CliRun.of(args);
        int code = run.code();
        String stdout = run.out();
        String stderr = run.err();
        String all = run.all();
        assertEquals(ExitCodes.USAGE, code, "exit 2 for " + args + "; printed: " + all);
        assertEquals("", stdout, "nothing on stdout for " + args);
        List<String> lines = stderr.lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "one line on stderr for " + args + ", got: " + stderr);
        assertFalse(all.contains("Exception"), "no exception in: " + all);
        assertFalse(all.contains("at dev."), "no stack trace in: " + all);
        for (String m : mentions) {
            assertTrue(lines.get(0).contains(m), "the line names '" + m + "': " + lines.get(0));
        }
        assertTrue(lines.get(0).startsWith("livetap " + args.get(0)), "the line names the command: " + lines.get(0));
    }
}
