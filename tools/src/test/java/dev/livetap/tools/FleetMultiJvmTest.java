package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.fleet.agent.VmmDirectoryPort;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.fleet.cluster.OperatorClient;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Separate JVMs on loopback: a coordinator node ({@code livetap fleet node}), a host agent
 * ({@code livetap agent}) whose VMM processes run in a network namespace of this test with real
 * multiqueue TAPs, {@code livetap fleet start|pause|status|resume}. The plan, paused from the command line
 * before the agent came, starts nothing until resumed, then completes; every VM then runs
 * on exactly one VMM process (the new generation), which holds the VM's two TAP queue fds, as the
 * old one did.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FleetMultiJvmTest {
    private static final int VMS = 3;
    private static final int QUEUES = 2;
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** A coordinator JVM, generation 0 of {@code vms} VMs in a namespace, and an agent JVM on {@code agentPort}. */
    private static final class Fleet {
        final Path vmmDir;
        final NetworkNamespace ns;
        final List<ChildJvm> jvms;
        final String seed;
        final int agentPort = freePort();

        Fleet(Path dir, NetworkNamespace ns, List<ChildJvm> jvms, int vms) throws Exception {
            this.vmmDir = Files.createDirectories(dir.resolve("h1"));
            this.ns = ns;
            this.jvms = jvms;
            int port = freePort();
            seed = "pekko://livetap-fleet@127.0.0.1:" + port;
            ChildJvm coordinator = cli()
                    .args("fleet", "node", "--no-tls", "--journal", dir.resolve("journal").toString(), "--port", String.valueOf(port)).start();
            jvms.add(coordinator);
            // generation 0, as a host has it before the agent comes: one detached livetap vmm per VM with a real TAP,
            // started side by side and without the warm-up (what is timed here is not their first migrations)
            List<VmmProcess> started = new ArrayList<>();
            for (int i = 0; i < vms; i++) {
                started.add(VmmProcess.start(VmmProcess.Options.of(vmmDir, "vm" + i).withPolicy(ChildLaunch.Policy.DETACHED)
                        .withPrefix(ns.wrap(List.of())).withArgs(List.of("--no-warm-up"))));
            }
            for (int i = 0; i < vms; i++) {
                String vm = "vm" + i;
                VmmProcess p = started.get(i);
                p.awaitReady(WAIT);
                String mac = String.format("52:54:00:18:00:%02x", i);
                try (QmpClient c = QmpClient.connect(p.qmpSocket(), WAIT)) {
                    c.negotiate();
                    c.execute("netdev_add", JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0")
                            .put("ifname", "lt" + i).put("queues", QUEUES));
                    c.execute("device_add", JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci")
                            .put("id", "nic0").put("netdev", "net0").put("mq", true).put("mac", mac));
                }
                VmmDirectoryPort.describe(vmmDir, vm, "lt" + i, QUEUES, mac);
                assertEquals(QUEUES, ProcessCensus.fdKinds(p.pid()).tun(), vm + " holds its TAP queues");
            }
            assertTrue(coordinator.awaitOutput("READY", WAIT), coordinator.describe());
        }

        ChildJvm agent(int budget, int vms) {
            ChildJvm agent = cli().args("agent", "--host", "h1", "--no-tls", "--seed-nodes", seed,
                    "--vmm-dir", vmmDir.toString(), "--netns", ns.name(), "--budget", String.valueOf(budget),
                    "--port", String.valueOf(agentPort)).start();
            jvms.add(agent);
            assertTrue(agent.awaitOutput("READY h1 " + vms + " VM(s) adopted", WAIT), agent.describe());
            return agent;
        }

        void startPlan(int maxFailures) throws IOException {
            ChildJvm start = client().args("fleet", "start", "--no-tls", "--seed-nodes", seed,
                    "--hosts", "h1", "--max-failures", String.valueOf(maxFailures), "--json").start();
            jvms.add(start);
            assertEquals(0, start.waitFor(WAIT), start.describe());
            JsonNode accepted = Json.MAPPER.readTree(lastLine(start.stdout()));
            assertTrue(accepted.path("accepted").asBoolean(), start.stdout());
        }

        /** Runs {@code livetap ARGS --seed-nodes SEED --json}, expects exit {@code exit}, returns its JSON line. */
        JsonNode cliJson(int exit, String... args) throws IOException {
            List<String> all = new ArrayList<>(List.of(args));
            all.addAll(List.of("--no-tls", "--seed-nodes", seed, "--json"));
            ChildJvm c = client().args(all.toArray(String[]::new)).start();
            jvms.add(c);
            assertEquals(exit, c.waitFor(WAIT), c.describe());
            return Json.MAPPER.readTree(lastLine(c.stdout()));
        }

        /**
         * Every VM runs on exactly one live VMM process (the process table), which holds its TAP queue
         * fds and runs it; a VM whose step completed is on generation 1, one whose step failed on 0.
         */
        void checkEveryVm(int vms, UpgradeCoordinator.Status status) throws Exception {
            for (int i = 0; i < vms; i++) {
                String vm = "vm" + i;
                List<Long> pids = vmmProcessesOf(vmmDir, vm);
                assertEquals(1, pids.size(), vm + " must run on exactly one VMM process: "
                        + pids.stream().map(pid -> pid + ": " + cmdline(pid).replaceAll(".* vmm ", "vmm ")).toList()
                        + "; its step: " + status.finished().get(vm));
                assertEquals(QUEUES, ProcessCensus.fdKinds(pids.get(0)).tun(), vm + ": its TAP fd count must be unchanged");
                UpgradeCoordinator.StepRecord step = status.finished().get(vm);
                Path qmp = vmmDir.resolve(step != null && step.completed() ? vm + ".g1.qmp" : vm + ".qmp");
                assertTrue(cmdline(pids.get(0)).contains(qmp.toString()),
                        vm + " (step " + step + ") must run on " + qmp.getFileName() + ": " + cmdline(pids.get(0)));
                try (QmpClient c = QmpClient.connect(qmp, WAIT)) {
                    c.negotiate();
                    assertEquals("running", c.execute("query-status", null).path("status").asText());
                }
            }
        }
    }

    private static UpgradeCoordinator.Status awaitComplete(OperatorClient client, ChildJvm agent) throws Exception {
        UpgradeCoordinator.Status status;
        long deadline = System.nanoTime() + WAIT.toNanos();
        do {
            Thread.sleep(200);
            status = client.status();
        } while (!status.complete() && System.nanoTime() < deadline);
        assertTrue(status.complete(), "the plan did not complete: " + status + "\n" + agent.describe());
        return status;
    }

    @Test
    void aPlanRunFromTheCommandLineMovesEveryVmOfTheAgentsHostToOneNewVmmProcessKeepingItsTapFds() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfm"); // short: QMP socket paths
        List<ChildJvm> jvms = new ArrayList<>();
        long t0 = System.nanoTime();
        Fleet fleet = null;
        try (NetworkNamespace ns = NetworkNamespace.create("fm", List.of(dir))) {
            try {
                fleet = new Fleet(dir, ns, jvms, VMS);
                // previewed first: the host has no agent yet, so the preview says not ready (exit 1) and why;
                // the plan it saved is what fleet start submits
                Path planFile = dir.resolve("plan.json");
                JsonNode preview = fleet.cliJson(1, "fleet", "plan", "--hosts", "h1", "--out", planFile.toString());
                assertEquals(false, preview.path("ready").asBoolean(), preview.toString());
                assertTrue(preview.path("problems").toString().contains("host h1: no agent answered"), preview.toString());
                assertEquals("none", preview.path("coordinator_state").asText(), preview.toString());
                // the plan first, paused from the command line before the host's agent exists: nothing may start
                JsonNode accepted = fleet.cliJson(0, "fleet", "start", "--plan", planFile.toString());
                assertTrue(accepted.path("accepted").asBoolean(), accepted.toString());
                JsonNode paused = fleet.cliJson(0, "fleet", "pause");
                assertEquals("paused", paused.path("state").asText(), paused.toString());
                ChildJvm agent = fleet.agent(2, VMS);
                UpgradeCoordinator.Status status;
                try (OperatorClient client = OperatorClient.join(List.of(fleet.seed), FleetTls.OFF, Duration.ofSeconds(30))) {
                    Thread.sleep(2000);
                    UpgradeCoordinator.Status held = client.status();
                    assertEquals("paused", held.state(), held.toString());
                    assertTrue(held.open().isEmpty() && held.finished().isEmpty(), "no step starts while paused: " + held);
                    ChildJvm table = client().args("fleet", "status", "--no-tls", "--seed-nodes", fleet.seed).start();
                    jvms.add(table);
                    assertEquals(0, table.waitFor(WAIT), table.describe());
                    assertTrue(table.stdout().contains("): paused") && table.stdout().matches("(?s).*HOST\\s+STATE\\s+DONE.*"),
                            table.stdout());
                    JsonNode resumed = fleet.cliJson(0, "fleet", "resume");
                    assertEquals("running", resumed.path("state").asText(), resumed.toString());
                    status = awaitComplete(client, agent);
                }
                assertEquals(0, status.failures(), status.toString());
                assertEquals(List.of("h1"), status.doneHosts());
                assertEquals(VMS, status.finished().size(), status.toString());
                assertTrue(status.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed), status.toString());
                fleet.checkEveryVm(VMS, status);
                ChildJvm statusCli = client().args("fleet", "status", "--no-tls", "--seed-nodes", fleet.seed,
                        "--json").start();
                jvms.add(statusCli);
                assertEquals(0, statusCli.waitFor(WAIT), statusCli.describe());
                JsonNode json = Json.MAPPER.readTree(lastLine(statusCli.stdout()));
                assertTrue(json.path("complete").asBoolean(), json.toString());
                assertEquals(VMS, json.path("finished").size(), json.toString());
                assertEquals("h1", json.path("done_hosts").path(0).asText(), json.toString());
                assertTrue(json.path("finished").path("vm0").path("completed").asBoolean(), json.toString());
                assertEquals("complete", json.path("state").asText(), json.toString());
                assertEquals(VMS, json.path("progress").path("total").path("done").asInt(), json.toString());
                assertEquals(0, json.path("progress").path("total").path("left").asInt(), json.toString());
                System.out.printf("fleet multi-JVM: %d VMs upgraded, test wall %d ms%n", VMS, (System.nanoTime() - t0) / 1_000_000);
            } finally {
                for (ChildJvm j : jvms) {
                    j.close();
                }
                if (fleet != null) {
                    quitAll(fleet.vmmDir);
                }
            }
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * SIGKILL of the agent once the plan's first step has finished, then the agent restarted on the
     * same address: it re-adopts the VMMs (a VM's leftover process of the interrupted step is made
     * to quit), reconciles the interrupted step from the VMMs, the coordinator resends its open steps
     * with the same ids, and the plan completes. The test JVM's operator member stays joined so that
     * the Split Brain Resolver keeps the coordinator's side (2 of 3) while the agent is gone.
     */
    @Test
    // seven JVMs start in this test: 126 s at load 23 and past 180 s at load 30-47 on the shared 2-core machine
    @Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anAgentKilledMidPlanAndRestartedReadoptsItsVmmsAndThePlanCompletes() throws Exception {
        int vms = 4;
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfk");
        List<ChildJvm> jvms = new ArrayList<>();
        long t0 = System.nanoTime();
        Fleet fleet = null;
        try (NetworkNamespace ns = NetworkNamespace.create("fk", List.of(dir))) {
            try {
                fleet = new Fleet(dir, ns, jvms, vms);
                ChildJvm agent = fleet.agent(1, vms);
                try (OperatorClient client = OperatorClient.join(List.of(fleet.seed), FleetTls.OFF, Duration.ofSeconds(30))) {
                    fleet.startPlan(vms);
                    long deadline = System.nanoTime() + WAIT.toNanos();
                    UpgradeCoordinator.Status mid;
                    do {
                        Thread.sleep(50);
                        mid = client.status();
                    } while (mid.finished().isEmpty() && System.nanoTime() < deadline);
                    assertTrue(!mid.finished().isEmpty() && !mid.complete(), "no mid-plan moment: " + mid);
                    agent.close(); // SIGKILL
                    ChildJvm again = fleet.agent(1, vms);
                    UpgradeCoordinator.Status status = awaitComplete(client, again);
                    assertEquals(vms, status.finished().size(), status.toString());
                    // a step finished before the kill stays completed; one in flight at the kill is reconciled from the
                    // VMMs (completed if its VM runs on the new generation, else "failed: interrupted"); none is lost.
                    // How many were in flight depends on how fast the new VMMs started, so only these outcomes count.
                    for (var before : mid.finished().entrySet()) {
                        assertEquals(before.getValue().completed(), status.finished().get(before.getKey()).completed(),
                                "a step finished before the kill keeps its outcome: " + before + " / " + status);
                    }
                    assertTrue(status.finished().values().stream().anyMatch(UpgradeCoordinator.StepRecord::completed),
                            "a step completed: " + status);
                    assertTrue(status.finished().values().stream().allMatch(r -> r.completed()
                                    || r.detail().startsWith("failed: interrupted; the VM runs on generation 0")),
                            "every step completed or was interrupted by the kill, with the VM on its old VMM: " + status);
                    fleet.checkEveryVm(vms, status);
                    System.out.printf("fleet multi-JVM, agent SIGKILLed after %d step(s): %s; test wall %d ms%n",
                            mid.finished().size(), status.finished(), (System.nanoTime() - t0) / 1_000_000);
                }
            } finally {
                for (ChildJvm j : jvms) {
                    j.close();
                }
                if (fleet != null) {
                    quitAll(fleet.vmmDir);
                }
            }
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * The host-down policy across processes (not in CI: about 2-3 minutes; tagged {@code long}, run it
     * with {@code -Dlivetap.test.excludedGroups=none}, docs/fleet.md): the agent is SIGKILLed mid-plan and stays dead
     * past the plan's host-down limit. Its node is found unreachable and downed, its agent leaves the
     * Receptionist's listing, its open steps become unknown, the host is given up (one failure) and
     * the plan completes without it; then the agent is restarted: it re-adopts its VMMs, and exactly
     * the unknown steps are settled under their ids (no new step of the given-up host). Every VM then
     * runs on exactly one VMM process, on the generation its journaled step says.
     */
    @Test
    @org.junit.jupiter.api.Tag("long")
    @Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anAgentDeadPastTheHostDownLimitIsGivenUpAndItsUnknownStepsAreSettledWhenItReturns() throws Exception {
        int vms = 4;
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfd");
        List<ChildJvm> jvms = new ArrayList<>();
        long t0 = System.nanoTime();
        Fleet fleet = null;
        try (NetworkNamespace ns = NetworkNamespace.create("fd", List.of(dir))) {
            try {
                fleet = new Fleet(dir, ns, jvms, vms);
                ChildJvm agent = fleet.agent(1, vms);
                try (OperatorClient client = OperatorClient.join(List.of(fleet.seed), FleetTls.OFF, Duration.ofSeconds(30))) {
                    ChildJvm start = client().args("fleet", "start", "--no-tls", "--seed-nodes", fleet.seed, "--hosts", "h1",
                            "--max-failures", "5", "--host-down-limit-s", "20", "--json").start();
                    jvms.add(start);
                    assertEquals(0, start.waitFor(WAIT), start.describe());
                    UpgradeCoordinator.Status mid = awaitStatus(client, s -> !s.finished().isEmpty(), "a first step finished");
                    assertTrue(!mid.complete(), "no mid-plan moment: " + mid);
                    agent.close(); // SIGKILL, not restarted before the limit
                    long killed = System.nanoTime();
                    UpgradeCoordinator.Status lost = awaitStatus(client, s -> s.unreachableHosts().contains("h1")
                            || s.givenUpHosts().contains("h1"), "h1 lost");
                    UpgradeCoordinator.Status given = awaitStatus(client, UpgradeCoordinator.Status::complete, "the plan ends without h1");
                    long givenUpMs = (System.nanoTime() - killed) / 1_000_000;
                    assertEquals(List.of("h1"), given.givenUpHosts(), given.toString());
                    assertEquals("complete", given.state(), given.toString());
                    Map<String, String> unknown = Map.copyOf(given.open());
                    assertEquals(unknown.size(), given.progress().hosts().get("h1").unknown(), given.progress().toString());
                    ChildJvm again = fleet.agent(1, vms);
                    UpgradeCoordinator.Status settled = awaitStatus(client, s -> s.open().isEmpty(), "the unknown steps settled");
                    unknown.forEach((vm, id) -> assertEquals(id, settled.finished().get(vm).migrationId(), vm + ": settled under its id"));
                    Thread.sleep(2000);
                    UpgradeCoordinator.Status end = client.status();
                    assertEquals(mid.finished().size() + unknown.size(), end.finished().size(),
                            "no new step of the given-up host: " + end);
                    fleet.checkEveryVm(vms, end);
                    System.out.printf("fleet multi-JVM, agent dead past the limit: lost with %d unknown step(s) (%s), given up %d ms "
                            + "after the kill; settled %s; test wall %d ms%n", lost.open().size(), lost.state(), givenUpMs,
                            end.finished(), (System.nanoTime() - t0) / 1_000_000);
                    assertTrue(again.isAlive(), again.describe());
                }
            } finally {
                for (ChildJvm j : jvms) {
                    j.close();
                }
                if (fleet != null) {
                    quitAll(fleet.vmmDir);
                }
            }
        } finally {
            deleteTree(dir);
        }
    }

    private static UpgradeCoordinator.Status awaitStatus(OperatorClient client,
            java.util.function.Predicate<UpgradeCoordinator.Status> condition, String what) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
        UpgradeCoordinator.Status s;
        do {
            Thread.sleep(200);
            s = client.status();
        } while (!condition.test(s) && System.nanoTime() < deadline);
        assertTrue(condition.test(s), what + ": " + s);
        return s;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * A `livetap` command as it runs for a user: with the CLI's own logging configuration (stderr),
     * not the test logging configuration testbed's test-jar brings onto this class path (stdout).
     */
    private static ChildJvm.Builder cli() {
        return ChildJvm.builder(LivetapCommand.class).jvmOption("-Dlogback.configurationFile=logback.xml");
    }

    /** A short-lived operator command ({@code fleet plan|start|status|pause|resume|abort}) with bin/livetap's JVM options for it. */
    private static ChildJvm.Builder client() {
        return cli().jvmOption("-XX:TieredStopAtLevel=1").jvmOption("-XX:+UseSerialGC");
    }

    private static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1];
    }

    /** Live processes whose command line names one of {@code vm}'s QMP sockets (the process table, not the agent). */
    static List<Long> vmmProcessesOf(Path vmmDir, String vm) {
        String zero = vmmDir.resolve(vm + ".qmp").toString();
        String later = vmmDir.resolve(vm + ".g").toString();
        return ProcessCensus.processesWhose(args -> {
            String cmd = String.join(" ", args);
            return cmd.contains(" vmm ") && (cmd.contains(zero) || cmd.contains(later)) && !cmd.startsWith("ip ");
        });
    }

    static String cmdline(long pid) {
        return String.join(" ", ProcessCensus.commandLine(pid)); // empty: ended meanwhile
    }

    /**
     * Ends every VMM process of the test's host: {@code quit} over QMP, then SIGKILL for any process the
     * process table still shows with a socket of this directory (the VMMs are detached: nothing else
     * ends them). Runs with the interrupt flag cleared, since a test's timeout interrupts the thread
     * that runs this clean-up.
     */
    private static void quitAll(Path vmmDir) throws IOException {
        boolean interrupted = Thread.interrupted();
        try {
            if (Files.isDirectory(vmmDir)) {
                try (Stream<Path> files = Files.list(vmmDir)) {
                    for (Path q : files.filter(f -> f.getFileName().toString().endsWith(".qmp")).toList()) {
                        try (QmpClient c = QmpClient.connect(q, Duration.ofSeconds(2))) {
                            c.negotiate();
                            c.execute("quit", null);
                        } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException gone) {
                            // already gone
                        }
                    }
                }
            }
            String mine = vmmDir + "/";
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            List<ProcessHandle> left;
            do {
                left = ProcessCensus.processesWhose(args -> {
                    String cmd = String.join(" ", args);
                    return cmd.contains(" vmm ") && cmd.contains(mine) && !cmd.startsWith("ip ");
                }).stream().flatMap(pid -> ProcessHandle.of(pid).stream()).toList();
                if (!left.isEmpty()) {
                    sleepQuietly(200);
                }
            } while (!left.isEmpty() && System.nanoTime() < deadline);
            left.forEach(ProcessHandle::destroyForcibly);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
