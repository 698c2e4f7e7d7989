package dev.livetap.engine.vmm;

import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.internal.WarmUp;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VMM host: one {@link EngineCore}, one or more VM endpoints, each behind its own QMP
 * socket (design decision 5). VM events become QMP events; {@code quit} on a VM's socket stops
 * that VM (SHUTDOWN event, socket removed) and the host ends when its last VM is gone.
 * {@link #close()} (SIGTERM) stops everything: no VM left reading, every fd closed, every socket
 * removed.
 */
public final class VmmServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VmmServer.class);

    /** One VM of the host: its spec and QMP socket path. */
    public record VmPlan(VmSpec spec, Path qmp) {
        public VmPlan {
            Objects.requireNonNull(spec, "spec");
            Objects.requireNonNull(qmp, "qmp");
        }
    }

    private final EngineCore engine;
    private final List<Vm> vms = new ArrayList<>();
    private final CountDownLatch allGone;
    private final WarmUp.Report warmUp;
    private volatile boolean incomingFailed;

    private final class Vm {
        final VmPlan plan;
        final EndpointCore endpoint;
        QmpFrontend frontend;
        volatile boolean stopped;

        Vm(VmPlan plan, EndpointCore endpoint) {
            this.plan = plan;
            this.endpoint = endpoint;
        }
    }

    private VmmServer(EngineCore engine, int count, WarmUp.Report warmUp) {
        this.engine = engine;
        this.allGone = new CountDownLatch(count);
        this.warmUp = warmUp;
    }

    /**
     * Starts the engine, warms it up (unless {@code warmUp} is false), creates the VMs and their
     * QMP servers, and prints {@code READY <qmp-path>} for each on {@code out}. On failure
     * everything started so far is stopped again.
     */
    public static VmmServer start(EngineSettings settings, List<VmPlan> plans, boolean warmUp, PrintStream out) {
        if (plans.isEmpty()) {
            throw new IllegalArgumentException("a VMM host needs at least one VM");
        }
        EngineCore engine = EngineCore.create(settings);
        VmmServer host = null;
        try {
            WarmUp.Report report = warmUp ? engine.warmUp(QmpWarmUp::migrate) : null;
            host = new VmmServer(engine, plans.size(), report);
            for (VmPlan p : plans) {
                host.add(p);
            }
            for (Vm vm : host.vms) {
                out.println("READY " + vm.plan.qmp());
            }
            out.flush();
            return host;
        } catch (RuntimeException e) {
            if (host != null) {
                host.close();
            } else {
                engine.close();
            }
            throw e;
        }
    }

    private void add(VmPlan plan) {
        EndpointCore endpoint = engine.createVm(plan.spec());
        Vm vm = new Vm(plan, endpoint);
        synchronized (vms) {
            vms.add(vm);
        }
        vm.frontend = QmpFrontend.start(endpoint, engine.os(), plan.qmp(), () -> stopVm(vm, "host-qmp-quit"), () -> {
            LOG.error("VM {}: the incoming migration failed (exit-on-error): the VM ends", plan.spec().name());
            incomingFailed = true;
            stopVm(vm, null);
        }, engine.settings().askTimeout(), engine.settings().qmpNegotiationTimeout());
        QmpFrontend frontend = vm.frontend;
        engine.metrics().ifPresent(m -> m.countQmpSessions(() -> vm.stopped ? 0 : frontend.server().clientCount()));
        LOG.info("VM {} ({}, incoming={}, paused={}) on QMP socket {}", plan.spec().name(), plan.spec().machine(),
                plan.spec().incoming(), plan.spec().paused(), plan.qmp());
    }

    public EngineCore engine() {
        return engine;
    }

    /** The warm-up's report, or null when warm-up was off. */
    public WarmUp.Report warmUpReport() {
        return warmUp;
    }

    /** Whether a VM ended because its incoming migration failed with {@code exit-on-error} (the process exits 1, as QEMU). */
    public boolean incomingMigrationFailed() {
        return incomingFailed;
    }

    /** Waits until every VM quit (or the host was closed); false on timeout. */
    public boolean awaitAllStopped(Duration timeout) throws InterruptedException {
        return allGone.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Blocks until every VM quit or the host was closed. */
    public void awaitAllStopped() throws InterruptedException {
        allGone.await();
    }

    /**
     * SHUTDOWN event (none when {@code reason} is null: QEMU exits after a failed incoming migration
     * without one), socket closed and removed, VM stopped (its fds closed). Idempotent.
     */
    private void stopVm(Vm vm, String reason) {
        synchronized (vm) {
            if (vm.stopped) {
                return;
            }
            vm.stopped = true;
        }
        try {
            if (vm.frontend != null) {
                if (reason != null) {
                    vm.frontend.shutdownEvent(reason);
                }
                vm.frontend.close();
            }
        } catch (RuntimeException e) {
            LOG.warn("VM {}: closing its QMP server failed", vm.plan.spec().name(), e);
        }
        // the VM's actors stop asynchronously; quit may run on the reactor thread, so never wait here
        vm.endpoint.shutdown().whenComplete((v, e) -> {
            LOG.info("VM {} stopped ({})", vm.plan.spec().name(), reason == null ? "incoming migration failed" : reason);
            allGone.countDown();
        });
    }

    /** Stops every VM (SHUTDOWN reason {@code host-signal}), the engine and its ActorSystem. Bounded; idempotent. */
    @Override
    public void close() {
        List<Vm> all;
        synchronized (vms) {
            all = new ArrayList<>(vms);
        }
        for (Vm vm : all) {
            stopVm(vm, "host-signal");
        }
        engine.close();
    }
}
