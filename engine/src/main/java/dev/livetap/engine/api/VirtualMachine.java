package dev.livetap.engine.api;

import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.internal.VmListener;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Source;

/**
 * One VM endpoint of a {@link LivetapEngine}: a virtual machine's NICs and their TAP backends.
 * Each method corresponds to a QMP command (docs/qmp.md has every rule and error text) and
 * returns at once; the stage completes when the VM answered, or fails with a
 * {@link LivetapException} carrying QMP's error class and description. Stages complete on actor
 * threads: chain with non-{@code Async} methods or your own executor, never block in them;
 * {@code join()} from your own threads is fine (every stage ends within the engine's ask timeout).
 */
public final class VirtualMachine implements AutoCloseable {
    /** Events buffered per {@link #events()} stream before it fails as too slow. */
    public static final int EVENT_BUFFER = 256;

    private final EndpointCore core;
    private final Os os;

    VirtualMachine(EndpointCore core, Os os) {
        this.core = core;
        this.os = os;
    }

    EndpointCore core() {
        return core;
    }

    /** The VM's name. */
    public String name() {
        return core.name();
    }

    /** How it was created. */
    public VmSpec spec() {
        return core.spec();
    }

    /** {@code netdev_add}: a TAP netdev whose queues the VM opens by name, or that waits for incoming fds. */
    public CompletionStage<Void> netdevAdd(TapNetdev netdev) {
        return core.netdevAdd(qmp(netdev, List.of()), List.of());
    }

    /**
     * {@code netdev_add fd=}/{@code fds=}: a TAP netdev on queue descriptors the caller already
     * opened (one per queue, in order; e.g. opened by a helper inside the VM's network namespace
     * and received over SCM_RIGHTS), so that this JVM need not live in that namespace. Each
     * number must be an open descriptor of this process; from this call on it belongs to the
     * VM, which closes it on any refusal, on {@code netdev_del}, or when the VM stops: never
     * close it yourself.
     */
    public CompletionStage<Void> netdevAdd(TapNetdev netdev, List<Integer> queueFds) {
        Objects.requireNonNull(netdev, "netdev");
        List<OwnedFd> owned = new ArrayList<>();
        try {
            for (Integer n : queueFds) {
                owned.add(os.fds().adopt(n));
            }
        } catch (RuntimeException e) {
            OwnedFd.closeAll(owned);
            return CompletableFuture.failedFuture(new LivetapException(LivetapException.GENERIC, e.getMessage()));
        }
        return core.netdevAdd(qmp(netdev, owned), owned);
    }

    /** {@code netdev_del}. */
    public CompletionStage<Void> netdevDel(String id) {
        return core.netdevDel(id);
    }

    /** {@code device_add driver=virtio-net-pci}. */
    public CompletionStage<Void> deviceAdd(VirtioNetDevice device) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("driver", "virtio-net-pci");
        a.put("id", device.id());
        a.put("netdev", device.netdev());
        device.mac().ifPresent(v -> a.put("mac", v));
        device.multiqueue().ifPresent(v -> a.put("mq", v));
        device.backendTransfer().ifPresent(v -> a.put("backend-transfer", v));
        device.guestIp().ifPresent(v -> a.put(EndpointCore.GUEST_IP_ARGUMENT, v));
        return core.deviceAdd(a);
    }

    /** {@code device_del}. */
    public CompletionStage<Void> deviceDel(String id) {
        return core.deviceDel(id);
    }

    /** {@code migrate-set-parameters}: what the update holds changes, the rest stays. */
    public CompletionStage<Void> setParameters(MigrationParameterUpdate update) {
        Map<String, Object> a = new LinkedHashMap<>();
        update.local().ifPresent(v -> a.put("local", v));
        update.downtimeLimitMs().ifPresent(v -> a.put("downtime-limit", v));
        update.switchoverLimitMs().ifPresent(v -> a.put("x-switchover-limit", v));
        update.streamFormat().ifPresent(v -> a.put("x-stream-format", v));
        return core.setParameters(a);
    }

    /** {@code query-migrate-parameters}. */
    public CompletionStage<MigrationParameters> parameters() {
        return core.parameters().thenApply(p -> new MigrationParameters(p.local(), p.downtimeLimitMs(), p.switchoverLimitMs(),
                p.streamFormat()));
    }

    /** {@code migrate-set-capabilities} with one capability. */
    public CompletionStage<Void> setCapability(MigrationCapability capability, boolean on) {
        return core.setCapabilities(Map.of(capability.qmpName(), on));
    }

    /** {@code query-migrate-capabilities}: the capabilities that are on. */
    public CompletionStage<Set<MigrationCapability>> capabilities() {
        return core.capabilities().thenApply(c -> {
            Set<MigrationCapability> on = EnumSet.noneOf(MigrationCapability.class);
            for (MigrationCapability m : MigrationCapability.values()) {
                if (c.isOn(MigrationCapabilities.Capability.fromQmp(m.qmpName()))) {
                    on.add(m);
                }
            }
            return Set.copyOf(on);
        });
    }

    /**
     * {@code migrate-incoming unix:PATH}: listens at PATH (mode 0600, this uid unless the engine's
     * migration peers say otherwise) for the source. A VM created with {@link VmSpec#incoming(boolean)} only.
     * Completes once the socket listens (a source may connect at once); fails with the bind error
     * ({@code Failed to bind socket to PATH: ...}, as QEMU) when it cannot, and nothing is started.
     */
    public CompletionStage<Void> migrateIncoming(String uri) {
        return core.migrateIncoming(uri);
    }

    /** {@link #migrateIncoming(String)} on {@code unix:SOCKET}. */
    public CompletionStage<Void> migrateIncoming(Path socket) {
        return migrateIncoming("unix:" + socket);
    }

    /**
     * {@code migrate uri=unix:PATH}: starts an outgoing migration and returns its handle at once:
     * {@link MigrationHandle#accepted()} is the command's own answer, {@link MigrationHandle#outcome()}
     * its end, {@link MigrationHandle#cancel()} cancels it.
     */
    public MigrationHandle migrate(String uri) {
        return Migration.start(this, core, uri);
    }

    /** {@link #migrate(String)} to {@code unix:SOCKET}. */
    public MigrationHandle migrate(Path socket) {
        return migrate("unix:" + socket);
    }

    /**
     * {@code migrate-continue}: a source held in {@link MigrationStatus#PRE_SWITCHOVER} (capability
     * {@link MigrationCapability#PAUSE_BEFORE_SWITCHOVER}) saves and sends its device state. Fails
     * with QEMU's "Migration not in expected state: STATUS" when {@code expected} is not the
     * migration's status.
     */
    public CompletionStage<Void> migrateContinue(MigrationStatus expected) {
        return core.migrateContinue(expected.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
    }

    /** {@code query-migrate}: the current or last migration of this VM (either direction). */
    public CompletionStage<MigrationInfo> migrationInfo() {
        return core.query().thenApply(VirtualMachine::info);
    }

    /** {@code query-status}. */
    public CompletionStage<VmStatus> status() {
        return core.runStatus().thenApply(s -> new VmStatus(s.running(), RunState.valueOf(s.runState().name())));
    }

    /** {@code cont}. */
    public CompletionStage<Void> cont() {
        return core.cont();
    }

    /** {@code stop}: the VM is stopped when the stage completes (its STOP event came first). */
    public CompletionStage<Void> stop() {
        return core.stop();
    }

    /** livetap's {@code x-query-nics}: the NICs, their TAP queues and the guest stand-in's counters. */
    public CompletionStage<List<NicInfo>> nics() {
        return core.nics().thenApply(list -> list.stream().map(VirtualMachine::nic).toList());
    }

    /** Delivers every later event to {@code listener}, in order, until the subscription is closed or the VM stops. */
    public CompletionStage<Subscription> subscribe(VmEventListener listener) {
        Objects.requireNonNull(listener, "listener");
        return core.subscribe(e -> listener.onEvent(event(e))).thenApply(s -> s::close);
    }

    /**
     * The VM's later events as a Pekko Streams source: each materialization subscribes; the stream
     * completes when the VM stops, and cancelling it ends the subscription (at the next event). A
     * consumer more than {@value #EVENT_BUFFER} events behind fails the stream rather than lose
     * events silently. Materialize it with the engine's {@link LivetapEngine#actorSystem()} or your own.
     */
    public Source<VmEvent, NotUsed> events() {
        return Source.<VmEvent>queue(EVENT_BUFFER).mapMaterializedValue(queue -> {
            java.util.concurrent.atomic.AtomicReference<Subscription> sub = new java.util.concurrent.atomic.AtomicReference<>();
            boolean[] ended = new boolean[1];
            core.subscribe(new VmListener() {
                @Override
                public void onEvent(dev.livetap.actors.vm.VmEvent e) {
                    if (ended[0]) {
                        return;
                    }
                    QueueOfferResult r = queue.offer(event(e));
                    if (r == QueueOfferResult.dropped()) {
                        ended[0] = true;
                        queue.fail(new LivetapException(LivetapException.GENERIC, "the events() consumer of VM " + name()
                                + " fell more than " + EVENT_BUFFER + " events behind"));
                    } else if (r != QueueOfferResult.enqueued()) {
                        ended[0] = true; // cancelled or failed downstream
                    }
                    Subscription s = sub.get();
                    if (ended[0] && s != null) {
                        s.close();
                    }
                }

                @Override
                public void onClosed() {
                    if (!ended[0]) {
                        ended[0] = true;
                        try {
                            queue.complete();
                        } catch (IllegalStateException alreadyEnded) {
                            // the stream ended first (cancelled downstream): nothing to complete
                        }
                    }
                }
            }).whenComplete((s, e) -> {
                if (e != null) {
                    queue.fail(e);
                } else {
                    sub.set(s::close);
                }
            });
            return NotUsed.getInstance();
        });
    }

    /**
     * Stops the VM: its actors stop, every TAP queue fd it holds is closed (a non-persistent TAP
     * whose last fd this was disappears), pending calls fail. Completes when everything stopped.
     */
    public CompletionStage<Void> shutdown() {
        return core.shutdown();
    }

    /** {@link #shutdown()} and wait for it (bounded by the engine's ask timeout). */
    @Override
    public void close() {
        core.close();
    }

    /** Whether {@link #shutdown()} was called. */
    public boolean isClosed() {
        return core.isClosed();
    }

    @Override
    public String toString() {
        return "VirtualMachine(" + name() + ")";
    }

    // ------------------------------------------------------------------ conversions from the internal types

    private static Map<String, Object> qmp(TapNetdev n, List<OwnedFd> fds) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("id", n.id());
        n.ifname().ifPresent(v -> a.put("ifname", v));
        n.queues().ifPresent(v -> a.put("queues", v));
        n.vnetHdr().ifPresent(v -> a.put("vnet_hdr", v));
        n.vhost().ifPresent(v -> a.put("vhost", v));
        n.script().ifPresent(v -> a.put("script", v));
        n.downscript().ifPresent(v -> a.put("downscript", v));
        if (n.incomingFds()) {
            a.put("incoming-fds", true);
        }
        n.localMigrationSupported().ifPresent(v -> a.put("local-migration-supported", v));
        if (n.downscriptDuty()) {
            a.put("x-downscript-duty", true);
        }
        if (fds.size() == 1) {
            a.put("fd", "fd0");
        } else if (fds.size() > 1) {
            List<String> names = new ArrayList<>();
            for (int i = 0; i < fds.size(); i++) {
                names.add("fd" + i);
            }
            a.put("fds", String.join(":", names));
        }
        return a;
    }

    static MigrationInfo info(dev.livetap.actors.migration.MigrationInfo i) {
        return new MigrationInfo(i.migrationId(), status(i.status()), i.setupTimeMs(), i.downtimeMs(), i.totalTimeMs(),
                Optional.ofNullable(i.errorDesc()), i.sourceStoppedNanos(), i.targetStartedNanos(), i.resumedByCont());
    }

    static MigrationStatus status(dev.livetap.actors.options.MigrationStatus s) {
        return MigrationStatus.valueOf(s.name());
    }

    static VmEvent event(dev.livetap.actors.vm.VmEvent e) {
        return switch (e.event()) {
            case dev.livetap.actors.vm.VmEvent.MIGRATION -> new VmEvent.MigrationStatusChanged(
                    dev.livetap.actors.options.MigrationStatus.fromQmp(String.valueOf(e.data().get("status")))
                            .map(VirtualMachine::status).orElseThrow(), e.atNanos());
            case dev.livetap.actors.vm.VmEvent.STOP -> new VmEvent.Stopped(e.atNanos());
            case dev.livetap.actors.vm.VmEvent.RESUME -> new VmEvent.Resumed(e.atNanos());
            default -> throw new IllegalStateException("an event livetap does not emit: " + e.event());
        };
    }

    private static NicInfo nic(VirtioNetActor.NicInfo n) {
        List<NicInfo.QueueInfo> queues = new ArrayList<>();
        for (PeerBackend.Status q : n.queues()) {
            queues.add(new NicInfo.QueueInfo(q.queue(), q.state(), q.reading(), q.ownsResource()));
        }
        var g = n.guest();
        return new NicInfo(n.deviceId(), n.queuePairs(), n.peersWaitIncoming(), queues, g.mac().toString(),
                g.ip().toString(), g.counters().framesSeen(), g.counters().arpReplies(), g.counters().icmpReplies());
    }
}
