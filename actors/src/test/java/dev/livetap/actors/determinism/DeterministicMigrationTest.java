package dev.livetap.actors.determinism;

import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.options.MachineType;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.testkit.ExplicitlyTriggeredScheduler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import scala.concurrent.duration.FiniteDuration;

/**
 * The determinism spike (design decision 4): every dispatcher (Pekko's default, internal and
 * blocking-I/O ones, livetap's default/stream/io) is bound to one FIFO executor driven by the test
 * thread, timers run on pekko-testkit's ExplicitlyTriggeredScheduler, the OS is the in-memory one
 * and its reactors step in a fixed interleaving. A whole 4-queue migration then runs twice and
 * must deliver the very same messages in the very same order.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DeterministicMigrationTest {
    static final String FIFO = "\"" + FifoExecutorConfigurator.class.getName() + "\"";
    static final Config CONFIG = ConfigFactory.parseString(String.join("\n",
            "pekko.loggers = [\"org.apache.pekko.event.Logging$StandardOutLogger\"]",
            "pekko.use-slf4j = off",
            "pekko.loglevel = WARNING",
            "pekko.stdout-loglevel = WARNING",
            "pekko.log-dead-letters = off",
            "pekko.scheduler.implementation = \"org.apache.pekko.testkit.ExplicitlyTriggeredScheduler\"",
            "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off",
            "pekko.actor.default-dispatcher.executor = " + FIFO,
            "pekko.actor.internal-dispatcher.executor = " + FIFO,
            "pekko.actor.default-blocking-io-dispatcher.executor = " + FIFO,
            "pekko.stream.materializer.blocking-io-dispatcher = pekko.actor.default-blocking-io-dispatcher",
            "livetap.dispatchers.default.executor = " + FIFO,
            "livetap.dispatchers.stream.executor = " + FIFO,
            "livetap.dispatchers.io.executor = " + FIFO)).withFallback(ConfigFactory.load());
    static final long MAX_STEPS = 2_000_000;

    /** What one run produced. */
    record Run(List<String> trace, List<Integer> answered, long steps, int fdsLeft, java.util.Set<String> threads) {
    }

    private final List<List<String>> execLogs = new ArrayList<>();

    @Test
    void aMigrationRunTwiceDeliversTheSameMessagesInTheSameOrder() throws Exception {
        Run first = onFreshThread();
        Run second = onFreshThread();

        java.nio.file.Files.write(java.nio.file.Path.of("target", "determinism-trace-1.txt"), first.trace());
        java.nio.file.Files.write(java.nio.file.Path.of("target", "determinism-trace-2.txt"), second.trace());
        java.nio.file.Files.write(java.nio.file.Path.of("target", "determinism-exec-1.txt"), execLogs.get(0));
        java.nio.file.Files.write(java.nio.file.Path.of("target", "determinism-exec-2.txt"), execLogs.get(1));
        assertEquals(new TreeSet<>(List.of(1, 2, 3, 4, 1001, 1002, 1003, 1004)), new TreeSet<>(first.answered()),
                "the run is a real migration: the guest answered before, and the target's guest after");
        assertTrue(first.trace().size() > 200, "the trace covers the whole run: " + first.trace().size() + " messages");
        assertTrue(first.trace().stream().anyMatch(l -> l.contains("SectionIn")), "sections flowed through the sink");
        assertEquals(0, first.fdsLeft(), "every fd closed in the first run");
        assertEquals(java.util.Set.of("deterministic-run"), first.threads(), "every traced message ran on the driving thread");
        for (int i = 0; i < Math.min(first.trace().size(), second.trace().size()); i++) {
            if (!first.trace().get(i).equals(second.trace().get(i))) {
                int from = Math.max(0, i - 12);
                int to = Math.min(i + 4, Math.min(first.trace().size(), second.trace().size()));
                assertEquals(String.join("\n", first.trace().subList(from, to)), String.join("\n", second.trace().subList(from, to)),
                        "message " + i + " differs between two runs");
            }
        }
        assertEquals(first.trace().size(), second.trace().size(), "both runs deliver as many messages");
        assertEquals(first.steps(), second.steps(), "both runs take as many executor steps after Go");
        assertEquals(first.answered(), second.answered(), "host-visible replies in the same order");
    }

    /** Each run drives everything from its own new thread, so no thread-local state of a run leaks into the next. */
    private Run onFreshThread() throws Exception {
        CompletableFuture<Run> result = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                result.complete(run());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, "deterministic-run");
        t.start();
        t.join(TimeUnit.SECONDS.toMillis(80)); // two runs fit the class bound; at load 30+ one run took over 25 s
        return result.get(1, TimeUnit.SECONDS);
    }

    private Run run() throws Exception {
        int openBefore = OwnedFd.openCount();
        FifoExecutor exec = new FifoExecutor();
        exec.log = new ArrayList<>();
        execLogs.add(exec.log);
        FifoExecutor.current = exec;
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs src = kernel.newProcess("source");
        InMemoryOs tgt = kernel.newProcess("target");
        RecordingTracer tracer = new RecordingTracer();
        CompletableFuture<List<Integer>> done = new CompletableFuture<>();
        // Start-up blocks in Await (SystemMaterializer) until system actors answer: create the system on a
        // helper thread while this thread runs the FIFO executor. Nothing of ours runs before Go, and the
        // executor is drained first, so the traced part starts from the same quiescent state every time.
        CompletableFuture<ActorSystem<Object>> created = CompletableFuture.supplyAsync(() -> ActorSystem.create(
                tracer.trace("driver", Driver.create(kernel, src, tgt, tracer, done)), "determinism", CONFIG),
                r -> new Thread(r, "actor-system-start").start());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!created.isDone() && System.nanoTime() < deadline) {
            if (!exec.runOne()) {
                Thread.onSpinWait();
            }
        }
        ActorSystem<Object> system = created.get(5, TimeUnit.SECONDS);
        while (exec.runOne()) {
            // drain what start-up left
        }
        ExplicitlyTriggeredScheduler scheduler = (ExplicitlyTriggeredScheduler) Adapter.toClassic(system).scheduler();
        exec.log.add("---- GO ----");
        long executedAtGo = exec.executed(); // start-up ran concurrently with its own thread: count from here
        system.tell(Driver.Go.INSTANCE);
        long steps = 0;
        while (!done.isDone() && steps < MAX_STEPS) {
            boolean progressed = exec.runOne();
            progressed |= src.reactor().runOnce();
            progressed |= tgt.reactor().runOnce();
            if (!progressed) {
                scheduler.timePasses(FiniteDuration.create(1, TimeUnit.MILLISECONDS));
            }
            steps++;
        }
        if (!done.isDone()) {
            List<String> t = tracer.trace().stream().filter(l -> !l.equals("driver <- INSTANCE")).toList();
            assertTrue(false, "the scenario finished within " + MAX_STEPS + " steps; last messages:\n"
                    + String.join("\n", t.subList(Math.max(0, t.size() - 25), t.size())));
        }
        long ran = exec.executed() - executedAtGo;
        system.terminate();
        for (int i = 0; i < 100_000 && !system.getWhenTerminated().toCompletableFuture().isDone(); i++) {
            if (!exec.runOne()) {
                scheduler.timePasses(FiniteDuration.create(10, TimeUnit.MILLISECONDS));
            }
        }
        FifoExecutor.current = null;
        return new Run(tracer.trace(), done.get(), ran, OwnedFd.openCount() - openBefore, tracer.threads());
    }

    /** The scenario, as an actor inside the deterministic system: every step waits for the previous one. */
    static final class Driver {
        enum Go { INSTANCE }

        enum Poll { INSTANCE }

        private final ActorContext<Object> ctx;
        private final InMemoryKernel kernel;
        private final ArrayDeque<Function<Driver, Boolean>> steps = new ArrayDeque<>();
        private final List<String> events = new ArrayList<>();
        private final List<Integer> answered = new ArrayList<>();
        private final CompletableFuture<List<Integer>> done;
        private BooleanSupplier waitingFor;

        private Driver(ActorContext<Object> ctx, InMemoryKernel kernel, CompletableFuture<List<Integer>> done) {
            this.ctx = ctx;
            this.kernel = kernel;
            this.done = done;
        }

        static Behavior<Object> create(InMemoryKernel kernel, InMemoryOs srcOs, InMemoryOs tgtOs, RecordingTracer tracer,
                CompletableFuture<List<Integer>> done) {
            return Behaviors.setup(ctx -> {
                Driver d = new Driver(ctx, kernel, done);
                MigrationTimeouts t = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
                        Duration.ofSeconds(10), Duration.ofSeconds(5));
                PathTransport tgtTransport = new PathTransport(tgtOs);
                ActorRef<VmActor.Command> src = ctx.spawn(tracer.trace("src", VmActor.create(new VmActor.VmConfig("src",
                        MachineType.parse("q35"), false, false, srcOs, new PathTransport(srcOs), new RecordingScriptRunner(),
                        new RecordingVhostBackend(), t, Duration.ofSeconds(5), Ipv4Address.parse("10.0.0.2"), 1, tracer))),
                        "src", VmActor.DISPATCHER);
                ActorRef<VmActor.Command> tgt = ctx.spawn(tracer.trace("tgt", VmActor.create(new VmActor.VmConfig("tgt",
                        MachineType.parse("q35"), true, false, tgtOs, tgtTransport, new RecordingScriptRunner(),
                        new RecordingVhostBackend(), t, Duration.ofSeconds(5), Ipv4Address.parse("10.0.0.2"), 2, tracer))),
                        "tgt", VmActor.DISPATCHER);
                // one message adapter per class only: tag each endpoint's events in a small forwarder
                ActorRef<VmEvent> srcEvents = ctx.spawn(tagger("src", ctx.getSelf()), "src-events", VmActor.DISPATCHER);
                ActorRef<VmEvent> tgtEvents = ctx.spawn(tagger("tgt", ctx.getSelf()), "tgt-events", VmActor.DISPATCHER);
                src.tell(new VmActor.Subscribe(srcEvents));
                tgt.tell(new VmActor.Subscribe(tgtEvents));
                String uri = "unix:/run/livetap/determinism.sock";
                Map<String, Object> nic = Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true,
                        "mac", Frames.GUEST_MAC.toString());
                d.call(src, r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0", "ifname", "tap0", "queues", 4)), r));
                d.call(src, r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(nic), r));
                d.call(tgt, r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0", "ifname", "tap0", "queues", 4,
                        "incoming-fds", true, "script", "no", "downscript", "no")), r));
                d.call(tgt, r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(nic), r));
                d.ping(1, 4);
                d.call(tgt, r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
                d.call(tgt, r -> new VmActor.MigrateIncoming(uri, r));
                d.await(() -> tgtTransport.listening().isDone());
                d.call(src, r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
                d.call(src, r -> new VmActor.Migrate(uri, r));
                d.await(() -> d.events.contains("src:MIGRATION{status=completed}") && d.events.contains("tgt:RESUME{}"));
                d.ping(1001, 4);
                d.call(tgt, r -> new VmActor.DeviceDel("nic0", r));
                d.call(tgt, r -> new VmActor.NetdevDel("net0", r));
                d.call(src, r -> new VmActor.DeviceDel("nic0", r));
                d.call(src, r -> new VmActor.NetdevDel("net0", r));
                return d.waitingForGo();
            });
        }

        private static Behavior<VmEvent> tagger(String tag, ActorRef<Object> to) {
            return Behaviors.receive(VmEvent.class).onMessage(VmEvent.class, e -> {
                to.tell(tag + ":" + e.event() + e.data());
                return Behaviors.same();
            }).build();
        }

        private Behavior<Object> waitingForGo() {
            return Behaviors.receive(Object.class)
                    .onMessageEquals(Go.INSTANCE, () -> next())
                    .onMessage(String.class, e -> {
                        events.add(e);
                        return Behaviors.same();
                    })
                    .build();
        }

        private void call(ActorRef<VmActor.Command> vm, Function<ActorRef<VmReply>, VmActor.Command> command) {
            steps.add(d -> {
                vm.tell(command.apply(ctx.getSelf().narrow()));
                return true; // wait for the reply
            });
        }

        private void await(BooleanSupplier condition) {
            steps.add(d -> {
                waitingFor = condition;
                ctx.getSelf().tell(Poll.INSTANCE);
                return true;
            });
        }

        /** Echo requests from 4 host addresses; waits until the guest answered all of them. */
        private void ping(int firstSeq, int count) {
            steps.add(d -> {
                for (int i = 0; i < count; i++) {
                    kernel.hostSend("tap0", Frames.echo(100 + i, firstSeq + i));
                }
                return false;
            });
            int target = answered.size();
            await(() -> {
                kernel.hostReceive("tap0").flatMap(Frames::echoReplySequence).ifPresent(answered::add);
                return answered.stream().filter(s -> s >= firstSeq && s < firstSeq + count).count() == count;
            });
        }

        private Behavior<Object> next() {
            while (!steps.isEmpty()) {
                if (steps.poll().apply(this)) {
                    return running();
                }
            }
            done.complete(List.copyOf(answered));
            return running();
        }

        private Behavior<Object> running() {
            return Behaviors.receive(Object.class)
                    .onMessage(VmReply.class, r -> {
                        if (!r.isOk()) {
                            done.completeExceptionally(new AssertionError("command failed: " + r));
                            return Behaviors.same();
                        }
                        return next();
                    })
                    .onMessageEquals(Poll.INSTANCE, () -> {
                        if (waitingFor != null && waitingFor.getAsBoolean()) {
                            waitingFor = null;
                            return next();
                        }
                        ctx.getSelf().tell(Poll.INSTANCE);
                        return Behaviors.same();
                    })
                    .onMessage(String.class, e -> {
                        events.add(e);
                        return Behaviors.same();
                    })
                    .build();
        }
    }
}
