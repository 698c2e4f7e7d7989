package dev.livetap.engine.api;

import com.typesafe.config.Config;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.WarmUp;
import dev.livetap.nativeio.PeerPolicy;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The embedding entry point: VM endpoints ({@link VirtualMachine}) on the kernel of this process,
 * migrating over AF_UNIX path sockets (mode 0600, SO_PEERCRED: this uid unless configured).
 *
 * <p>Runtime: by default the engine creates its own Pekko {@link ActorSystem} and terminates it
 * on {@link #close()}. Hand in yours with {@link Builder#actorSystem(ActorSystem)} (then
 * {@code close()} stops livetap's actors and leaves your system running) or your
 * {@link Config} with {@link Builder#config(Config)}. Pekko refuses mixed module versions in one
 * system: the embedder's Pekko must be the version livetap was built with ({@value #PEKKO_VERSION}).
 *
 * <p>Settings: {@code livetap.engine { ... }} in the configuration (the handed-in system's or
 * {@code Config}; see {@link Builder}), overridden by the builder's setters.
 */
public final class LivetapEngine implements AutoCloseable {
    /** The Pekko version livetap is built with and an embedder's ActorSystem must run. */
    public static final String PEKKO_VERSION = "1.7.0";

    private final EngineCore core;
    private final List<VirtualMachine> vms = new ArrayList<>();

    private LivetapEngine(EngineCore core) {
        this.core = core;
    }

    /** An engine with its own ActorSystem, settings from {@code ConfigFactory.load()}'s {@code livetap.engine}. */
    public static LivetapEngine create() {
        return builder().build();
    }

    /** Starts a configuration. */
    public static Builder builder() {
        return new Builder();
    }

    /** For livetap's own tests and tools: an engine on an internal core. */
    static LivetapEngine wrap(EngineCore core) {
        return new LivetapEngine(core);
    }

    EngineCore core() {
        return core;
    }

    /**
     * Creates and starts a VM endpoint. Blocks only until its actor has started (milliseconds,
     * bounded by the ask timeout). Fails with {@link IllegalArgumentException} for a name already
     * used in this engine, {@link IllegalStateException} once the engine is closed.
     */
    public VirtualMachine createVm(VmSpec spec) {
        EndpointCore c = core.createVm(spec);
        VirtualMachine vm = new VirtualMachine(c, core.os());
        synchronized (vms) {
            vms.add(vm);
        }
        return vm;
    }

    /** The VMs not closed yet, in creation order. */
    public List<VirtualMachine> vms() {
        synchronized (vms) {
            vms.removeIf(VirtualMachine::isClosed);
            return List.copyOf(vms);
        }
    }

    /**
     * Warms the process up before it has to be fast (a cold first hand-off took 23-31 ms): runs
     * the actors, the codec, a Pekko Streams migration and the native sockets once, in memory and
     * over a socketpair. Touches no real TAP, no network and no file-system path.
     */
    public WarmUpReport warmUp() {
        WarmUp.Report r = core.warmUp();
        return new WarmUpReport(r.millis(), r.nativeFrame(), r.migration(),
                r.failure().isEmpty() ? Optional.empty() : Optional.of(r.failure()));
    }

    /** The ActorSystem the VMs run in: the handed-in one, or the engine's own (to materialize {@link VirtualMachine#events()}). */
    public ActorSystem<?> actorSystem() {
        return core.system();
    }

    /** Whether {@link #close()} terminates {@link #actorSystem()} (false when it was handed in). */
    public boolean ownsActorSystem() {
        return core.ownsSystem();
    }

    /** The ask timeout in force (each VM call's limit). */
    public Duration askTimeout() {
        return core.settings().askTimeout();
    }

    /**
     * Stops every VM (closing their fds), stops listening (removing the sockets), and terminates
     * the ActorSystem if the engine created it. Bounded; idempotent.
     */
    @Override
    public void close() {
        core.close();
    }

    /**
     * How to create a {@link LivetapEngine}. Each setting comes from, in order: the setter; the
     * configuration's {@code livetap.engine} block ({@code system-name}, {@code ask-timeout},
     * {@code queue-timeout}, {@code script-timeout}, {@code migration-peer-uids = [1000]},
     * {@code migration-timeouts { channel, step, stream, return-path }}); livetap's default.
     * The configuration is the handed-in ActorSystem's, else the handed-in {@link Config}, else
     * {@code ConfigFactory.load()}.
     */
    public static final class Builder {
        private ActorSystem<?> system;
        private Config config;
        private String systemName;
        private Duration askTimeout;
        private Duration queueTimeout;
        private Duration scriptTimeout;
        private Set<Integer> peerUids;
        private MigrationTimeouts timeouts;
        private MeterRegistry meterRegistry;

        private Builder() {
        }

        /** Run in this ActorSystem, which stays the embedder's: {@link LivetapEngine#close()} leaves it running. */
        public Builder actorSystem(ActorSystem<?> value) {
            this.system = Objects.requireNonNull(value, "actorSystem");
            return this;
        }

        /** Create the engine's own ActorSystem from this configuration (it must include Pekko's and livetap's reference.conf, as {@code ConfigFactory.load()} does). */
        public Builder config(Config value) {
            this.config = Objects.requireNonNull(value, "config");
            return this;
        }

        /** The name of the engine's own ActorSystem (default {@code livetap}). */
        public Builder systemName(String value) {
            this.systemName = Objects.requireNonNull(value, "systemName");
            return this;
        }

        /** How long each VM call waits for the VM's answer (default 15 s). */
        public Builder askTimeout(Duration value) {
            this.askTimeout = Objects.requireNonNull(value, "askTimeout");
            return this;
        }

        /** How long a NIC waits for one of its queues to answer (default 5 s). */
        public Builder queueTimeout(Duration value) {
            this.queueTimeout = Objects.requireNonNull(value, "queueTimeout");
            return this;
        }

        /** Limit of one {@code script=} / {@code downscript=} run (default 10 s). */
        public Builder scriptTimeout(Duration value) {
            this.scriptTimeout = Objects.requireNonNull(value, "scriptTimeout");
            return this;
        }

        /** The uids allowed to connect to an incoming-migration socket (SO_PEERCRED; default: this process's uid). */
        public Builder migrationPeerUids(Set<Integer> uids) {
            this.peerUids = Set.copyOf(uids);
            return this;
        }

        /**
         * The limits of a migration's waits (defaults 30 s, 10 s, 60 s, 30 s).
         *
         * @param channel    source: connecting; target: waiting for the source
         * @param step       one round of requests to the NICs (stop, save, load, roll back)
         * @param stream     the whole stream
         * @param returnPath source: from the end of the stream to the target's answer
         */
        public Builder migrationTimeouts(Duration channel, Duration step, Duration stream, Duration returnPath) {
            this.timeouts = new MigrationTimeouts(channel, step, stream, returnPath);
            return this;
        }

        /**
         * Bind the engine's Micrometer meters to this registry (migrations by role, outcome and
         * phase; switch-over downtime; in-flight migrations; TAP fds held; QMP sessions; see
         * docs/embedding.md). Default: no meters.
         */
        public Builder meterRegistry(MeterRegistry value) {
            this.meterRegistry = Objects.requireNonNull(value, "meterRegistry");
            return this;
        }

        /** Starts the engine (and its ActorSystem unless one was handed in). */
        public LivetapEngine build() {
            if (system != null && config != null) {
                throw new IllegalStateException("hand in an ActorSystem or a Config, not both (the system has its config)");
            }
            Config source = system != null ? system.settings().config()
                    : config != null ? config : com.typesafe.config.ConfigFactory.load();
            EngineSettings s = EngineSettings.fromConfig(source);
            if (systemName != null) {
                s = s.withSystemName(systemName);
            }
            if (askTimeout != null) {
                s = s.withAskTimeout(askTimeout);
            }
            if (queueTimeout != null) {
                s = s.withQueueTimeout(queueTimeout);
            }
            if (scriptTimeout != null) {
                s = s.withScriptTimeout(scriptTimeout);
            }
            if (peerUids != null) {
                s = s.withMigrationPeers(new PeerPolicy(peerUids));
            }
            if (timeouts != null) {
                s = s.withTimeouts(timeouts);
            }
            if (meterRegistry != null) {
                s = s.withMeterRegistry(meterRegistry);
            }
            return new LivetapEngine(system != null ? EngineCore.inSystem(s, system)
                    : EngineCore.withConfig(s, source));
        }
    }
}
