package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.api.LivetapException;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.migration.ProcessScriptRunner;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MachineType;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.Tracer;
import dev.livetap.engine.metrics.LivetapMetrics;
import dev.livetap.engine.transport.UnixMigrationTransport;
import java.util.Optional;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.linux.JnaOs;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import com.typesafe.config.Config;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedding entry point: one ActorSystem (every dispatcher named under
 * {@code livetap.dispatchers}, design decision 4), the process's {@link Os} (the kernel unless
 * configured), the real migration transport (AF_UNIX path sockets, SO_PEERCRED) and any number of
 * {@link EndpointCore}s (design decision 5). Close it to stop every endpoint, remove every socket it
 * listens on and terminate the ActorSystem.
 */
public final class EngineCore implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EngineCore.class);
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(15);

    private final EngineSettings settings;
    private final Os os;
    private final ActorSystem<?> system;
    /** Whether this engine created its ActorSystem (and so terminates it on close). */
    private final boolean ownsSystem;
    private final UnixMigrationTransport transport;
    private final ExecutorService scriptPool;
    private final List<EndpointCore> endpoints = new ArrayList<>();
    private final AtomicInteger hosts = new AtomicInteger();
    private final Optional<LivetapMetrics> metrics;
    /** Engines sharing a borrowed system name their actors apart. */
    private static final AtomicInteger BORROWERS = new AtomicInteger();
    private final String actorPrefix;
    private boolean closed;

    private EngineCore(EngineSettings settings, ActorSystem<?> borrowed, Config config) {
        LibraryClassPreload.ensureLoaded(); // before any migration can meet the descriptor limit
        this.settings = settings;
        this.os = settings.os().orElseGet(JnaOs::instance);
        this.metrics = settings.meterRegistry().map(r -> {
            LivetapMetrics m = new LivetapMetrics();
            m.bindTo(r);
            return m;
        });
        this.ownsSystem = borrowed == null;
        this.actorPrefix = borrowed == null ? "" : "livetap-" + BORROWERS.incrementAndGet() + "-";
        if (borrowed != null) {
            this.system = borrowed;
        } else if (config != null) {
            this.system = ActorSystem.create(Behaviors.empty(), settings.systemName(), config);
        } else {
            this.system = ActorSystem.create(Behaviors.empty(), settings.systemName());
        }
        this.transport = new UnixMigrationTransport(os,
                UnixMigrationTransport.Settings.defaults(settings.acceptTimeout())
                        .withPeerPolicy(settings.effectiveMigrationPeers()),
                (delay, task) -> {
                    Cancellable c = system.scheduler().scheduleOnce(delay, task, system.executionContext());
                    return c::cancel;
                });
        AtomicInteger n = new AtomicInteger();
        this.scriptPool = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "livetap-scripts-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** An engine on the kernel with {@link EngineSettings#defaults()}. */
    public static EngineCore create() {
        return create(EngineSettings.defaults());
    }

    public static EngineCore create(EngineSettings settings) {
        return new EngineCore(settings, null, null);
    }

    /**
     * An engine in {@code system}, which the embedder owns: {@link #close()} stops this engine's
     * actors and leaves the system running. Its configuration must hold livetap's dispatchers
     * ({@code ConfigFactory.load()} finds them in the livetap jars' reference.conf).
     */
    public static EngineCore inSystem(EngineSettings settings, ActorSystem<?> system) {
        return new EngineCore(settings, Objects.requireNonNull(system, "system"), null);
    }

    /** An engine with its own ActorSystem created from {@code config} (the embedder's, with livetap's reference.conf below it). */
    public static EngineCore withConfig(EngineSettings settings, Config config) {
        return new EngineCore(settings, null, Objects.requireNonNull(config, "config"));
    }

    /** Whether {@link #close()} terminates the ActorSystem (false when it was handed in). */
    public boolean ownsSystem() {
        return ownsSystem;
    }

    public Os os() {
        return os;
    }

    public EngineSettings settings() {
        return settings;
    }

    /** The ActorSystem the endpoints run in (for embedders that spawn their own actors next to them). */
    public ActorSystem<?> system() {
        return system;
    }

    /** The real transport every endpoint of this engine migrates over. */
    public MigrationTransport transport() {
        return transport;
    }

    /**
     * Creates and starts a VM endpoint. Blocks only until its actor has started (milliseconds,
     * bounded by the ask timeout).
     */
    public EndpointCore createVm(VmSpec spec) {
        EndpointCore vm = createVm(spec, transport);
        metrics.ifPresent(m -> m.watch(vm)); // only here: the warm-up's VMs are no migrations of the embedder's
        return vm;
    }

    /** The meters of this engine, when {@link EngineSettings#withMeterRegistry} named a registry. */
    public Optional<LivetapMetrics> metrics() {
        return metrics;
    }

    EndpointCore createVm(VmSpec spec, MigrationTransport via) {
        return createVm(spec, os, via);
    }

    EndpointCore createVm(VmSpec spec, Os vmOs, MigrationTransport via) {
        return createVm(spec, vmOs, via, Tracer.NONE);
    }

    /** {@code tracer} decorates every actor of the VM ({@link RoutineLog#WARM_UP} for the warm-up's). */
    EndpointCore createVm(VmSpec spec, Os vmOs, MigrationTransport via, Tracer tracer) {
        synchronized (endpoints) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
            for (EndpointCore e : endpoints) {
                if (e.name().equals(spec.name())) {
                    throw new IllegalArgumentException("a VM named '" + spec.name() + "' already exists in this engine");
                }
            }
        }
        VmActor.VmConfig config = new VmActor.VmConfig(spec.name(), MachineType.parse(spec.machine()), spec.incoming(), spec.paused(),
                vmOs, via, new ProcessScriptRunner(settings.scriptTimeout(), scriptPool), settings.vhost().get(),
                settings.timeouts(), settings.queueTimeout(), Ipv4Address.parse(spec.guestIp()), ProcessHandle.current().pid(), tracer);
        CompletableFuture<ActorRef<VmActor.Command>> vmRef = new CompletableFuture<>();
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        ActorRef<VmSupervisorActor.Command> host = system.systemActorOf(VmSupervisorActor.create(config, vmRef, stopped),
                actorPrefix + "vm-" + hosts.incrementAndGet() + "-" + spec.name(), VmActor.DISPATCHER);
        ActorRef<VmActor.Command> vm;
        try {
            vm = vmRef.get(settings.askTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LivetapException(LivetapException.GENERIC, "interrupted while creating VM " + spec.name());
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new LivetapException(LivetapException.GENERIC, "VM " + spec.name() + " did not start: " + e);
        }
        EndpointCore[] self = new EndpointCore[1];
        EndpointCore endpoint = new EndpointCore(spec, system, host, vm, stopped, settings.askTimeout(), () -> {
            synchronized (endpoints) {
                endpoints.remove(self[0]);
            }
        });
        self[0] = endpoint;
        synchronized (endpoints) {
            endpoints.add(endpoint);
        }
        return endpoint;
    }

    /** The endpoints not closed yet, in creation order. */
    public List<EndpointCore> endpoints() {
        synchronized (endpoints) {
            return List.copyOf(endpoints);
        }
    }

    /**
     * Warms the process up before it has to be fast (design decision 5; a cold first hand-off
     * took 23-31 ms): loads and runs the actors, the codec, a Pekko Streams migration pipeline and
     * the native sockets, with in-memory migrations of a 4-queue NIC and real fd-passing
     * frames over a socketpair ({@link WarmUp}). Touches no real TAP, no network and no file-system path.
     *
     * @return what was warmed and how long it took
     */
    public WarmUp.Report warmUp() {
        return WarmUp.run(this, WarmUp.THROUGH_THE_API);
    }

    /** As {@link #warmUp()}, each migration driven by {@code driver} (the VMM host drives them over QMP). */
    public WarmUp.Report warmUp(WarmUp.MigrationDriver driver) {
        return WarmUp.run(this, driver);
    }

    /**
     * Stops every endpoint (closing their fds), stops listening, terminates the ActorSystem if this
     * engine created it (a borrowed one keeps running). Bounded; idempotent.
     */
    @Override
    public void close() {
        List<EndpointCore> all;
        synchronized (endpoints) {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(endpoints);
        }
        long deadline = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (EndpointCore e : all) {
            stops.add(e.shutdown().toCompletableFuture());
        }
        for (CompletableFuture<Void> f : stops) {
            try {
                f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                break;
            } catch (Exception ex) {
                LOG.warn("a VM endpoint did not stop in time: {}", ex.toString());
            }
        }
        transport.close();
        if (!ownsSystem) {
            scriptPool.shutdownNow(); // the borrowed system is the embedder's: it keeps running
            return;
        }
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(Math.max(1, deadline - System.nanoTime()),
                    TimeUnit.NANOSECONDS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        } catch (Exception ex) {
            LOG.warn("the ActorSystem did not terminate in time: {}", ex.toString());
        }
        scriptPool.shutdownNow();
    }
}
