package dev.livetap.simulation.runtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import scala.concurrent.duration.FiniteDuration;

/**
 * A long-lived ActorSystem of one simulation worker: every dispatcher (Pekko's default, internal
 * and blocking-I/O ones; livetap's default, stream and io) on one {@link FifoExecutor}, timers on
 * {@link OrderedScheduler} (pekko-testkit's ExplicitlyTriggeredScheduler, ties in scheduling order). Runs spawn their own top-level actors and
 * stop them at the end, so a fresh system (about 19 ms) is paid once per worker, not per run.
 * Everything runs on the thread that drives {@link #executor()}.
 */
public final class SimSystem implements AutoCloseable {
    private static final AtomicInteger WORKERS = new AtomicInteger();
    private static final String CONFIGURATOR = "\"" + FifoExecutorConfigurator.class.getName() + "\"";
    private static final String[] DISPATCHERS = {
        "pekko.actor.default-dispatcher", "pekko.actor.internal-dispatcher", "pekko.actor.default-blocking-io-dispatcher",
        "livetap.dispatchers.default", "livetap.dispatchers.stream", "livetap.dispatchers.io"};

    private final String id;
    private final FifoExecutor executor;
    private final ActorSystem<Void> system;
    private final OrderedScheduler scheduler;

    private SimSystem(String id, FifoExecutor executor, ActorSystem<Void> system) {
        this.id = id;
        this.executor = executor;
        this.system = system;
        this.scheduler = (OrderedScheduler) Adapter.toClassic(system).scheduler();
    }

    static Config config(String id) {
        StringBuilder b = new StringBuilder();
        b.append("pekko.loggers = [\"org.apache.pekko.event.Logging$StandardOutLogger\"]\n")
                .append("pekko.use-slf4j = off\npekko.loglevel = OFF\npekko.stdout-loglevel = OFF\n")
                .append("pekko.log-dead-letters = off\npekko.log-dead-letters-during-shutdown = off\n")
                .append("pekko.scheduler.implementation = \"" + OrderedScheduler.class.getName() + "\"\n")
                .append("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\n")
                .append("pekko.coordinated-shutdown.terminate-actor-system = on\n")
                .append("pekko.stream.materializer.blocking-io-dispatcher = pekko.actor.default-blocking-io-dispatcher\n");
        for (String d : DISPATCHERS) {
            b.append(d).append(".executor = ").append(CONFIGURATOR).append('\n');
            b.append(d).append('.').append(FifoExecutorConfigurator.KEY).append(" = \"").append(id).append("\"\n");
        }
        return ConfigFactory.parseString(b.toString()).withFallback(ConfigFactory.load());
    }

    /**
     * Starts a worker's system. Start-up blocks (Await on system actors), so the system is created on
     * a helper thread while this thread runs the FIFO executor; afterwards the executor is drained, so
     * every run starts from a quiescent system.
     */
    public static SimSystem start() {
        String id = "sim-" + WORKERS.incrementAndGet();
        FifoExecutor exec = new FifoExecutor();
        FifoExecutorConfigurator.register(id, exec);
        Config config = config(id);
        CompletableFuture<ActorSystem<Void>> created = new CompletableFuture<>();
        Thread starter = new Thread(() -> {
            try {
                created.complete(Adapter.toTyped(org.apache.pekko.actor.ActorSystem.create("livetap-sim", config)));
            } catch (Throwable e) {
                created.completeExceptionally(e);
            }
        }, id + "-start");
        starter.setDaemon(true);
        starter.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!created.isDone()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the simulated ActorSystem did not start within 60 s");
            }
            if (!exec.runOne()) {
                LockSupport.parkNanos(50_000); // leave the core to the starter thread (2 cores, 2 workers)
            }
        }
        ActorSystem<Void> system = created.join();
        SimSystem s = new SimSystem(id, exec, system);
        s.drain();
        s.flushTimers(); // as after every run: a replay starts from the same state as a run inside a batch
        return s;
    }

    public FifoExecutor executor() {
        return executor;
    }

    public ActorSystem<Void> system() {
        return system;
    }

    public org.apache.pekko.actor.ActorSystem classic() {
        return Adapter.toClassic(system);
    }

    /** Runs queued tasks until none is left (bounded). */
    public void drain() {
        for (int i = 0; i < 10_000_000 && executor.runOne(); i++) {
            // nothing
        }
    }

    /** Milliseconds until the earliest pending timer, or Long.MAX_VALUE when none is pending. */
    public long msToNextTimer() {
        return scheduler.msToNextTimer();
    }

    /** Moves the scheduler's time on; due timers enqueue their messages on the FIFO executor. */
    public void timePasses(long ms) {
        scheduler.timePasses(FiniteDuration.create(ms, TimeUnit.MILLISECONDS));
    }

    /**
     * Fires every one-shot timer still pending (those of a run's stopped actors: their messages go
     * to dead letters) and drains, so the next run starts with no leftover timer. A leftover made
     * {@code advanceTime} stop at its deadline inside the next run, and which runs a worker had run
     * before depends on how the workers shared the batch: a batch's trace hash changed now and then.
     * Bounded; returns how many timers are left (periodic ones only).
     */
    public int flushTimers() {
        for (int i = 0; i < 100_000; i++) {
            long ms = scheduler.msToNextOneShot();
            if (ms == Long.MAX_VALUE) {
                break;
            }
            timePasses(ms);
            drain();
        }
        return scheduler.pending();
    }

    /** True when a one-shot timer is pending (after a run's stop: never, see {@link #flushTimers}). */
    public boolean oneShotTimerPending() {
        return scheduler.msToNextOneShot() != Long.MAX_VALUE;
    }

    @Override
    public void close() {
        system.terminate();
        for (int i = 0; i < 200_000 && !system.whenTerminated().isCompleted(); i++) {
            if (!executor.runOne()) {
                timePasses(10);
            }
        }
        FifoExecutorConfigurator.unregister(id);
    }
}
