package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.fleet.agent.VmmDirectoryPort;
import dev.livetap.fleet.cluster.OperatorClient;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.nativeio.testing.ChildJvm;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Separate JVMs on loopback: a coordinator node ({@code livetap fleet node}), a host agent
 * ({@code livetap agent}) whose VMM processes run in a network namespace of this test with real
 * multiqueue TAPs, and {@code livetap fleet start --json}. The plan completes; every VM then runs
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

    @Test
    void aPlanRunFromTheCommandLineMovesEveryVmOfTheAgentsHostToOneNewVmmProcessKeepingItsTapFds() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfm"); // short: QMP socket paths
        Path vmmDir = Files.createDirectories(dir.resolve("h1"));
        List<ChildJvm> jvms = new ArrayList<>();
        long t0 = System.nanoTime();
        try (NetworkNamespace ns = NetworkNamespace.create("fm", List.of(dir))) {
            try {
                int port = freePort();
                String seed = "pekko://livetap-fleet@127.0.0.1:" + port;
                ChildJvm coordinator = ChildJvm.builder(LivetapCommand.class)
                        .args("fleet", "node", "--journal", dir.resolve("journal").toString(), "--port", String.valueOf(port)).start();
                jvms.add(coordinator);
                // generation 0, as a host has it before the agent comes: one detached livetap vmm per VM with a real TAP
                Map<String, Integer> tapsBefore = new TreeMap<>();
                for (int i = 0; i < VMS; i++) {
                    String vm = "vm" + i;
                    VmmProcess p = VmmProcess.start(VmmProcess.Options.of(vmmDir, vm).withPolicy(ChildLaunch.Policy.DETACHED)
                            .withPrefix(ns.wrap(List.of())));
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
                    tapsBefore.put(vm, ProcessCensus.fdKinds(p.pid()).tun());
                }
                assertEquals(Map.of("vm0", QUEUES, "vm1", QUEUES, "vm2", QUEUES), tapsBefore, "each VM holds its TAP queues");
                assertTrue(coordinator.awaitOutput("READY", WAIT), coordinator.describe());
                ChildJvm agent = ChildJvm.builder(LivetapCommand.class).args("agent", "--host", "h1", "--seed-nodes", seed,
                        "--vmm-dir", vmmDir.toString(), "--netns", ns.name(), "--budget", "2").start();
                jvms.add(agent);
                assertTrue(agent.awaitOutput("READY h1 3 VM(s) adopted", WAIT), agent.describe());

                ChildJvm start = ChildJvm.builder(LivetapCommand.class).args("fleet", "start", "--seed-nodes", seed,
                        "--hosts", "h1", "--max-failures", "0", "--json").start();
                jvms.add(start);
                assertEquals(0, start.waitFor(WAIT), start.describe());
                JsonNode accepted = Json.MAPPER.readTree(lastLine(start.stdout()));
                assertTrue(accepted.path("accepted").asBoolean(), start.stdout());

                UpgradeCoordinator.Status status;
                try (OperatorClient client = OperatorClient.join(List.of(seed), Duration.ofSeconds(30))) {
                    long deadline = System.nanoTime() + WAIT.toNanos();
                    do {
                        Thread.sleep(200);
                        status = client.status();
                    } while (!status.complete() && System.nanoTime() < deadline);
                }
                assertTrue(status.complete(), "the plan did not complete: " + status + "\n" + agent.describe());
                assertEquals(0, status.failures(), status.toString());
                assertEquals(List.of("h1"), status.doneHosts());
                assertEquals(VMS, status.finished().size(), status.toString());
                assertTrue(status.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed), status.toString());

                for (int i = 0; i < VMS; i++) {
                    String vm = "vm" + i;
                    List<Long> pids = vmmProcessesOf(vmmDir, vm);
                    assertEquals(1, pids.size(), vm + " must run on exactly one VMM process: " + pids);
                    assertEquals(QUEUES, ProcessCensus.fdKinds(pids.get(0)).tun(), vm + ": its TAP fd count must be unchanged");
                    assertTrue(cmdline(pids.get(0)).contains(vmmDir.resolve(vm + ".g1.qmp").toString()),
                            vm + " must be on generation 1: " + cmdline(pids.get(0)));
                    try (QmpClient c = QmpClient.connect(vmmDir.resolve(vm + ".g1.qmp"), WAIT)) {
                        c.negotiate();
                        assertEquals("running", c.execute("query-status", null).path("status").asText());
                    }
                }
                System.out.printf("fleet multi-JVM: %d VMs upgraded, test wall %d ms%n", VMS, (System.nanoTime() - t0) / 1_000_000);
            } finally {
                for (ChildJvm j : jvms) {
                    j.close();
                }
                quitAll(vmmDir);
            }
        } finally {
            deleteTree(dir);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1];
    }

    /** Live processes whose command line names one of {@code vm}'s QMP sockets (the process table, not the agent). */
    static List<Long> vmmProcessesOf(Path vmmDir, String vm) throws IOException {
        String zero = vmmDir.resolve(vm + ".qmp").toString();
        String later = vmmDir.resolve(vm + ".g").toString();
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                String cmd = cmdline(Long.parseLong(name));
                if (cmd.contains(" vmm ") && (cmd.contains(zero) || cmd.contains(later)) && !cmd.startsWith("ip ")) {
                    pids.add(Long.parseLong(name));
                }
            }
        }
        return pids;
    }

    static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", String.valueOf(pid), "cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
        } catch (IOException e) {
            return ""; // ended meanwhile
        }
    }

    private static void quitAll(Path vmmDir) throws IOException {
        if (!Files.isDirectory(vmmDir)) {
            return;
        }
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

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
