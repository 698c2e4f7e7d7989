package dev.livetap.engine.internal;

import com.typesafe.config.Config;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.ProcessIdentity;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Settings of a {@link EngineCore}. Start from {@link #defaults()} and replace what differs.
 *
 * @param systemName   the ActorSystem's name
 * @param os           the OS to use; empty means the kernel ({@code JnaOs.instance()})
 * @param timeouts     every wait of a migration (Pekko timers)
 * @param queueTimeout how long a NIC waits for one of its queues to answer
 * @param askTimeout   how long a {@link EndpointCore} call waits for the endpoint's answer
 * @param migrationPeers who may connect to an incoming-migration socket (SO_PEERCRED); empty
 *                     means this process's uid only
 * @param scriptTimeout limit of one {@code script=} / {@code downscript=} run
 * @param vhost        the vhost-net backend for each new endpoint (the kernel's by default; this
 *                     kernel has none, so vhost=on fails with the reason)
 * @param qmpNegotiationTimeout a QMP client that has not sent {@code qmp_capabilities} this long
 *                     after connecting is disconnected (16 silent clients would lock every other
 *                     one out); zero: never
 * @param meterRegistry the registry the engine's meters ({@code LivetapMetrics}) bind to; empty: no meters
 */
public record EngineSettings(String systemName, Optional<Os> os, MigrationTimeouts timeouts, Duration queueTimeout,
        Duration askTimeout, Optional<PeerPolicy> migrationPeers, Duration scriptTimeout, Supplier<VhostBackend> vhost, Duration qmpNegotiationTimeout,
        Optional<MeterRegistry> meterRegistry) {
    public EngineSettings {
        Objects.requireNonNull(systemName, "systemName");
        Objects.requireNonNull(os, "os");
        Objects.requireNonNull(timeouts, "timeouts");
        Objects.requireNonNull(queueTimeout, "queueTimeout");
        Objects.requireNonNull(askTimeout, "askTimeout");
        Objects.requireNonNull(migrationPeers, "migrationPeers");
        Objects.requireNonNull(scriptTimeout, "scriptTimeout");
        Objects.requireNonNull(vhost, "vhost");
        Objects.requireNonNull(qmpNegotiationTimeout, "qmpNegotiationTimeout");
        Objects.requireNonNull(meterRegistry, "meterRegistry");
        if (qmpNegotiationTimeout.isNegative()) {
            throw new IllegalArgumentException("qmpNegotiationTimeout must not be negative");
        }
        if (!systemName.matches("[A-Za-z0-9][A-Za-z0-9_-]*")) {
            throw new IllegalArgumentException("systemName must match [A-Za-z0-9][A-Za-z0-9_-]*: " + systemName);
        }
    }

    public static EngineSettings defaults() {
        return new EngineSettings("livetap", Optional.empty(), MigrationTimeouts.DEFAULT, Duration.ofSeconds(5),
                Duration.ofSeconds(15), Optional.empty(), Duration.ofSeconds(10), KernelVhostNet::new,
                Duration.ofSeconds(10), Optional.empty());
    }

    /** Where {@link #fromConfig} reads: {@code livetap.engine { ask-timeout = 15s, ... }}. */
    public static final String CONFIG_PATH = "livetap.engine";

    /**
     * {@link #defaults()} overridden by what {@code config} holds under {@value #CONFIG_PATH}:
     * {@code system-name}, {@code ask-timeout}, {@code queue-timeout}, {@code script-timeout},
     * {@code qmp-negotiation-timeout}, {@code migration-peer-uids} (a list), and
     * {@code migration-timeouts { channel, step, stream, return-path }}. An absent key keeps its
     * default; a malformed one fails with Typesafe Config's message naming the key.
     */
    public static EngineSettings fromConfig(Config config) {
        EngineSettings s = defaults();
        if (!config.hasPath(CONFIG_PATH)) {
            return s;
        }
        Config c = config.getConfig(CONFIG_PATH);
        if (c.hasPath("system-name")) {
            s = s.withSystemName(c.getString("system-name"));
        }
        if (c.hasPath("ask-timeout")) {
            s = s.withAskTimeout(c.getDuration("ask-timeout"));
        }
        if (c.hasPath("queue-timeout")) {
            s = s.withQueueTimeout(c.getDuration("queue-timeout"));
        }
        if (c.hasPath("script-timeout")) {
            s = s.withScriptTimeout(c.getDuration("script-timeout"));
        }
        if (c.hasPath("qmp-negotiation-timeout")) {
            s = s.withQmpNegotiationTimeout(c.getDuration("qmp-negotiation-timeout"));
        }
        if (c.hasPath("migration-peer-uids")) {
            s = s.withMigrationPeers(new PeerPolicy(java.util.Set.copyOf(c.getIntList("migration-peer-uids"))));
        }
        if (c.hasPath("migration-timeouts")) {
            Config t = c.getConfig("migration-timeouts");
            MigrationTimeouts d = s.timeouts();
            s = s.withTimeouts(new MigrationTimeouts(
                    t.hasPath("channel") ? t.getDuration("channel") : d.channel(),
                    t.hasPath("step") ? t.getDuration("step") : d.step(),
                    t.hasPath("stream") ? t.getDuration("stream") : d.stream(),
                    t.hasPath("return-path") ? t.getDuration("return-path") : d.returnPath()));
        }
        return s;
    }

    public EngineSettings withQueueTimeout(Duration value) {
        return new EngineSettings(systemName, os, timeouts, value, askTimeout, migrationPeers, scriptTimeout, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withScriptTimeout(Duration value) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, askTimeout, migrationPeers, value, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withSystemName(String name) {
        return new EngineSettings(name, os, timeouts, queueTimeout, askTimeout, migrationPeers, scriptTimeout, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withOs(Os value) {
        return new EngineSettings(systemName, Optional.of(value), timeouts, queueTimeout, askTimeout, migrationPeers,
                scriptTimeout, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withTimeouts(MigrationTimeouts value) {
        return new EngineSettings(systemName, os, value, queueTimeout, askTimeout, migrationPeers, scriptTimeout, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withAskTimeout(Duration value) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, value, migrationPeers, scriptTimeout, vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withMigrationPeers(PeerPolicy value) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, askTimeout, Optional.of(value), scriptTimeout,
                vhost, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withVhost(Supplier<VhostBackend> value) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, askTimeout, migrationPeers, scriptTimeout, value, qmpNegotiationTimeout, meterRegistry);
    }

    public EngineSettings withQmpNegotiationTimeout(Duration value) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, askTimeout, migrationPeers, scriptTimeout, vhost,
                value, meterRegistry);
    }

    /** Meters of this engine in {@code registry} (see {@code dev.livetap.engine.metrics.LivetapMetrics}). */
    public EngineSettings withMeterRegistry(MeterRegistry registry) {
        return new EngineSettings(systemName, os, timeouts, queueTimeout, askTimeout, migrationPeers, scriptTimeout, vhost,
                qmpNegotiationTimeout, Optional.of(registry));
    }

    /** The peer policy in force: the configured one, else this process's uid only. */
    public PeerPolicy effectiveMigrationPeers() {
        return migrationPeers.orElseGet(() -> PeerPolicy.sameUser(ProcessIdentity.uid()));
    }

    /**
     * The incoming socket stops waiting a little before the coordinator's channel timeout, so that
     * a late connection is never handed to a coordinator that already gave up.
     */
    Duration acceptTimeout() {
        Duration channel = timeouts.channel();
        Duration margin = channel.dividedBy(10);
        if (margin.compareTo(Duration.ofSeconds(1)) > 0) {
            margin = Duration.ofSeconds(1);
        }
        return channel.minus(margin);
    }
}
