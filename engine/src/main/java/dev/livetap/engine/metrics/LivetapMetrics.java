package dev.livetap.engine.metrics;

import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.engine.internal.EndpointCore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The meters of one engine, fed by its VMs' events ({@code MIGRATION}, {@code STOP}, {@code RESUME}):
 * <ul>
 * <li>{@value #MIGRATIONS} (counter; tags {@code role} source|target, {@code outcome}
 * completed|failed|cancelled, {@code phase}: the last status before the end, e.g. {@code device});
 * <li>{@value #DOWNTIME} (timer with a percentile histogram): the source's switch-over downtime,
 * {@code query-migrate}'s {@code downtime}, per completed migration;
 * <li>{@value #IN_FLIGHT} (gauge, tag {@code role}): migrations started and not ended;
 * <li>{@value #TAP_FDS} (gauge): TAP queue fds the engine's NICs hold, as of the last migration's
 * end, RESUME, or the previous read (a read asks the NICs in the background and never blocks);
 * <li>{@value #QMP_SESSIONS} (gauge): connected QMP clients of the servers counted with
 * {@link #countQmpSessions}.
 * </ul>
 * A VM created with {@code incoming} is a migration's target until an incoming migration
 * completes; every other migration of a VM is a source's.
 */
public final class LivetapMetrics implements MeterBinder {
    public static final String MIGRATIONS = "livetap.migrations";
    public static final String DOWNTIME = "livetap.switchover.downtime";
    public static final String IN_FLIGHT = "livetap.migrations.in.flight";
    public static final String TAP_FDS = "livetap.tap.fds";
    public static final String QMP_SESSIONS = "livetap.qmp.sessions";
    static final String SOURCE = "source";
    static final String TARGET = "target";

    private final Map<EndpointCore, Watch> vms = new ConcurrentHashMap<>();
    private final List<IntSupplier> qmpServers = new CopyOnWriteArrayList<>();
    private final AtomicInteger sourcesInFlight = new AtomicInteger();
    private final AtomicInteger targetsInFlight = new AtomicInteger();
    private volatile MeterRegistry registry;
    private volatile Timer downtime;

    /** What the meters know of one VM; touched only by its event listener (one actor, in order). */
    private static final class Watch {
        volatile int tapFds;
        boolean target;
        MigrationStatus phase = MigrationStatus.NONE;
        boolean inFlight;

        Watch(boolean target) {
            this.target = target;
        }
    }

    @Override
    public void bindTo(MeterRegistry r) {
        registry = r;
        downtime = Timer.builder(DOWNTIME).description("switch-over downtime of completed migrations (source side)")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(10)).register(r);
        Gauge.builder(IN_FLIGHT, sourcesInFlight, AtomicInteger::get).tag("role", SOURCE)
                .description("migrations started and not ended").register(r);
        Gauge.builder(IN_FLIGHT, targetsInFlight, AtomicInteger::get).tag("role", TARGET)
                .description("migrations started and not ended").register(r);
        Gauge.builder(TAP_FDS, this, LivetapMetrics::tapFds).description("TAP queue fds the engine's NICs hold")
                .register(r);
        Gauge.builder(QMP_SESSIONS, this, LivetapMetrics::qmpSessions).description("connected QMP clients")
                .register(r);
    }

    /** Follows {@code vm}'s events until it closes (the engine calls this for each VM it creates). */
    public void watch(EndpointCore vm) {
        Watch w = new Watch(vm.spec().incoming());
        vms.put(vm, w);
        vm.subscribe(e -> onEvent(vm, w, e));
        refreshTapFds(vm, w);
    }

    /** Adds a QMP server's client count (e.g. {@code QmpServer::clientCount}) to {@value #QMP_SESSIONS}. */
    public void countQmpSessions(IntSupplier clients) {
        qmpServers.add(clients);
    }

    private void onEvent(EndpointCore vm, Watch w, VmEvent e) {
        if (e.event().equals(VmEvent.RESUME)) {
            refreshTapFds(vm, w); // never on STOP: a query of the NICs would queue behind the switch-over's messages
        }
        if (!e.event().equals(VmEvent.MIGRATION)) {
            return;
        }
        MigrationStatus s = MigrationStatus.fromQmp(String.valueOf(e.data().get("status"))).orElse(null);
        if (s == null || s == MigrationStatus.NONE) {
            return;
        }
        AtomicInteger inFlight = w.target ? targetsInFlight : sourcesInFlight;
        if (!s.isFinal()) {
            if (!w.inFlight) {
                w.inFlight = true;
                inFlight.incrementAndGet();
            }
            if (s != MigrationStatus.CANCELLING) { // the phase a cancel interrupted stays the phase
                w.phase = s;
            }
            return;
        }
        String role = w.target ? TARGET : SOURCE;
        if (w.inFlight) {
            w.inFlight = false;
            inFlight.decrementAndGet();
        }
        MeterRegistry r = registry;
        if (r != null) {
            Counter.builder(MIGRATIONS).description("migrations by role, outcome and the phase they ended in")
                    .tags("role", role, "outcome", s.qmpName(), "phase", w.phase.qmpName()).register(r).increment();
        }
        if (s == MigrationStatus.COMPLETED && !w.target) {
            vm.query().thenAccept(info -> {
                Timer t = downtime;
                if (t != null && info.downtimeMs() >= 0) {
                    t.record(Duration.ofMillis(info.downtimeMs()));
                }
            });
        }
        if (s == MigrationStatus.COMPLETED && w.target) {
            w.target = false; // a completed target is a running VM: its next migration is a source's
        }
        w.phase = MigrationStatus.NONE;
        refreshTapFds(vm, w);
    }

    private void refreshTapFds(EndpointCore vm, Watch w) {
        if (vm.isClosed()) {
            vms.remove(vm);
            return;
        }
        vm.nics().whenComplete((nics, ex) -> {
            if (ex == null) {
                w.tapFds = (int) nics.stream().flatMap(n -> n.queues().stream()).filter(PeerBackend.Status::ownsResource)
                        .count();
            }
        });
    }

    private double tapFds() {
        int sum = 0;
        for (Map.Entry<EndpointCore, Watch> e : vms.entrySet()) {
            if (e.getKey().isClosed()) {
                vms.remove(e.getKey());
                continue;
            }
            sum += e.getValue().tapFds;
            refreshTapFds(e.getKey(), e.getValue());
        }
        return sum;
    }

    private double qmpSessions() {
        int sum = 0;
        for (IntSupplier s : qmpServers) {
            sum += s.getAsInt();
        }
        return sum;
    }
}
