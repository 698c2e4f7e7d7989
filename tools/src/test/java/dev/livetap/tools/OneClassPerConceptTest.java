package dev.livetap.tools;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.launch.ChildLaunch;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * docs/architecture.md, "One class per concept": the main code of every module (tools sees them all)
 * holds one network-namespace class, one host-command runner, one VMM launcher, one QMP client
 * stack, one local-migration driver, one chart writer and percentile computation, one bounded
 * wait, and one search of the process table. A second one fails here; the allowed classes are named explicitly.
 */
class OneClassPerConceptTest {
    /** Starting processes: the runner of host commands, the long-running child, ping, the launch policy, the VMM launcher. */
    static final Set<String> PROCESS_STARTERS = Set.of(
            "dev.livetap.testbed.HostCommand",
            "dev.livetap.testbed.ChildProcess",
            "dev.livetap.testbed.Ping",
            "dev.livetap.testbed.launch.ChildLaunch",
            "dev.livetap.testbed.vmm.VmmProcess",
            // the product's downscript runner (semantic 8), not harness
            "dev.livetap.actors.migration.ProcessScriptRunner",
            // long-running children with a pipe of their own: the probe writer's perl, the guest image's build tools,
            // the selftest's hand-off children
            "dev.livetap.testbed.demo.ProbeWriter",
            "dev.livetap.testbed.guest.GuestImage",
            "dev.livetap.testbed.selftest.SelftestHandoff$Child");

    /** The VMM launcher: the only user of the launch policy's VMM command line. */
    static final Set<String> VMM_LAUNCHERS = Set.of("dev.livetap.testbed.vmm.VmmProcess", "dev.livetap.testbed.launch.ChildLaunch");

    /**
     * The launchers issue 13 replaces by {@code VmmProcess} (written at the same time on another branch):
     * this list empties when that lands.
     */
    static final Set<String> PENDING_VMM_LAUNCHERS = Set.of("dev.livetap.testbed.bench.VmmJvm");

    /** The QMP client stack (engine/qmp) and the QMP server's side. */
    static final Set<String> QMP_CLASSES_WITH_SOCKETS = Set.of("dev.livetap.engine.qmp.QmpConnection", "dev.livetap.engine.qmp.QmpClient",
            "dev.livetap.engine.qmp.QmpMux", "dev.livetap.engine.qmp.QmpServer", "dev.livetap.engine.qmp.QmpSession");

    static JavaClasses main;

    @BeforeAll
    static void importMainCode() {
        // main code only: the modules' classes directories or jars, never test-classes or a test-jar (native's test support)
        main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(location -> !location.contains("-tests.jar")).importPackages("dev.livetap");
        for (String mustSee : Set.of("dev.livetap.engine.qmp.QmpClient", "dev.livetap.testbed.HostCommand",
                "dev.livetap.actors.migration.ProcessScriptRunner", "dev.livetap.tools.CleanupCommand", "dev.livetap.nativeio.linux.JnaOs")) {
            assertTrue(main.contain(mustSee), "the rules see every module's main code, " + mustSee + " too");
        }
    }

    private static DescribedPredicate<JavaClass> outside(Set<String> allowed) {
        return DescribedPredicate.describe("not one of " + allowed, c -> !allowed.contains(c.getName())
                && !allowed.contains(c.getName().replaceFirst("\\$.*", "")));
    }

    @Test
    void onlyTheNamedClassesStartProcesses() {
        noClasses().that(outside(union(PROCESS_STARTERS, PENDING_VMM_LAUNCHERS)))
                .should().callConstructor(ProcessBuilder.class, String[].class)
                .orShould().callConstructor(ProcessBuilder.class, java.util.List.class)
                .orShould().callMethod(Runtime.class, "exec", String.class)
                .orShould().callMethod(Runtime.class, "exec", String[].class)
                .because("host commands run through HostCommand (docs/architecture.md, one class per concept)")
                .check(main);
    }

    @Test
    void oneNetworkNamespaceClass() {
        noClasses().that(outside(Set.of(NetworkNamespace.class.getName())))
                .should().haveSimpleNameContaining("Netns").orShould().haveSimpleNameContaining("Namespace")
                .orShould().callMethod(ChildLaunch.class, "namespaceReaper", String.class, String.class, java.util.List.class)
                .because("network namespaces are NetworkNamespace's: one naming rule, one reaper, one stale rule")
                .check(main);
    }

    @Test
    void oneVmmLauncher() {
        noClasses().that(outside(union(VMM_LAUNCHERS, PENDING_VMM_LAUNCHERS)))
                .should().accessField(ChildLaunch.class, "VMM_MAIN_CLASS")
                .orShould().accessField(ChildLaunch.class, "VMM_JVM_OPTIONS")
                .orShould().callMethod(ChildLaunch.class, "vmmArguments", ChildLaunch.Policy.class)
                .orShould().callMethod(ChildLaunch.class, "vmmClassPath")
                .because("livetap vmm children are started by VmmProcess with the one launch policy")
                .check(main);
    }

    @Test
    void oneQmpClientStack() {
        noClasses().that(outside(QMP_CLASSES_WITH_SOCKETS)).and().haveSimpleNameContaining("Qmp")
                .should().callMethod(java.nio.channels.SocketChannel.class, "open", java.net.ProtocolFamily.class)
                .orShould().callMethod(java.net.UnixDomainSocketAddress.class, "of", java.nio.file.Path.class)
                .orShould().callMethod(java.net.UnixDomainSocketAddress.class, "of", String.class)
                .because("QMP clients are engine/qmp's QmpConnection, QmpClient and QmpMux")
                .check(main);
        noClasses().that().resideOutsideOfPackage("dev.livetap.engine.qmp..")
                .should().haveSimpleNameEndingWith("QmpClient").orShould().haveSimpleNameContaining("QmpMux")
                .orShould().haveSimpleNameContaining("QmpConnection")
                .because("there is one QMP client stack, in engine/qmp")
                .check(main);
    }

    /** Readers of QMP events in the harness: the one local-migration driver and the differential suite (which records every event of each step). */
    static final Set<String> MIGRATION_EVENT_READERS = Set.of("dev.livetap.testbed.orchestration.LocalMigration",
            "dev.livetap.testbed.oracle.ScenarioRunner");

    @Test
    void oneLocalMigrationDriver() {
        noClasses().that(outside(MIGRATION_EVENT_READERS)).and().resideInAnyPackage("dev.livetap.testbed..", "dev.livetap.tools..")
                .should().callMethod(dev.livetap.engine.qmp.QmpClient.class, "pollEvent", java.time.Duration.class)
                .orShould().callMethod(dev.livetap.engine.qmp.QmpClient.class, "awaitEvent", String.class)
                .orShould().callMethod(dev.livetap.engine.qmp.QmpMux.Conn.class, "onEvent", java.util.function.Consumer.class)
                .because("local migrations are driven by LocalMigration (run, with Hooks for chaos; runBatch for many at once),"
                        + " which waits on their events")
                .check(main);
    }

    @Test
    void oneProcessTableSearch() {
        noClasses().that(outside(Set.of("dev.livetap.testbed.ProcessCensus")))
                .should().callMethod(ProcessHandle.class, "allProcesses")
                .because("the process table is searched by command line through ProcessCensus (processesWhose, commandLinesWhere)")
                .check(main);
    }

    @Test
    void oneChartWriterOnePercentileComputationOneBoundedWait() {
        noClasses().that().resideOutsideOfPackage("dev.livetap.report..")
                .should().dependOnClassesThat().resideInAPackage("org.HdrHistogram..")
                .orShould().haveSimpleNameContaining("Percentile").orShould().haveSimpleNameContaining("Chart")
                .because("latency percentiles (HdrHistogram) and charts are report's Percentiles and SvgChart")
                .check(main);
        noClasses().that(outside(Set.of("dev.livetap.testbed.Retry")))
                .should().haveSimpleNameContaining("Retry").orShould().haveSimpleNameContaining("Backoff")
                .because("bounded polling goes through testbed.Retry")
                .check(main);
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        java.util.Set<String> u = new java.util.HashSet<>(a);
        u.addAll(b);
        return u;
    }
}
