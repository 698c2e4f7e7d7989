package dev.livetap.fleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.vmm.VmmProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plans to a version move a VM onto a VMM of that build (issue 18 item 3): a real coordinator (H2
 * journal), a real agent over the VMM directory port, real {@code livetap vmm} processes in a network
 * namespace with a real 2-queue TAP, ping after each plan. The VM starts on an older build, is
 * upgraded to this one, rolled back (the agent sets {@code x-stream-format} on the source when the
 * older build writes an older format), and a plan to a version the agent lacks is refused.
 */
class VmmBuildsFleetTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final String GUEST = "10.0.1.2";
    private static final String FAKE_MARK = "-Dlivetap.test.build=0.1.9";

    @TempDir
    Path dir;

    /**
     * CI: the "0.1.9" build is this build behind a launcher of its own (its processes carry a mark in their
     * command line), declared to write stream format 1, as the builds before the checksum did.
     */
    @Test
    @RequiresTun
    @RequiresRoot
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void aPlanStartsTheVmmOfItsTargetVersionARollbackPinsTheOlderFormatAndAMissingVersionIsRefused() throws Exception {
        Path launcher = fakeLauncher(dir.resolve("livetap-0.1.9"));
        upgradeRollBackAndRefuse("0.1.9=" + launcher + ",stream-format=1", FAKE_MARK, false);
    }

    /**
     * Long: the same against a previous tagged build, built as scripts/compat-check builds it;
     * {@code scripts/fleet-version-check [REF]} runs it with {@code -Dlivetap.test.previousBuild=VERSION=LAUNCHER[,stream-format=N]}.
     */
    @Test
    @Tag("long")
    @RequiresTun
    @RequiresRoot
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void aPlanUpgradesFromAndRollsBackToAPreviousTaggedBuild() throws Exception {
        String spec = System.getProperty("livetap.test.previousBuild");
        assertTrue(spec != null && !spec.isBlank(), "run through scripts/fleet-version-check (it builds the previous build and"
                + " passes -Dlivetap.test.previousBuild=VERSION=LAUNCHER[,stream-format=N])");
        VmmBuilds.Build old = VmmBuilds.parse(spec);
        // the distribution's directory (bin/livetap's parent's parent) is in its VMMs' class path
        upgradeRollBackAndRefuse(spec, old.launcher().getParent().getParent().toString(), true);
    }

    /** How a step to a version is asked for: a plan through the coordinator, or a step sent to the agent itself. */
    @FunctionalInterface
    private interface Steps {
        /** vm0's step to {@code version}: completed, and its detail (the agent's outcome or refusal). */
        Outcome to(String version) throws Exception;
    }

    private record Outcome(boolean completed, String detail) {
    }

    /**
     * @param throughCoordinator each step is a plan of a real coordinator (H2 journal; its plan driver carries the
     *                           plan's target version to the agent); otherwise the test sends the agent its steps (CI's
     *                           time budget: a cluster node with its journal costs seconds more)
     */
    private void upgradeRollBackAndRefuse(String oldSpec, String oldMark, boolean throughCoordinator) throws Exception {
        long t0 = System.nanoTime();
        VmmBuilds builds = VmmBuilds.of(List.of(oldSpec));
        VmmBuilds.Build old = VmmBuilds.parse(oldSpec);
        String self = VmmBuilds.thisBuild();
        Path vmmDir = Files.createDirectories(dir.resolve("h"));
        ExecutorService executor = Executors.newFixedThreadPool(2, r -> new Thread(r, "builds-test-migration"));
        try (NetworkNamespace ns = NetworkNamespace.create("vb", List.of(dir))) {
            // generation 0 on the old build, with a real 2-queue TAP the VMM creates; its host side answers the stand-in's pings
            VmmProcess g0 = VmmProcess.start(VmmProcess.Options.of(vmmDir, "vm0").withPolicy(ChildLaunch.Policy.DETACHED)
                    .withPrefix(ns.wrap(List.of())).withLauncher(old.launcher())).awaitReady(TIMEOUT);
            try (QmpClient c = QmpClient.connect(g0.qmpSocket(), TIMEOUT)) {
                c.negotiate();
                c.execute("netdev_add", JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0")
                        .put("ifname", "lt0").put("queues", 2));
                c.execute("device_add", JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci").put("id", "nic0")
                        .put("netdev", "net0").put("mq", true).put("mac", "52:54:00:22:0a:01"));
            }
            ns.run("ip", "addr", "add", "10.0.1.1/24", "dev", "lt0");
            ns.run("ip", "link", "set", "lt0", "up");
            VmmDirectoryPort.describe(vmmDir, "vm0", "lt0", 2, "52:54:00:22:0a:01");
            assertTrue(ns.awaitReply(GUEST, Duration.ofSeconds(30)), "the VM answers ping on the old build");

            System.out.printf("vmm builds: %s after %d ms%n", "generation 0 up and pinged", (System.nanoTime() - t0) / 1_000_000);
            VmmDirectoryPort port = VmmDirectoryPort.adopt(vmmDir, ns.wrap(List.of()), TIMEOUT, builds);
            assertTrue(commandOf(port).contains(oldMark), "generation 0 runs the old build: " + commandOf(port));
            assertEquals(Optional.of(old.version()), port.buildOf("vm0", port.currentOf("vm0").orElseThrow()),
                    "the agent tells generation 0's build from its command line (-Dlivetap.home of the old launcher)");
            FleetNode node = throughCoordinator ? FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT) : null;
            ActorSystem<Void> system = node != null ? node.system() : ActorSystem.create(Behaviors.empty(), "vmm-builds-test");
            try {
                ActorRef<HostAgent.Command> agent = system.systemActorOf(HostAgent.create("h",
                        StepLedger.open(vmmDir.resolve(AgentNode.LEDGER)), new FreezeBudget(FreezeBudget.Settings.fixed(1)), TIMEOUT,
                        port, executor), HostAgent.ACTOR_NAME_PREFIX + "h", Props.empty());
                HostAgent.AgentState state = AskPattern.<HostAgent.Command, HostAgent.AgentState>ask(agent, HostAgent.GetState::new,
                        TIMEOUT, system.scheduler()).toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                java.util.concurrent.atomic.AtomicInteger stepNo = new java.util.concurrent.atomic.AtomicInteger();
                Steps steps = node != null ? version -> runPlan(node, version) : version -> {
                    HostAgent.StepReply r = AskPattern.<HostAgent.Command, HostAgent.StepReply>ask(agent,
                            to -> new HostAgent.PerformStep("h", "vm0", "m-1-" + stepNo.incrementAndGet(), 1, version, to),
                            TIMEOUT, system.scheduler()).toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                    return r instanceof HostAgent.StepDone d ? new Outcome(d.completed() || d.skipped(), d.outcome()) // as the driver closes it
                            : new Outcome(false, "refused: " + ((HostAgent.StepRefused) r).reason());
                };
                System.out.printf("vmm builds: %s after %d ms%n", "agent up", (System.nanoTime() - t0) / 1_000_000);
                assertEquals(builds.versions(), state.builds(), "the agent reports its builds in its inventory");
                assertTrue(state.builds().contains(self) && state.builds().contains(old.version()), state.toString());
                assertEquals(Map.of("vm0", old.version()), state.vmBuilds(), "the inventory says what each VM runs (fleet plan counts with it)");
                assertEquals(1, state.alreadyOn(old.version()), "a plan to the old build would skip vm0");
                assertEquals(0, state.alreadyOn(self), "a plan to this build would move it");
                assertEquals(0, state.alreadyOn(VmmBuilds.CURRENT), "current moves every VM");

                // already there: a step to the build generation 0 runs ends at once as skipped, nothing launched
                Outcome stay = steps.to(old.version());
                assertTrue(stay.completed(), "a skipped step is not a failure: " + stay);
                assertEquals(HostAgent.StepDone.SKIPPED_PREFIX + old.version(), stay.detail());
                assertEquals(0, port.currentOf("vm0").orElseThrow().generation(), "the VM was not moved");
                assertFalse(Files.exists(vmmDir.resolve("vm0.g1.qmp")), "nothing was launched for the skipped step");

                // upgrade: old -> this build; the source writes its own format, which this build loads
                Outcome up = steps.to(self);
                assertTrue(up.completed(), "upgrade: " + up);
                assertEquals(1, port.currentOf("vm0").orElseThrow().generation());
                assertFalse(commandOf(port).contains(oldMark), "generation 1 runs this build: " + commandOf(port));
                assertEquals("version=" + self + " stream-format=default", buildRecord(vmmDir, 1));
                assertEquals(Map.of("vm0", self), port.vmBuilds(), "generation 1's build record");
                assertTrue(ns.awaitReply(GUEST, Duration.ofSeconds(30)), "the VM answers ping after the upgrade");

                System.out.printf("vmm builds: %s after %d ms%n", "upgraded", (System.nanoTime() - t0) / 1_000_000);
                // this build again, by its version: the build record of generation 1 says it is there already
                Outcome again = steps.to(self);
                assertTrue(again.completed(), again.toString());
                assertEquals(HostAgent.StepDone.SKIPPED_PREFIX + self, again.detail());
                assertEquals(1, port.currentOf("vm0").orElseThrow().generation(), "the VM was not moved");

                // rollback: this build -> old; the source is pinned to the older build's format when it writes an older one
                Outcome down = steps.to(old.version());
                assertTrue(down.completed(), "rollback: " + down);
                assertEquals(2, port.currentOf("vm0").orElseThrow().generation());
                assertTrue(commandOf(port).contains(oldMark), "generation 2 runs the old build: " + commandOf(port));
                int own = dev.livetap.codec.StreamEncoder.FORMAT_VERSION;
                String pinned = old.streamFormat().isPresent() && old.streamFormat().get() < own
                        ? String.valueOf(old.streamFormat().get()) : "default";
                assertEquals("version=" + old.version() + " stream-format=" + pinned, buildRecord(vmmDir, 2),
                        "the source wrote the older build's format");
                assertTrue(ns.awaitReply(GUEST, Duration.ofSeconds(30)), "the VM answers ping after the rollback");

                System.out.printf("vmm builds: %s after %d ms%n", "rolled back", (System.nanoTime() - t0) / 1_000_000);
                // a version the agent lacks: refused before anything starts, recorded as the step's failure
                Outcome missing = steps.to("0.3.0");
                assertFalse(missing.completed());
                assertTrue(missing.detail().contains("this agent has no VMM build 0.3.0"), missing.detail());
                assertEquals(2, port.currentOf("vm0").orElseThrow().generation(), "the VM stays where it was");
                assertFalse(Files.exists(vmmDir.resolve("vm0.g3.qmp")), "nothing was launched for the refused step");
                assertTrue(ns.awaitReply(GUEST, Duration.ofSeconds(30)), "and still answers ping");
                System.out.printf("vmm builds: %s after %d ms%n", "refused", (System.nanoTime() - t0) / 1_000_000);
                assertEquals(1, port.processesOf("vm0").size(), "the VM runs on exactly one VMM process");
            } finally {
                if (node != null) {
                    node.close();
                } else {
                    system.terminate();
                    system.getWhenTerminated().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                }
            }
        } finally {
            executor.shutdownNow();
        }
    }

    /** Submits a one-host plan to {@code version}, waits for it to complete and returns vm0's step. */
    private static Outcome runPlan(FleetNode node, String version) throws Exception {
        assertInstanceOf(UpgradeCoordinator.PlanAccepted.class, ask(node, r -> new UpgradeCoordinator.SubmitPlan(
                new Plan(version, List.of("h"), 1, 0, 300.0), r)));
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        UpgradeCoordinator.Status s;
        do {
            Thread.sleep(100);
            s = assertInstanceOf(UpgradeCoordinator.Status.class, ask(node, UpgradeCoordinator.GetStatus::new));
        } while (!(s.complete() && s.finished().containsKey("vm0")) && System.nanoTime() < deadline);
        assertTrue(s.complete(), "the plan to " + version + " did not complete: " + s);
        UpgradeCoordinator.StepRecord r = s.finished().get("vm0");
        return new Outcome(r.completed(), r.detail());
    }

    private static UpgradeCoordinator.Reply ask(FleetNode node,
            java.util.function.Function<ActorRef<UpgradeCoordinator.Reply>, UpgradeCoordinator.Command> m) throws Exception {
        return AskPattern.<UpgradeCoordinator.Command, UpgradeCoordinator.Reply>ask(node.coordinator(), m::apply, TIMEOUT,
                node.system().scheduler()).toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    /** The command line of the VM's one VMM process. */
    private static String commandOf(VmmDirectoryPort port) throws Exception {
        List<Long> pids = port.processesOf("vm0");
        assertEquals(1, pids.size(), "one VMM process for vm0: " + pids);
        return String.join(" ", ProcessCensus.commandLine(pids.get(0)));
    }

    private static String buildRecord(Path vmmDir, int generation) throws Exception {
        return Files.readString(vmmDir.resolve("vm0.g" + generation + ".build"), StandardCharsets.UTF_8).trim();
    }

    /**
     * This build's VMM behind a launcher of its own ({@code home/bin/livetap}), as another distribution's bin/livetap
     * would start it: with {@code -Dlivetap.home=home}.
     */
    static Path fakeLauncher(Path home) throws Exception {
        Path file = Files.createDirectories(home.resolve("bin")).resolve("livetap");
        StringBuilder s = new StringBuilder("#!/bin/sh\nexec '").append(Path.of(System.getProperty("java.home"), "bin", "java"))
                .append('\'');
        for (String option : ChildLaunch.VMM_JVM_OPTIONS) {
            s.append(" '").append(option).append('\''); // quoted: the compile commands hold '*'
        }
        s.append(' ').append(FAKE_MARK).append(" '-Dlivetap.home=").append(home.toAbsolutePath()).append('\'');
        String jna = System.getProperty("jna.tmpdir");
        if (jna != null) {
            s.append(" '-Djna.tmpdir=").append(jna).append('\'');
        }
        s.append(" -cp '").append(System.getProperty("java.class.path")).append("' ").append(ChildLaunch.VMM_MAIN_CLASS)
                .append(" \"$@\"\n");
        Files.writeString(file, s.toString(), StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwx------"));
        return file;
    }
}
