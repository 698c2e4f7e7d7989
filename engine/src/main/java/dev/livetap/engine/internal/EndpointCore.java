package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.api.LivetapException;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * One VM endpoint of a {@link EngineCore}: a virtual machine's NICs and their TAP backends,
 * driven by methods that map 1:1 to QMP commands (see docs/qmp.md for every argument and error).
 * Every method returns at once; the stage completes when the endpoint answered, or completes
 * exceptionally with a {@link LivetapException} carrying QMP's error class and description.
 * Stages complete on actor threads: chain with non-{@code Async} methods or your own executor,
 * never block in them.
 */
public final class EndpointCore implements AutoCloseable {
    /** QMP device_add argument (a livetap extra): the guest stand-in's IPv4 address. */
    public static final String GUEST_IP_ARGUMENT = "x-guest-ip";
    /** The QMP error class of a refusal naming a device that does not exist. */
    static final String DEVICE_NOT_FOUND = "DeviceNotFound";
    private final VmSpec spec;
    /** Runs a completion on the completing thread (no pool, no new thread). */
    private static final java.util.concurrent.Executor DIRECT = Runnable::run;
    private final ActorSystem<?> system;
    private final ActorRef<VmSupervisorActor.Command> host;
    private final ActorRef<VmActor.Command> vm;
    private final Duration askTimeout;
    /** Completes once the VM's supervisor stopped (however it stopped) and the engine forgot this endpoint. */
    private final CompletableFuture<Void> stopped;
    /** Set by the first {@link #shutdown()}, which alone sends the supervisor its Shutdown. */
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    /** The listener actors, for {@link #askAfterEvents}. */

    EndpointCore(VmSpec spec, ActorSystem<?> system, ActorRef<VmSupervisorActor.Command> host, ActorRef<VmActor.Command> vm,
            CompletableFuture<Void> supervisorStopped, Duration askTimeout, Runnable onClose) {
        this.spec = spec;
        this.system = system;
        this.host = host;
        this.vm = vm;
        this.askTimeout = askTimeout;
        this.stopped = supervisorStopped.whenComplete((v, e) -> onClose.run());
    }

    public String name() {
        return spec.name();
    }

    public VmSpec spec() {
        return spec;
    }

    /** {@code netdev_add} with QMP arguments ({@code type} defaults to {@code tap}). */
    public CompletionStage<Void> netdevAdd(Map<String, ?> arguments) {
        return netdevAdd(arguments, List.of());
    }

    /**
     * {@code netdev_add fd=NAME} / {@code fds=A:B:C} with the already open TAP queue fds those names
     * stand for, in the same order. The fds belong to the endpoint from this call on: a refusal (or
     * a closed endpoint) closes every one of them; {@code netdev_del}, the device's unplug or the
     * endpoint's shutdown closes them later.
     */
    public CompletionStage<Void> netdevAdd(Map<String, ?> arguments, List<OwnedFd> fds) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("type", TapNetdevOptions.TYPE);
        a.putAll(arguments);
        List<OwnedFd> passed = List.copyOf(fds);
        TapNetdevOptions options;
        try {
            options = closed.get() ? null : TapNetdevOptions.fromQmp(a);
        } catch (OptionException | IllegalArgumentException e) {
            OwnedFd.closeAll(passed); // the fds came with the command: a refusal closes them
            return refused(e);
        }
        return netdevAdd(options, passed);
    }

    /** {@code netdev_add} from parsed options (e.g. {@code TapNetdevOptions.parse("tap,id=net0,ifname=tap0,queues=4")}). */
    public CompletionStage<Void> netdevAdd(TapNetdevOptions options) {
        return netdevAdd(options, List.of());
    }

    /** {@code netdev_add} from parsed options with the fds {@code fd=}/{@code fds=} name; they are the endpoint's from this call on. */
    public CompletionStage<Void> netdevAdd(TapNetdevOptions options, List<OwnedFd> fds) {
        List<OwnedFd> passed = List.copyOf(fds);
        if (closed.get() && !passed.isEmpty()) {
            OwnedFd.closeAll(passed);
        }
        return done(ask(r -> new VmActor.NetdevAdd(options, passed, r)));
    }

    public CompletionStage<Void> netdevDel(String id) {
        return done(ask(r -> new VmActor.NetdevDel(id, r)));
    }

    /**
     * {@code device_add} with QMP arguments, e.g. {@code driver=virtio-net-pci, id, netdev, mac,
     * mq, backend-transfer}, and livetap's {@code x-guest-ip}.
     */
    public CompletionStage<Void> deviceAdd(Map<String, ?> arguments) {
        Map<String, Object> a = new LinkedHashMap<>(arguments);
        Object ip = a.remove(GUEST_IP_ARGUMENT);
        VirtioNetDeviceOptions options;
        Optional<Ipv4Address> guestIp;
        try {
            options = closed.get() ? null : VirtioNetDeviceOptions.fromQmp(a);
            guestIp = ip == null || closed.get() ? Optional.empty() : Optional.of(Ipv4Address.parse(String.valueOf(ip)));
        } catch (OptionException | IllegalArgumentException e) {
            return refused(e);
        }
        return deviceAdd(options, guestIp);
    }

    /** {@code device_add} from parsed options; {@code guestIp} overrides the VM's guest stand-in address. */
    public CompletionStage<Void> deviceAdd(VirtioNetDeviceOptions options, Optional<Ipv4Address> guestIp) {
        return done(ask(r -> new VmActor.DeviceAdd(options, guestIp, r)));
    }

    public CompletionStage<Void> deviceDel(String id) {
        return done(ask(r -> new VmActor.DeviceDel(id, r)));
    }

    /** {@code migrate-set-parameters}, e.g. {@code Map.of("local", true)}. */
    public CompletionStage<Void> setParameters(Map<String, ?> parameters) {
        MigrationParameters.Update update;
        try {
            update = closed.get() ? null : MigrationParameters.Update.fromQmp(new LinkedHashMap<>(parameters));
        } catch (OptionException | IllegalArgumentException e) {
            return refused(e);
        }
        return done(ask(r -> new VmActor.MigrateSetParameters(update, r)));
    }

    /** {@code migrate-set-parameters} from a parsed update. */
    public CompletionStage<Void> setParameters(MigrationParameters.Update update) {
        return done(ask(r -> new VmActor.MigrateSetParameters(update, r)));
    }

    /** {@code migrate-set-capabilities} from parsed changes. */
    public CompletionStage<Void> setCapabilities(EnumMap<MigrationCapabilities.Capability, Boolean> changes) {
        Map<MigrationCapabilities.Capability, Boolean> copy = new EnumMap<>(changes);
        return done(ask(r -> new VmActor.MigrateSetCapabilities(copy, r)));
    }

    /** {@code query-migrate-parameters}, parsed. */
    public CompletionStage<MigrationParameters> parameters() {
        return ask(VmActor.QueryMigrateParameters::new).thenApply(v -> ((VmReply.Parameters) v).parameters());
    }

    /** {@code query-migrate-capabilities}, parsed. */
    public CompletionStage<MigrationCapabilities> capabilities() {
        return ask(VmActor.QueryMigrateCapabilities::new).thenApply(v -> ((VmReply.Capabilities) v).capabilities());
    }

    /** {@code query-status}, parsed. */
    public CompletionStage<VmReply.Status> runStatus() {
        return ask(VmActor.QueryStatus::new).thenApply(v -> (VmReply.Status) v);
    }

    /** {@code query-migrate-parameters} in QMP form. */
    @SuppressWarnings("unchecked")
    public CompletionStage<Map<String, Object>> queryParameters() {
        return ask(VmActor.QueryMigrateParameters::new).thenApply(v -> ((VmReply.Parameters) v).parameters().toQmp());
    }

    /** {@code migrate-set-capabilities}: capability name to state. */
    public CompletionStage<Void> setCapabilities(Map<String, Boolean> capabilities) {
        List<Map<String, Object>> list = new java.util.ArrayList<>();
        capabilities.forEach((k, v) -> {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("capability", k);
            c.put("state", v);
            list.add(c);
        });
        Map<MigrationCapabilities.Capability, Boolean> changes;
        try {
            changes = closed.get() ? Map.of() : MigrationCapabilities.changesFromQmp(Map.of("capabilities", list));
        } catch (OptionException | IllegalArgumentException e) {
            return refused(e);
        }
        return done(ask(r -> new VmActor.MigrateSetCapabilities(changes, r)));
    }

    /** {@code query-migrate-capabilities} in QMP form (a list of {capability, state}). */
    public CompletionStage<Object> queryCapabilities() {
        return ask(VmActor.QueryMigrateCapabilities::new).thenApply(v -> ((VmReply.Capabilities) v).capabilities().toQmp());
    }

    /**
     * {@code migrate-incoming uri=unix:PATH}: listens at PATH (mode 0600, same uid only) for the
     * source. The stage completes once the socket listens (a {@code migrate} to PATH may follow at
     * once), or fails with the bind error (QEMU's {@code Failed to bind socket to PATH: ...}; nothing
     * started, a later call may try again).
     */
    public CompletionStage<Void> migrateIncoming(String uri) {
        return done(askAfterEvents(r -> new VmActor.MigrateIncoming(uri, r)));
    }

    /** {@code migrate uri=unix:PATH}: returns once the migration started; follow it with {@link #subscribe} or {@link #query}. */
    public CompletionStage<Void> migrate(String uri) {
        return done(askAfterEvents(r -> new VmActor.Migrate(uri, r)));
    }

    /**
     * {@code migrate uri=fd:NAME} with the connected AF_UNIX stream socket NAME stands for
     * (libvirt's form); the socket is the endpoint's from this call on, a refusal closes it.
     */
    public CompletionStage<Void> migrate(String uri, OwnedFd socket) {
        if (closed.get()) {
            socket.close();
        }
        return done(askAfterEvents(r -> new VmActor.Migrate(uri, Optional.of(socket), r)));
    }

    /** {@code migrate_cancel}. */
    public CompletionStage<Void> cancel() {
        return done(askAfterEvents(VmActor.MigrateCancel::new)); // QEMU: cancelling before the reply
    }

    /**
     * {@code migrate-continue}: a source held in {@code pre-switchover} (capability
     * {@code pause-before-switchover}) saves and sends its device state. Fails with QEMU's
     * "Migration not in expected state: STATUS" when {@code expected} is not the outgoing
     * migration's status.
     */
    public CompletionStage<Void> migrateContinue(MigrationStatus expected) {
        return migrateContinue(expected.qmpName());
    }

    /** {@link #migrateContinue(MigrationStatus)} by QMP status name (any of QEMU's, for QMP). */
    public CompletionStage<Void> migrateContinue(String expectedStatus) {
        return done(ask(r -> new VmActor.MigrateContinue(MigrationStatus.fromQmp(expectedStatus), r)));
    }

    /** {@code query-migrate}: the current or last migration ({@link MigrationInfo#toQmp()} is the QMP form). */
    public CompletionStage<MigrationInfo> query() {
        return ask(VmActor.QueryMigrate::new).thenApply(v -> ((VmReply.Migration) v).info());
    }

    /** {@code query-status}: {@code {"running": bool, "status": run-state}}. */
    public CompletionStage<Map<String, Object>> status() {
        return ask(VmActor.QueryStatus::new).thenApply(v -> {
            Map<String, Object> status = new LinkedHashMap<>();
            status.put("running", ((VmReply.Status) v).running());
            status.put("status", ((VmReply.Status) v).runState().qmpName());
            return status;
        });
    }

    /** {@code cont}; completes after the listeners got the {@code RESUME} it caused (QEMU sends it before the reply). */
    public CompletionStage<Void> cont() {
        return done(askAfterEvents(VmActor.Cont::new));
    }

    /** {@code stop}; completes after the listeners got the {@code STOP} it caused (QEMU sends it before the reply). */
    public CompletionStage<Void> stop() {
        return done(askAfterEvents(VmActor.Stop::new));
    }

    /** livetap extra: the NICs, their queues and guest stand-in counters. */
    public CompletionStage<List<VirtioNetActor.NicInfo>> nics() {
        return ask(VmActor.QueryNics::new).thenApply(v -> ((VmReply.Nics) v).nics());
    }

    /** Delivers every later event to {@code listener}, in order, until the subscription is closed. */
    public CompletionStage<Subscription> subscribe(VmListener listener) {
        Objects.requireNonNull(listener, "listener");
        CompletableFuture<Long> added = new CompletableFuture<>();
        host.tell(new VmSupervisorActor.AddListener(listener, added));
        return added.thenApply(id -> () -> host.tell(new VmSupervisorActor.RemoveListener(id)));
    }

    /** An event subscription; closing it stops the deliveries. */
    @FunctionalInterface
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Stops the endpoint: its actors stop, every TAP queue fd it holds is closed (a
     * non-persistent TAP whose last fd this was disappears), pending waits fail. The stage
     * completes when everything stopped. Idempotent: every call answers with the same stage, which also completes
     * when the VM had already ended (a second Shutdown to a stopped supervisor would reach no one: a VMM's close
     * after its VM stopped waited out the engine's 15-second close timeout).
     */
    public CompletionStage<Void> shutdown() {
        if (closed.compareAndSet(false, true)) {
            host.tell(new VmSupervisorActor.Shutdown()); // its end completes stopped
        }
        return stopped;
    }

    /** {@link #shutdown()} and wait for it (bounded by the ask timeout). */
    @Override
    public void close() {
        try {
            shutdown().toCompletableFuture().get(askTimeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new LivetapException(LivetapException.GENERIC, "VM " + name() + " did not stop within "
                    + askTimeout.toMillis() + " ms");
        }
    }

    public boolean isClosed() {
        return closed.get();
    }

    /**
     * Sends one raw {@link VmActor} command: its reply, or a {@link LivetapException} with QMP's
     * error class ({@code DeviceNotFound} for a device that does not exist, else {@code GenericError}).
     */
    public CompletionStage<VmReply> ask(Function<ActorRef<VmReply>, VmActor.Command> command) {
        CompletableFuture<VmReply> out = new CompletableFuture<>();
        if (closed.get()) {
            out.completeExceptionally(new LivetapException(LivetapException.GENERIC, "VM " + name() + " is closed"));
            return out;
        }
        // Pekko's stage is Scala's CompletableFuture adapter, which turns whenComplete into
        // whenCompleteAsync on the default executor: one new Thread per ask where the common pool
        // has parallelism 1 (<= 2 CPUs), a common-pool hop elsewhere. Run the mapping on the
        // thread that completes the ask (the replying actor's, or the scheduler's on timeout).
        AskPattern.<VmActor.Command, VmReply>ask(vm, command::apply, askTimeout, system.scheduler()).whenCompleteAsync((r, e) -> {
            if (e != null) {
                out.completeExceptionally(new LivetapException(LivetapException.GENERIC, "VM " + name()
                        + " did not answer within " + askTimeout.toMillis() + " ms"));
            } else if (r instanceof VmReply.Refused refused) {
                out.completeExceptionally(new LivetapException(refused.refusal() == VmReply.Refusal.DEVICE_NOT_FOUND
                        ? DEVICE_NOT_FOUND : LivetapException.GENERIC, refused.message()));
            } else {
                out.complete(r);
            }
        }, DIRECT);
        return out;
    }

    /**
     * {@link #ask}, completing after the listeners were handed the events the VM sent before its reply
     * (QEMU sends STOP before the reply of {@code stop}, MIGRATION {@code setup} before that of
     * {@code migrate}). Bounded by the ask timeout: a supervisor that stopped meanwhile does not hold it.
     */
    private CompletionStage<VmReply> askAfterEvents(Function<ActorRef<VmReply>, VmActor.Command> command) {
        // a refusal too: QEMU announces migrate-incoming's setup even before a bind error. The sync is
        // told on the thread that completes the ask, the VM's while it handles the command: events of
        // its later messages (the migration's active) queue behind it
        CompletableFuture<VmReply> out = new CompletableFuture<>();
        ask(command).whenComplete((r, e) -> {
            CompletableFuture<Void> synced = new CompletableFuture<>();
            // the supervisor is the VM's one event subscriber and calls every listener as it delivers:
            // once it runs this, every event the VM sent before its reply has been handed out
            host.tell(new VmSupervisorActor.Synced(() -> synced.complete(null)));
            org.apache.pekko.actor.Cancellable bound = system.scheduler().scheduleOnce(askTimeout,
                    () -> synced.complete(null), system.executionContext());
            synced.whenComplete((v, ignored) -> {
                bound.cancel();
                if (e != null) {
                    out.completeExceptionally(e);
                } else {
                    out.complete(r);
                }
            });
        });
        return out;
    }

    private static CompletionStage<Void> done(CompletionStage<VmReply> s) {
        return s.thenApply(v -> null);
    }

    /** Arguments that do not parse: QMP's GenericError with the option's text; the VM never sees them. */
    private static CompletionStage<Void> refused(RuntimeException e) {
        return CompletableFuture.failedFuture(new LivetapException(LivetapException.GENERIC, e.getMessage()));
    }
}
