package dev.livetap.actors.bench;

import com.typesafe.config.ConfigFactory;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.tap.TapBackendFactory;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The NIC's switch-over messages: one op is a {@code Stop} of a 4-queue NIC (in-memory TAP queues)
 * and its {@code Stopped}, then a {@code Start} and its {@code Started}, driven by an actor so that
 * only actor hand-offs are timed (the stop → resume window of a switch-over runs both on the
 * critical path). The same source compiles against the tree before issue 15 (9f11f9b), with the
 * message constructors that tree has: docs/benchmarks.md, "Switch-over hot path".
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class NicSwitchoverBenchmark {
    static final int ROUNDS = 200;
    static final Duration WAIT = Duration.ofSeconds(10);

    @Param({"4"})
    public int queues;

    /** {@code one}: every actor on one thread (the handlers' CPU alone); {@code pool}: the engine's pool (hand-offs too). */
    @Param({"one", "pool"})
    public String threads;

    private ActorTestKit kit;
    private ActorRef<Object> driver;

    /** Runs {@code rounds} stop/start rounds against {@code nic} and completes {@code done}. */
    private record Run(int rounds, CompletableFuture<Void> done) {
    }

    @Setup
    public void setUp() {
        kit = threads.equals("one")
                ? ActorTestKit.create("nic-bench", ConfigFactory.parseString(
                        "livetap.dispatchers.default.fork-join-executor { parallelism-min = 1, parallelism-max = 1 }")
                        .withFallback(ConfigFactory.load()))
                : ActorTestKit.create("nic-bench");
        InMemoryOs os = new InMemoryOs();
        TapNetdevOptions netdev = TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0", "ifname", "tap0",
                "queues", queues));
        TapBackendFactory f = new TapBackendFactory(netdev, os, null, List.of());
        TestProbe<VirtioNetActor.RealizeResult> p = kit.createTestProbe();
        kit.spawn(VirtioNetActor.create(new VirtioNetActor.NicConfig("nic0", Frames.GUEST_MAC, Frames.GUEST_IP,
                RunState.RUNNING, WAIT, VmActor.DISPATCHER), f, os.fds(), p.getRef()));
        ActorRef<VirtioNetActor.Command> nic = ((VirtioNetActor.Realized) p.receiveMessage(WAIT)).nic();
        driver = kit.spawn(driver(nic), "driver", VmActor.DISPATCHER);
    }

    private static Behavior<Object> driver(ActorRef<VirtioNetActor.Command> nic) {
        return Behaviors.setup(ctx -> {
            Run[] run = new Run[1];
            int[] left = new int[1];
            ActorRef<Object> self = ctx.getSelf();
            return Behaviors.receiveMessage(m -> {
                if (m instanceof Run r) {
                    run[0] = r;
                    left[0] = r.rounds();
                    nic.tell(stop(self.narrow()));
                } else if (m instanceof VirtioNetActor.Stopped) {
                    nic.tell(start(self.narrow()));
                } else if (m instanceof VirtioNetActor.Started) {
                    if (--left[0] == 0) {
                        run[0].done().complete(null);
                    } else {
                        nic.tell(stop(self.narrow()));
                    }
                }
                return Behaviors.same();
            });
        });
    }

    // The messages as a migration sends them (with its id, as the roles do).
    private static VirtioNetActor.Stop stop(ActorRef<VirtioNetActor.Stopped> replyTo) {
        return new VirtioNetActor.Stop(0, replyTo, "bench-migration");
    }

    private static VirtioNetActor.Start start(ActorRef<VirtioNetActor.Started> replyTo) {
        return new VirtioNetActor.Start(0, replyTo, "bench-migration");
    }

    @TearDown
    public void tearDown() {
        kit.shutdownTestKit();
    }

    /**
     * CPU time per op without JMH (less sensitive to other load than wall time): {@code threads=one},
     * 20 s of warm-up, then blocks of 10,000 ops; prints the process's CPU µs per op of each block and
     * their median. Args: blocks (default 15).
     */
    public static void main(String[] args) throws Exception {
        int blocks = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        NicSwitchoverBenchmark b = new NicSwitchoverBenchmark();
        b.queues = 4;
        b.threads = "one";
        b.setUp();
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long warmEnd = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < warmEnd) {
            b.stopThenStart();
        }
        double[] perOp = new double[blocks];
        for (int i = 0; i < blocks; i++) {
            long cpu0 = os.getProcessCpuTime();
            for (int j = 0; j < 10_000 / ROUNDS; j++) {
                b.stopThenStart();
            }
            perOp[i] = (os.getProcessCpuTime() - cpu0) / 1000.0 / 10_000;
        }
        b.tearDown();
        double[] sorted = perOp.clone();
        java.util.Arrays.sort(sorted);
        System.out.printf("cpu_us_per_op blocks=%s median=%.1f%n", java.util.Arrays.toString(perOp), sorted[blocks / 2]);
    }

    @Benchmark
    @OperationsPerInvocation(ROUNDS)
    public void stopThenStart() throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        driver.tell(new Run(ROUNDS, done));
        done.get(30, TimeUnit.SECONDS);
    }
}
