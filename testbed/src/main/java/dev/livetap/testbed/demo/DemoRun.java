package dev.livetap.testbed.demo;

import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.demo.DemoSummary.Migration;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.vmm.VmmProcess;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.selftest.HostChecks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The real demo: a private network namespace per mode, a multiqueue TAP whose host side is
 * 10.0.1.1/24, {@code livetap vmm} child processes whose guest stand-in answers 10.0.1.2, and a
 * real {@code ping -D} from the namespace that runs across all migrations of the mode. Each
 * migration goes into a new target process that was started and warmed before it (A → B → C …);
 * old sources are quit once they handed over. {@link #close()} removes every process, the
 * namespaces (and so their TAPs) and the sockets; it is idempotent and may run from a signal
 * handler or a shutdown hook while {@link #run()} is still working.
 */
public final class DemoRun implements AutoCloseable {
    public static final String GUEST = "10.0.1.2";
    static final String HOST_CIDR = "10.0.1.1/24";
    static final String MAC = "52:54:00:12:34:56";
    static final Duration STEP = Duration.ofSeconds(20);
    /** ping's own deadline (-w): it ends by itself even if nobody stops it. */
    static final int PING_DEADLINE_S = 600;
    static final Duration SETTLE = Duration.ofMillis(250);
    /** A phase longer than this says how far it got. */
    static final Duration PROGRESS_EVERY = Duration.ofSeconds(2);

    /** What to run. */
    public record Options(int queues, int migrations, double intervalMs, int probes, Consumer<String> progress) {
        /** A TAP queue ring holds at most 500 frames: a held freeze stays short and its probes few. */
        public static final int PROBES_MAX = 16;

        public Options {
            if (probes < 1 || probes > PROBES_MAX) {
                throw new IllegalArgumentException("--probes must be 1 to " + PROBES_MAX + ", got " + probes);
            }
            if (queues < 1 || queues > 256) {
                throw new IllegalArgumentException("--queues must be 1 to 256, got " + queues);
            }
            if (migrations < 1 || migrations > 100) {
                throw new IllegalArgumentException("--migrations must be 1 to 100, got " + migrations);
            }
            if (!(intervalMs >= 0.2 && intervalMs <= 200)) {
                throw new IllegalArgumentException("--interval-ms must be 0.2 to 200, got " + intervalMs);
            }
        }
    }

    /** Both modes' summaries and whether the backend-transfer TAP kept its ifindex. */
    public record Outcome(DemoSummary backendTransfer, DemoSummary baseline, boolean ifindexUnchanged, int ifindex) {
    }

    private final Options options;
    private final String ip;
    private final String pingTool;
    private final List<NetworkNamespace> namespaces = new ArrayList<>();
    private final List<VmmProcess> vmms = new ArrayList<>();
    private final List<Ping.Running> pings = new ArrayList<>();
    private final List<ProbeWriter> probeWriters = new ArrayList<>();
    private Path dir;
    private boolean closed;

    public DemoRun(Options options) {
        this.options = options;
        this.ip = HostChecks.which("ip").map(Path::toString).orElse("ip");
        this.pingTool = HostChecks.which("ping").map(Path::toString).orElse("ping");
    }

    public String namespace() {
        return "livetap-demo" + ProcessHandle.current().pid() + "-*";
    }

    public Outcome run() throws Exception {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            dir = Files.createTempDirectory("livetap-demo");
        }
        int[] ifindex = new int[2];
        DemoSummary bt = mode(true, ifindex);
        DemoSummary base = mode(false, null);
        return new Outcome(bt, base, ifindex[0] > 0 && ifindex[0] == ifindex[1], ifindex[0]);
    }

    /** One mode: namespace, first VM, ping, N migrations into pre-started targets, ping stopped and parsed. */
    private DemoSummary mode(boolean backendTransfer, int[] ifindex) throws Exception {
        String mode = backendTransfer ? DemoSummary.BACKEND_TRANSFER : DemoSummary.BASELINE;
        String prefix = backendTransfer ? "bt" : "bl";
        say("== " + (backendTransfer ? "backend transfer: the TAP's queue fds travel to each new process"
                : "baseline: each target opens a new TAP, then address and MAC move to it") + " ==");
        String ns = addNamespace();
        int n = options.migrations();
        VmmProcess[] vm = new VmmProcess[n + 1];
        // Every target is started and warmed before the ping starts, so that no start-up competes with
        // a measured migration: a few processes per core at a time (JVM start-up and warm-up are the
        // slow part on a small machine; 101 at once missed their READY deadline on 2 cores).
        long t0 = System.nanoTime();
        int wave = Math.max(2, 2 * Runtime.getRuntime().availableProcessors());
        long lastSaid = t0;
        // a sliding window rather than waves: the next JVM starts as soon as one is ready, so the
        // cores never idle behind the slowest start-up of a wave; progress every 2 s
        int launched = 0;
        int ready = 0;
        boolean[] connected = new boolean[n + 1];
        while (ready <= n) {
            while (launched <= n && launched - ready < wave) {
                vm[launched] = startVmm(ns, prefix + launched, launched > 0);
                launched++;
            }
            boolean any = false;
            for (int k = 0; k < launched; k++) {
                if (!connected[k] && vm[k].isReady()) {
                    vm[k].connect();
                    connected[k] = true;
                    ready++;
                    any = true;
                }
            }
            if (System.nanoTime() - lastSaid > PROGRESS_EVERY.toNanos() && ready <= n) {
                lastSaid = System.nanoTime();
                say(String.format("  starting VMM processes: %d of %d ready (%.1f s)", ready, n + 1, (lastSaid - t0) / 1e9));
            }
            if (!any) {
                for (int k = 0; k < launched; k++) {
                    vm[k].checkStarting(); // an exited or overdue start fails the demo now, not at the deadline
                }
                Thread.sleep(20);
            }
        }
        vm[0].addNic(tap(backendTransfer, 0), options.queues(), false, MAC);
        check(ns, ip, "addr", "add", HOST_CIDR, "dev", tap(backendTransfer, 0));
        check(ns, ip, "link", "set", tap(backendTransfer, 0), "up");
        for (int k = 1; k <= n; k++) {
            prepareTarget(vm[k], backendTransfer, k);
        }
        long vmmsReady = System.nanoTime();
        say(String.format("  %d VMM processes ready (source %s and %d warmed targets) in %.1f s", n + 1, vm[0].name(), n,
                (vmmsReady - t0) / 1e9));
        if (ifindex != null) {
            ifindex[0] = ifindex(ns, tap(true, 0));
        }
        String mac = hostMac(ns, tap(backendTransfer, 0));
        awaitFirstReply(ns);
        String guestMac = pinNeighbour(ns, tap(backendTransfer, 0));
        say(String.format("  %s: %d-queue TAP %s up, %s answers; ping -D -i %s running", prefix + 0, options.queues(),
                tap(backendTransfer, 0), GUEST, intervalArg()));

        long[] offset = new long[1];
        Path pingOut = dir.resolve(mode + "-ping.out");
        ProbeWriter probes = probeWriter(ns);
        warmUpProbes(probes, backendTransfer);
        Ping.Running ping = startPing(ns, pingOut, offset);
        List<ProbeWriter.Batch> batches = new ArrayList<>();
        List<Migration> migrations = new ArrayList<>();
        List<Double> switches = new ArrayList<>();
        long stopMono;
        try {
            sleep(SETTLE.multipliedBy(2));
            for (int k = 1; k <= n; k++) {
                int migration = k;
                int icmpId = (backendTransfer ? 0xB100 : 0xB200) + k;
                HeldFreeze[] held = new HeldFreeze[1];
                ProbeWriter.Batch batch = probes.prepare(migration, options.probes(), icmpId);
                LocalMigration.Hold hold = (src, info) -> held[0] = HeldFreeze.hold(
                        () -> src.execute("query-migrate", null).path("status").asText(),
                        () -> {
                            ProbeWriter.fire(batch);
                            return batch.count();
                        });
                LocalMigration.Result r;
                try {
                    r = LocalMigration.run(LocalMigration.Options.of(vm[k - 1].qmpSocket(), vm[k].qmpSocket())
                            .withBackendTransfer(backendTransfer).withTimeout(Duration.ofSeconds(30)).withHold(hold), line -> { });
                } finally {
                    if (held[0] == null || held[0].probesWritten() == 0) {
                        ProbeWriter.discard(batch);
                    }
                }
                if (held[0] != null && held[0].probesWritten() > 0) {
                    batches.add(batch);
                }
                long stopped = r.sourceInfo().path("x-source-stopped-ns").asLong(0);
                long started = r.targetInfo().path("x-target-started-ns").asLong(0);
                if (r.completed() && started == 0) {
                    // the orchestrator stopped waiting for the target's stamp: read it once more, a moment later
                    sleep(SETTLE);
                    started = vm[k].execute("query-migrate", null).path("x-target-started-ns").asLong(0);
                }
                // the headline downtime leaves the demo's hold out: source stop to target start, minus
                // source stop to migrate-continue (the held part is reported on its own)
                long from = held[0] != null && held[0].releasedNanos() > stopped ? held[0].releasedNanos() : stopped;
                double downtimeMs = started > 0 && stopped > 0 ? (started - from) / 1e6 : r.downtimeMs();
                Migration m = new Migration(k, vm[k - 1].name(), vm[k].name(), r.status(), downtimeMs, stopped, started, r.error(),
                        held[0]);
                migrations.add(m);
                String extra = "";
                if (!backendTransfer && r.completed()) {
                    double ms = switchNetwork(ns, k, mac, guestMac);
                    switches.add(ms);
                    extra = String.format(", network switched to %s in %.1f ms", tap(false, k), ms);
                }
                say(String.format("  %2d/%d %s -> %s  %-9s downtime %s ms, held %s ms, %d probes in the freeze%s%s", k, n,
                        m.from(), m.to(), r.status(), downtimeMs < 0 ? "-" : String.format("%.3f", downtimeMs),
                        held[0] == null || held[0].heldMs(stopped) < 0 ? "-" : String.format("%.1f", held[0].heldMs(stopped)),
                        m.probesHeld(), extra,
                        r.error() == null ? "" : " (" + r.error() + ")"));
                if (!r.completed()) {
                    break;
                }
                vm[k - 1].close(); // the old source, postmigrate: quit (it holds no TAP fd any more)
                sleep(SETTLE);
            }
            sleep(SETTLE.multipliedBy(2));
        } finally {
            stopMono = System.nanoTime();
            stopPing(ping);
        }
        if (ifindex != null) {
            ifindex[1] = tapExists(ns, tap(true, 0)) ? ifindex(ns, tap(true, 0)) : -1;
        }
        for (ProbeWriter.Batch b : batches) {
            ProbeWriter.awaitDone(b);
            int i = b.migration() - 1;
            Migration m = migrations.get(i);
            migrations.set(i, new Migration(m.index(), m.from(), m.to(), m.status(), m.downtimeMs(), m.stoppedNanos(),
                    m.startedNanos(), m.error(), m.hold().withAnswered(b.answered().size())));
        }
        Ping log = Ping.parse(Files.readAllLines(pingOut, StandardCharsets.UTF_8), offset[0],
                Math.round(options.intervalMs() * 1e6));
        // requests sent in the last 50 ms before SIGINT may still have been in flight: neither sent nor lost
        int cutOff = log.cutOffAfter(stopMono - 50_000_000L);
        for (VmmProcess v : vm) {
            if (v != null) {
                v.close();
            }
        }
        say(String.format("  %s done in %.1f s: VMM start %.1f s, ping and migrations %.1f s, stop and clean-up %.1f s",
                mode.replace('_', ' '), (System.nanoTime() - t0) / 1e9, (vmmsReady - t0) / 1e9, (stopMono - vmmsReady) / 1e9,
                (System.nanoTime() - stopMono) / 1e9));
        return new DemoSummary(mode, migrations, log, switches, cutOff);
    }

    private static String tap(boolean backendTransfer, int k) {
        return backendTransfer ? "lt0" : "ltb" + k;
    }

    private void prepareTarget(VmmProcess target, boolean backendTransfer, int k) throws Exception {
        target.connect();
        // backend transfer: the same ifname, waiting for the source's fds; baseline: the target's own new TAP
        target.addNic(tap(backendTransfer, k), options.queues(), backendTransfer, MAC);
    }

    /** The management layer's switch-over without backend transfer: address and MAC move to the new TAP (one ip batch). */
    private double switchNetwork(String ns, int k, String mac, String guestMac) throws IOException {
        Path batch = dir.resolve("switch-" + k + ".ip");
        String old = tap(false, k - 1);
        String now = tap(false, k);
        // the old TAP stays until its source ends (QEMU and livetap keep it), or is gone if it ended: -force goes on
        Files.writeString(batch, String.join("\n", "link set " + old + " down", "addr flush dev " + old,
                "link set " + now + " address " + mac, "addr add " + HOST_CIDR + " dev " + now, "link set " + now + " up",
                "neigh replace " + GUEST + " lladdr " + guestMac + " dev " + now + " nud permanent", ""));
        long t0 = System.nanoTime();
        HostCommand.run(STEP, List.of(ip, "-n", ns, "-force", "-batch", batch.toString()));
        return (System.nanoTime() - t0) / 1e6;
    }

    private String intervalArg() {
        return String.format(java.util.Locale.ROOT, "%.4f", options.intervalMs() / 1000.0).replaceAll("0+$", "");
    }

    private Ping.Running startPing(String ns, Path out, long[] offset) throws IOException {
        // ping is the instrument: at nice -10 it does not queue behind the VMM processes (101 JVMs at
        // --migrations 100 on 2 cores). The empty freezes first blamed on that were the parser's icmp_seq
        // wrap (Ping.SeqUnwrap). nice execs ping: the pid stays ping's.
        List<String> cmd = new ArrayList<>(List.of(ip, "netns", "exec", ns, "nice", "-n", "-10"));
        cmd.addAll(ChildLaunch.killWithParentPrefix()); // ping cannot watch a pipe; the namespace reaper catches it too
        cmd.addAll(List.of(pingTool, "-D", "-n", "-i", intervalArg(), "-W", "2", "-w", String.valueOf(PING_DEADLINE_S), GUEST));
        long m1 = System.nanoTime();
        Instant wall = Instant.now();
        long m2 = System.nanoTime();
        offset[0] = wall.getEpochSecond() * 1_000_000_000L + wall.getNano() - (m1 + (m2 - m1) / 2);
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            Ping.Running p = Ping.start(cmd, out);
            pings.add(p);
            return p;
        }
    }

    /** SIGINT makes ping print its statistics. */
    private void stopPing(Ping.Running p) throws InterruptedException {
        p.interrupt(Duration.ofSeconds(10));
    }

    /**
     * Makes the guest's neighbour entry permanent (the MAC ping just learnt), so that probes written
     * during a hold go straight into the TAP and are never held back by ARP. Returns the MAC.
     */
    private String pinNeighbour(String ns, String ifname) {
        String out = HostCommand.run(STEP, List.of(ip, "-n", ns, "neigh", "show", GUEST, "dev", ifname)).orThrow().output();
        int i = out.indexOf("lladdr ");
        String mac = i < 0 ? MAC : out.substring(i + 7, i + 24);
        HostCommand.run(STEP, List.of(ip, "-n", ns, "neigh", "replace", GUEST, "lladdr", mac, "dev", ifname, "nud", "permanent")).orThrow();
        return mac;
    }

    /**
     * One probe batch before the migrations: proves that the probe path (perl in the namespace, raw
     * socket, the guest's answers) works, and takes its first-use cost out of the first held freeze.
     */
    private void warmUpProbes(ProbeWriter probes, boolean backendTransfer) throws Exception {
        ProbeWriter.Batch b = probes.prepare(0, options.probes(), backendTransfer ? 0xB100 : 0xB200);
        ProbeWriter.fire(b);
        ProbeWriter.awaitDone(b);
        int answered = b.answered().size();
        if (answered != options.probes()) {
            throw new IOException("the guest stand-in answered " + answered + " of " + options.probes()
                    + " warm-up probes before any migration: " + String.join(" | ", Files.readAllLines(b.out())));
        }
    }

    private ProbeWriter probeWriter(String ns) throws IOException {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            ProbeWriter w = new ProbeWriter(ip, ns, dir);
            probeWriters.add(w);
            return w;
        }
    }

    private void awaitFirstReply(String ns) throws TimeoutException {
        for (int i = 0; i < 10; i++) {
            if (HostCommand.run(Duration.ofSeconds(5), List.of(ip, "netns", "exec", ns, pingTool, "-n", "-c", "1", "-W", "1", GUEST)).ok()) {
                return;
            }
        }
        throw new TimeoutException("the guest stand-in at " + GUEST + " did not answer ping before the migrations");
    }

    private VmmProcess startVmm(String ns, String name, boolean incoming) throws IOException {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            // ip netns exec execs the JVM (design decision 6); a demo killed by SIGKILL leaves no VMM behind
            VmmProcess v = VmmProcess.start(VmmProcess.Options.of(dir, name).inNamespace(ip, ns).withIncoming(incoming)
                    .withExtraJvmOptions(List.of("-Xss1m")));
            vmms.add(v);
            return v;
        }
    }

    /** The mode's namespace; its reaper also removes the run's directory if this process dies unannounced. */
    private synchronized String addNamespace() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
        NetworkNamespace ns = NetworkNamespace.create("demo", List.of(dir));
        namespaces.add(ns);
        return ns.name();
    }

    private void check(String ns, String... cmd) {
        List<String> full = new ArrayList<>(List.of(ip, "netns", "exec", ns));
        full.addAll(List.of(cmd));
        HostCommand.run(STEP, full).orThrow();
    }

    private boolean tapExists(String ns, String ifname) {
        return HostCommand.run(STEP, List.of(ip, "-n", ns, "link", "show", ifname)).ok();
    }

    private int ifindex(String ns, String ifname) {
        return NetworkNamespace.Link.parse(HostCommand.run(STEP, List.of(ip, "-n", ns, "-o", "link", "show", ifname)).orThrow()
                .output()).ifindex();
    }

    private String hostMac(String ns, String ifname) {
        return NetworkNamespace.Link.parse(HostCommand.run(STEP, List.of(ip, "-n", ns, "-o", "link", "show", ifname)).orThrow()
                .output()).mac().orElse(MAC);
    }

    /** The last lines each VMM wrote to stderr, for a failure report. */
    public synchronized String diagnostics() {
        StringBuilder sb = new StringBuilder();
        for (VmmProcess v : vmms) {
            sb.append("--- ").append(v.name()).append(" (pid ").append(v.pid()).append(") stderr:\n")
                    .append(v.process().stderrTail(600)).append('\n');
        }
        return sb.toString();
    }

    private void say(String line) {
        options.progress().accept(line);
    }

    private static void sleep(Duration d) throws InterruptedException {
        Thread.sleep(d.toMillis());
    }

    /**
     * Kills every child (ping, VMMs), deletes the namespaces (their TAPs go with them) and the
     * directory. Synchronized as a whole: a second caller (the main thread after a signal handler
     * started closing, or the shutdown hook) returns only once everything is gone.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        pings.forEach(Ping.Running::close);
        probeWriters.forEach(ProbeWriter::close);
        for (VmmProcess vmm : vmms) {
            vmm.destroy();
        }
        for (Ping.Running ping : pings) {
            try {
                ping.awaitExit(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (VmmProcess vmm : vmms) {
            vmm.kill(Duration.ofSeconds(5));
        }
        for (NetworkNamespace ns : namespaces) {
            try {
                ns.close();
            } catch (RuntimeException e) {
                System.err.println("livetap demo: cannot delete " + ns + ": " + e.getMessage());
            }
        }
        if (dir != null) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                System.err.println("livetap demo: cannot remove " + dir + ": " + e.getMessage());
            }
        }
    }
}
