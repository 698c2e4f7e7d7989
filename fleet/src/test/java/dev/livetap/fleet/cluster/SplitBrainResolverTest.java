package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Split Brain Resolver (keep-majority over the coordinator role) with three coordinator-capable nodes: this
 * JVM (which also runs a real {@link HostAgent} and Pekko Management) and two node JVMs, one of which acts as a
 * coordinator of epoch 1 ({@link StaleCoordinatorNode}). That JVM is SIGSTOPped past the failure detector; the
 * test, standing in for the coordinator's next incarnation, has the agent accept epoch 2; the majority (2 of 3)
 * downs the stopped node (no one else downs anything here); after SIGCONT the node learns it is out and ends, and
 * none of the epoch-1 steps it sends after it was resumed is performed (dropped by the quarantine of a removed
 * member, or refused by the agent's fence). 57-111 s on the shared 2-core machine at load 16-20: {@code long}; the CI
 * variant is {@link FleetTransportTest} (the resolver's configuration on a started node).
 */
@Tag("long")
class SplitBrainResolverTest {
    static final String HOST = "h1";
    private static final Duration START = Duration.ofSeconds(120);
    /** Shortened for the test (the product keeps Pekko's 20 s); the failure detector keeps its defaults. */
    private static final String STABLE_AFTER = "2s";

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void aStoppedNodeIsDownedByTheMajorityAndCannotActAfterItResumes() throws Exception {
        Set<String> performed = ConcurrentHashMap.newKeySet();
        ExecutorService executor = Executors.newFixedThreadPool(2, r -> new Thread(r, "sbr-test-migration"));
        List<Child> children = new ArrayList<>();
        try (FleetNode a = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:never-opened",
                        List.of(FleetNode.COORDINATOR_ROLE, FleetNode.AGENT_ROLE), FleetTls.OFF, FleetConfig.MANAGEMENT_ANY_PORT),
                ConfigFactory.parseString("pekko.cluster.split-brain-resolver.stable-after = " + STABLE_AFTER), START)) {
            List<String> downed = new CopyOnWriteArrayList<>();
            ActorRef<ClusterEvent.MemberDowned> downs = a.system().systemActorOf(Behaviors.receive(ClusterEvent.MemberDowned.class)
                    .onMessage(ClusterEvent.MemberDowned.class, d -> {
                        downed.add(d.member().address().toString());
                        return Behaviors.same();
                    }).build(), "downs", Props.empty());
            Cluster.get(a.system()).subscriptions().tell(Subscribe.create(downs, ClusterEvent.MemberDowned.class));
            a.system().systemActorOf(HostAgent.create(HOST, StepLedger.open(dir.resolve("agent.ledger")),
                    new FreezeBudget(FreezeBudget.Settings.fixed(2)), Duration.ofSeconds(10), (vm, id) -> {
                        performed.add(id);
                        return new HostAgent.StepDone(vm, id, "completed", 0.1);
                    }, executor), HostAgent.ACTOR_NAME_PREFIX + HOST, Props.empty());
            String seed = Cluster.get(a.system()).selfMember().address().toString();
            Child b = Child.start(seed, false);
            children.add(b);
            Child stale = Child.start(seed, true);
            children.add(stale);
            String bAddress = b.awaitLine("READY ", START).substring(6);
            String staleAddress = stale.awaitLine("READY ", START).substring(6);
            URI management = a.management().orElseThrow();
            await(() -> Map.of(seed, "Up", bAddress, "Up", staleAddress, "Up").equals(members(management)), Duration.ofSeconds(60),
                    "GET /cluster/members lists the three nodes Up");

            await(() -> performed.stream().anyMatch(id -> id.startsWith("stale-")), Duration.ofSeconds(30),
                    "the epoch-1 node's steps are performed while it is a member");
            signal("STOP", stale.process);
            long stoppedAt = System.nanoTime();
            // the coordinator's next incarnation (epoch 2) reaches the agent first: from now on epoch 1 is fenced
            HostAgent.StepReply fresh = AskPattern.<HostAgent.Command, HostAgent.StepReply>ask(
                    agentRef(a), r -> new HostAgent.PerformStep(HOST, "vm-fresh", "fresh-1", 2, r), Duration.ofSeconds(10),
                    a.system().scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
            assertInstanceOf(HostAgent.StepDone.class, fresh, "epoch 2 accepted: " + fresh);

            await(() -> Map.of(seed, "Up", bAddress, "Up").equals(members(management)), Duration.ofSeconds(60),
                    "the stopped node is downed and removed; the majority stays Up");
            System.err.printf("downed and removed %.1f s after SIGSTOP%n", (System.nanoTime() - stoppedAt) / 1e9);
            assertEquals(List.of(staleAddress), downed, "the Split Brain Resolver downed exactly the stopped node");
            Set<String> staleBefore = performed.stream().filter(id -> id.startsWith("stale-")).collect(Collectors.toSet());
            int linesBefore = stale.lines.size();

            signal("CONT", stale.process);
            stale.awaitLine("TERMINATED", Duration.ofSeconds(60));
            assertTrue(stale.process.waitFor(30, TimeUnit.SECONDS), "the downed node's JVM ends");
            Thread.sleep(500); // anything it sent in its last moments has had time to arrive
            assertEquals(staleBefore, performed.stream().filter(id -> id.startsWith("stale-")).collect(Collectors.toSet()),
                    "no epoch-1 step is performed after the node was downed");
            List<String> after = stale.lines.subList(linesBefore, stale.lines.size()).stream()
                    .filter(l -> l.startsWith("REPLY ")).toList();
            System.err.printf("after SIGCONT the stale node got %d answer(s): %s; its last lines: %s%n", after.size(), after,
                    stale.lines.subList(Math.max(linesBefore, stale.lines.size() - 5), stale.lines.size()));
            // answers to steps performed before the stop may reach it only now; any step it sent later is refused
            List<String> toLaterSteps = after.stream().filter(l -> !staleBefore.contains(l.split(" ")[1])).toList();
            assertTrue(toLaterSteps.stream().allMatch(l -> l.contains("StepRefused fenced:")),
                    "every answer to a step the node sent after it was stopped is the fence's refusal: " + toLaterSteps);
            assertEquals(Map.of(seed, "Up", bAddress, "Up"), members(management), "the majority is untouched");
        } finally {
            for (Child c : children) {
                c.process.destroyForcibly(); // SIGKILL ends a stopped process too
                c.process.waitFor(30, TimeUnit.SECONDS);
            }
            executor.shutdownNow();
        }
    }

    private static ActorRef<HostAgent.Command> agentRef(FleetNode a) throws Exception {
        var listing = AskPattern.<org.apache.pekko.actor.typed.receptionist.Receptionist.Command,
                org.apache.pekko.actor.typed.receptionist.Receptionist.Listing>ask(a.system().receptionist(),
                r -> org.apache.pekko.actor.typed.receptionist.Receptionist.find(HostAgent.KEY, r), Duration.ofSeconds(10),
                a.system().scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
        return listing.getServiceInstances(HostAgent.KEY).stream()
                .filter(r -> r.path().address().hasLocalScope()).findFirst().orElseThrow();
    }

    private static Map<String, String> members(URI management) {
        try {
            return FleetTlsTest.members(management);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void await(BooleanSupplier condition, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + limit.toSeconds() + " s: " + what);
            }
            Thread.sleep(100);
        }
    }

    private static void signal(String signal, Process p) throws IOException, InterruptedException {
        Process k = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start();
        assertTrue(k.waitFor(10, TimeUnit.SECONDS) && k.exitValue() == 0, "kill -" + signal);
    }

    /** A {@link StaleCoordinatorNode} JVM and the lines it printed. */
    private record Child(Process process, List<String> lines) {
        static Child start(String seed, boolean act) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dpekko.cluster.split-brain-resolver.stable-after=" + STABLE_AFTER,
                    "-cp", System.getProperty("java.class.path"), StaleCoordinatorNode.class.getName(), seed));
            if (act) {
                cmd.add("--act");
            }
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
            List<String> lines = new CopyOnWriteArrayList<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                    for (String l = r.readLine(); l != null; l = r.readLine()) {
                        lines.add(l);
                    }
                } catch (IOException e) {
                    lines.add("READ FAILED " + e);
                }
            }, "sbr-child-" + p.pid());
            reader.setDaemon(true);
            reader.start();
            return new Child(p, lines);
        }

        String awaitLine(String prefix, Duration limit) throws InterruptedException {
            long deadline = System.nanoTime() + limit.toNanos();
            while (System.nanoTime() < deadline) {
                for (String l : lines) {
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                }
                if (!process.isAlive() && lines.stream().noneMatch(l -> l.startsWith(prefix))) {
                    throw new AssertionError("the child ended (exit " + process.exitValue() + ") before '" + prefix + "': " + lines);
                }
                Thread.sleep(50);
            }
            throw new AssertionError("no '" + prefix + "' within " + limit.toSeconds() + " s: " + lines);
        }
    }
}
