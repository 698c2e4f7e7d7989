package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.faults.FaultMatrix;
import dev.livetap.fleet.faults.FaultScenario;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import picocli.CommandLine;

/**
 * {@code livetap fleet faults}: the command line (in CI: no cluster) and each scenario of the fault matrix
 * ({@code long}: 3 node JVMs, 4 agent JVMs, 8 VMMs and PostgreSQL per scenario take minutes on the shared machine;
 * {@code mvn -o -q -pl tools -am test -Dtest='FleetFaults*' -Dlivetap.test.excludedGroups=none -Dsurefire.failIfNoSpecifiedTests=false},
 * one of them with {@code -Dlivetap.faults.scenario=NAME}).
 */
class FleetFaultsCommandTest {

    @Test
    void scenarioNamesAreCheckedAndTheTableNamesEveryFailedCheck() {
        assertEquals(List.of(FaultScenario.values()), FleetFaultsCommand.scenarios(List.of("all", "vmm-crash")));
        assertEquals(List.of(FaultScenario.DB_RESTART, FaultScenario.SINGLETON_KILL),
                FleetFaultsCommand.scenarios(List.of("db-restart", "singleton-kill")));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = LivetapCommand.commandLine().execute("fleet", "faults", "--scenario", "singleton-nap");
        } finally {
            System.setErr(old);
        }
        String line = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(ExitCodes.USAGE, code, line);
        assertTrue(line.contains("singleton-nap") && line.contains("singleton-kill") && !line.contains("\n"), line);
        FaultMatrix.Outcome pass = new FaultMatrix.Outcome(FaultScenario.DB_RESTART,
                List.of(new FaultMatrix.Check("a", true, "fine")), Map.of(), 1500, "1.0", "2.0");
        FaultMatrix.Outcome fail = new FaultMatrix.Outcome(FaultScenario.VMM_CRASH,
                List.of(new FaultMatrix.Check("a", true, "fine"), new FaultMatrix.Check("one VMM", false, "vm1 on 2")), Map.of(), 2500,
                "1.0", "2.0");
        String table = FaultMatrix.table(List.of(pass, fail));
        assertTrue(table.contains("db-restart           PASS") && table.contains("1/1 held"), table);
        assertTrue(table.contains("vmm-crash            FAIL") && table.contains("one VMM (vm1 on 2)"), table);
        FaultMatrix.Settings settings = new FaultMatrix.Settings(List.of("java"), 4, 3, 2, Duration.ofSeconds(60));
        assertEquals(false, FaultMatrix.toJson(List.of(pass, fail), settings).path("ok").asBoolean());
        assertEquals(true, FaultMatrix.toJson(List.of(pass), settings).path("ok").asBoolean());
        assertEquals(false, new FaultMatrix.Outcome(FaultScenario.DB_RESTART, List.of(), Map.of(), 1, "", "").ok(),
                "no check run is no pass");
    }

    @Test
    void tlsOptionsAreCheckedBeforeAnythingStarts(@org.junit.jupiter.api.io.TempDir java.nio.file.Path empty) {
        FaultMatrix.Settings settings = new FaultMatrix.Settings(List.of("java"), 4, 3, 2, Duration.ofSeconds(60));
        assertEquals(List.of("n1", "n2", "n3", "h1", "h2", "h3", "h4", "operator"), settings.memberNames());
        assertEquals("tcp", settings.transport());
        assertEquals("tls-tcp", new FaultMatrix.Settings(List.of("java"), 4, 3, 2, Duration.ofSeconds(60), empty).transport());
        assertTrue(FleetFaultsCommand.certScript().isPresent(), "scripts/fleet-certs is found from the module's directory");
        String both = usageError("fleet", "faults", "--tls", "--tls-certs", empty.toString());
        assertTrue(both.contains("not both"), both);
        String none = usageError("fleet", "faults", "--scenario", "agent-kill", "--tls-certs", empty.toString());
        assertTrue(none.contains(empty.resolve("n1").resolve("node.p12").toString()) && none.contains("scripts/fleet-certs " + empty
                + " n1 n2 n3 h1 h2 h3 h4 operator"), none);
        assertEquals(List.of(FaultScenario.VMM_CRASH_SWITCHOVER, FaultScenario.AGENT_SINGLETON_KILL, FaultScenario.DB_AGENT_KILL),
                FleetFaultsCommand.scenarios(List.of("vmm-crash-switchover", "agent-singleton-kill", "db-agent-kill")));
    }

    /** Runs the command line, expects exit 2; its stderr. */
    private static String usageError(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = LivetapCommand.commandLine().execute(args);
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(ExitCodes.USAGE, code, text);
        return text;
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(FaultScenario.class)
    @Tag("long")
    @RequiresTun
    @RequiresRoot
    @Timeout(value = 900, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyCheckHoldsAfterTheFault(FaultScenario scenario) throws Exception {
        String only = System.getProperty("livetap.faults.scenario", "");
        Assumptions.assumeTrue(only.isEmpty() || only.equals(scenario.label()), "-Dlivetap.faults.scenario=" + only);
        FaultMatrix.unavailableReason().ifPresent(why -> Assumptions.abort(why));
        FaultMatrix.Settings settings = new FaultMatrix.Settings(FleetFaultsCommand.livetapCommand(), 4, 3, 2, Duration.ofSeconds(240));
        List<FaultMatrix.Outcome> outcomes = FaultMatrix.run(List.of(scenario), settings, System.out::println);
        String table = FaultMatrix.table(outcomes);
        System.out.println(table + FaultMatrix.toJson(outcomes, settings));
        assertEquals(1, outcomes.size());
        assertTrue(outcomes.get(0).ok(), table + outcomes.get(0).checks());
        assertTrue(outcomes.get(0).checks().size() >= 10, "every check ran: " + outcomes.get(0).checks());
    }
}
