package dev.livetap.testbed.chaos;

import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Retry;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code livetap chaos}: local migrations between real {@code livetap vmm} processes in a private
 * namespace, over a real multiqueue TAP with real {@code ping -i 0.005} traffic, each run with one
 * real fault: SIGKILL of the source or the target, SIGSTOP of the target beyond the migration
 * timeout (then SIGCONT or SIGKILL), or the migration socket dropped ({@code shutdown(2)} on the
 * target's accepted socket through {@code pidfd_getfd}). The fault and its moment (before
 * {@code migrate}, or a delay after it) derive from the run's seed.
 *
 * <p>After each run the rules decide who owns the TAP (semantic 7): the source after a failure (it
 * gets {@code cont}), the target after {@code completed} (or, when the source died, a target that
 * completed: {@code cont}); nobody when the source died before the target loaded everything (the
 * TAP must then be gone). The owner must answer ping; every surviving process must hold exactly
 * the TUN queues and sockets it should (the owner its queues, the others none; sockets as before
 * the run). Processes are reused: a target whose migration failed cleanly waits for the next run,
 * a target that completed becomes the next source, and a spare target is always starting.
 */
public final class ChaosRunner implements AutoCloseable {
    static final String IFNAME = "lt0";
    static final String HOST_IP = "10.0.1.1";
    static final String GUEST_IP = "10.0.1.2";
    /** Upper bound of the random delay between {@code migrate} and the fault (default; {@code --max-delay-ms}). */
    static final int FAULT_DELAY_US_MAX = 60_000;

    /** The real faults. */
    public enum ChaosFault {
        KILL_SOURCE("kill_source"), KILL_TARGET("kill_target"), STOP_TARGET("stop_target"), DROP_SOCKET("drop_socket");

        private final String id;

        ChaosFault(String id) {
            this.id = id;
        }

        public String id() {
            return id;
        }
    }

    /** One run: its seed, fault, when it struck, what the rules said, and what broke. */
    public record Run(int index, long seed, ChaosFault fault, String moment, String phase, String outcome, String owner,
            int fdsLeaked, List<String> violations, long pingTransmitted, long pingReceived, long wallMs, String detail) {
    }

    /** Options of a batch; {@code faults}: the faults a run picks from (all of them unless narrowed). */
    public record Options(long seed, int runs, int queues, int migrationTimeoutS, List<ChaosFault> faults, boolean keepAllLogs,
            int maxDelayUs) {
        public Options {
            faults = List.copyOf(faults);
            if (faults.isEmpty()) {
                throw new IllegalArgumentException("at least one fault");
            }
        }

        public Options(long seed, int runs, int queues, int migrationTimeoutS) {
            this(seed, runs, queues, migrationTimeoutS, List.of(ChaosFault.values()), false, FAULT_DELAY_US_MAX);
        }

        /** The fault of the run with this seed (the first draw of its Random). */
        ChaosFault pick(Random r) {
            return faults.get(r.nextInt(faults.size()));
        }
    }

    private final Options o;
    private final Consumer<String> log;
    private final NetworkNamespace ns;
    private final Path dir;
    private final List<VmmProcess> all = new ArrayList<>();
    private VmmProcess source;
    private VmmProcess spare;
    private VmmProcess reusable;
    private final java.util.Set<VmmProcess> stopped = new java.util.HashSet<>();
    private int started;

    private ChaosRunner(Options o, Consumer<String> log, NetworkNamespace ns, Path dir) {
        this.o = o;
        this.log = log;
        this.ns = ns;
        this.dir = dir;
    }

    /** Creates the namespace and the working directory; {@link #close()} removes both and ends every child. */
    public static ChaosRunner open(Options o, Consumer<String> log) throws IOException {
        NetworkNamespace ns = NetworkNamespace.create("chaos");
        try {
            Path dir = Files.createTempDirectory("livetap-chaos");
            return new ChaosRunner(o, log, ns, dir);
        } catch (IOException | RuntimeException e) {
            ns.close();
            throw e;
        }
    }

    /** The seed of run {@code i} (run 0: the batch seed, so {@code --seed R --runs 1} repeats run R's choices). */
    public static long[] runSeeds(long seed, int runs) {
        long[] s = new long[runs];
        Random r = new Random(seed);
        for (int i = 0; i < runs; i++) {
            s[i] = i == 0 ? seed : r.nextLong();
        }
        return s;
    }

    public List<Run> runAll(Consumer<Run> onRun) throws Exception {
        List<Run> out = new ArrayList<>();
        long[] seeds = runSeeds(o.seed(), o.runs());
        for (int i = 0; i < o.runs(); i++) {
            Run r;
            try {
                r = runOne(i, seeds[i]);
            } catch (Exception | AssertionError e) {
                // a QMP reply that never came, a process that vanished: the run fails, the batch goes on
                // with fresh processes
                r = new Run(i, seeds[i], o.pick(new Random(seeds[i])), "?", "?",
                        "harness_error", "none", 0, List.of("NoUncaughtFailure: " + e), 0, 0, 0, String.valueOf(e));
                for (VmmProcess v : List.copyOf(all)) {
                    if (v != spare) {
                        retire(v);
                    }
                }
                source = null;
                reusable = null;
            }
            out.add(r);
            onRun.accept(r);
        }
        return out;
    }

    // ------------------------------------------------------------------ processes

    private synchronized VmmProcess startVmm(boolean incoming) throws IOException {
        if (closed) {
            throw new IllegalStateException("the chaos runner is closing");
        }
        // inside the chaos namespace (design decision 6); stdout and stderr in one log (kept for a failed run)
        VmmProcess v = VmmProcess.start(VmmProcess.Options.of(dir, (incoming ? "tgt" : "src") + (started++))
                .withPrefix(ns.wrap(List.of())).withIncoming(incoming).withExtraJvmOptions(List.of("-Xss512k"))
                .withArgs(List.of("--migration-timeout", String.valueOf(o.migrationTimeoutS()), "--no-warm-up"))
                .withMergedStderr(true));
        all.add(v);
        return v;
    }

    /** A running source that owns a fresh TAP (after the device was lost, or at the start). */
    private VmmProcess newSource() throws Exception {
        VmmProcess s = startVmm(false).connect();
        addNic(s);
        ns.run("ip", "addr", "replace", HOST_IP + "/24", "dev", IFNAME);
        ns.run("ip", "link", "set", IFNAME, "up");
        return s;
    }

    private VmmProcess takeTarget() throws Exception {
        VmmProcess t;
        if (reusable != null) {
            t = reusable;
            reusable = null;
        } else {
            t = spare != null ? spare : startVmm(true);
            spare = null;
            t.connect();
            addNic(t);
        }
        if (spare == null && reusable == null) {
            spare = startVmm(true); // starts while this run goes on
        }
        return t;
    }

    private void retire(VmmProcess v) {
        if (v != null) {
            closeVmm(v);
            all.remove(v);
        }
    }

    /** A stopped VMM gets SIGCONT first (it could not answer quit), then quit, then the launcher's bounded kill. */
    private void closeVmm(VmmProcess v) {
        if (stopped.remove(v) && v.isAlive()) {
            try {
                v.signal("CONT");
            } catch (IOException e) {
                // killed by close below
            }
        }
        v.close();
    }

    private void signal(VmmProcess v, String sig) throws IOException {
        v.signal(sig);
        if (sig.equals("STOP")) {
            stopped.add(v);
        } else if (sig.equals("CONT")) {
            stopped.remove(v);
        }
    }

    /** A multiqueue TAP netdev on the chaos TAP and a virtio-net NIC on it (a target waits for the source's fds). */
    private void addNic(VmmProcess v) throws Exception {
        v.addNic(IFNAME, o.queues(), v.options().incoming(), "52:54:00:12:34:56");
    }

    private static String migrationStatus(VmmProcess v) throws Exception {
        return v.execute("query-migrate").path("status").asText("none");
    }

    /** query-migrate's x-migration-id ("" before any migration). */
    private static String migrationId(VmmProcess v) throws Exception {
        return v.execute("query-migrate").path("x-migration-id").asText("");
    }

    /**
     * query-migrate's status of a migration other than {@code previousId}; "stale" while the VM
     * still reports that one (a final status of the last run must never end this run's wait).
     */
    private static String migrationStatusAfter(VmmProcess v, String previousId) throws Exception {
        com.fasterxml.jackson.databind.JsonNode m = v.execute("query-migrate");
        return m.path("x-migration-id").asText("").equals(previousId) ? "stale" : m.path("status").asText("none");
    }

    /** query-migrate's error-desc, or null. */
    private static String migrationError(VmmProcess v) throws Exception {
        com.fasterxml.jackson.databind.JsonNode e = v.execute("query-migrate").path("error-desc");
        return e.isMissingNode() || e.isNull() ? null : e.asText();
    }

    /** TUN queues and sockets of a VMM (the census counts TUN queues by fdinfo, not by the link name). */
    private static ProcessCensus.FdKinds fds(VmmProcess v) {
        return ProcessCensus.fdKinds(v.pid());
    }

    /** The descriptors other than jars, libraries and the JVM's own files (for messages). */
    private static String describeFds(VmmProcess v) {
        return ProcessCensus.describeFds(v.pid());
    }

    // ------------------------------------------------------------------ one run

    private Run runOne(int index, long seed) throws Exception {
        long t0 = System.nanoTime();
        Random r = new Random(seed);
        ChaosFault fault = o.pick(r);
        boolean beforeMigrate = fault != ChaosFault.DROP_SOCKET && fault != ChaosFault.KILL_SOURCE && r.nextInt(4) == 0;
        int delayUs = r.nextInt(o.maxDelayUs() + 1);
        boolean contAfterStop = r.nextBoolean();
        String moment = beforeMigrate ? "before_migrate" : "migrate+" + delayUs / 1000 + "." + (delayUs % 1000) / 100 + "ms";
        List<String> violations = new ArrayList<>();
        StringBuilder detail = new StringBuilder();

        if (source == null || !source.isAlive()) {
            source = newSource();
        }
        VmmProcess src = source;
        VmmProcess tgt = takeTarget();
        if (!ping(1, 15) || !ping(3, 5)) {
            violations.add("the source does not answer ping before the run [" + diagnose(src) + "]");
        }
        ProcessCensus.FdKinds srcBefore = fds(src);
        ProcessCensus.FdKinds tgtBefore = fds(tgt);
        Ping.Running traffic = startTraffic();
        String uri = "unix:" + dir.resolve("mig" + index + ".sock");
        String srcPrevious = migrationId(src);
        String tgtPrevious = migrationId(tgt);
        String[] phase = {"none"};
        // the one driver (local on both sides, events, migrate-incoming, migrate); the faults strike in its hooks
        LocalMigration.Hooks faults = new LocalMigration.Hooks() {
            boolean injected;

            @Override
            public void beforeMigrate(String to) throws Exception {
                if (migrationId(tgt).equals(tgtPrevious)) {
                    violations.add("LegalStatusSequence: query-migrate right after migrate-incoming still reports the previous migration");
                }
                // the path appears at bind(), a moment before listen(): a connect in between is refused. Wait
                // (bounded) until the kernel lists it listening, so that the fault meets a listening target.
                Path sock = Path.of(to.substring("unix:".length()));
                if (!Retry.until(Duration.ofMillis(2_000), Duration.ofMillis(1), () -> SocketDropper.listening(tgt.pid(), sock))) {
                    // not a violation by itself (a loaded machine); the migration then fails to connect and the source resumes
                    detail.append("target not listening after 2 s; ");
                }
                if (beforeMigrate) {
                    phase[0] = "incoming";
                    injected = inject(fault, src, tgt, sock, detail);
                }
            }

            @Override
            public void afterMigrate(String to) throws Exception {
                if (!injected) {
                    long until = System.nanoTime() + delayUs * 1_000L;
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                    phase[0] = migrationStatusAfter(src, srcPrevious);
                    injected = inject(fault, src, tgt, Path.of(to.substring("unix:".length())), detail);
                }
                if (fault == ChaosFault.STOP_TARGET && injected) {
                    Thread.sleep(o.migrationTimeoutS() * 1000L + 500);
                    if (contAfterStop) {
                        signal(tgt, "CONT");
                        detail.append("; SIGCONT after ").append(o.migrationTimeoutS() * 1000 + 500).append(" ms");
                    } else {
                        tgt.sigkill();
                        detail.append("; SIGKILL after ").append(o.migrationTimeoutS() * 1000 + 500).append(" ms");
                    }
                }
            }

            @Override
            public boolean targetStaysAfterFailure() {
                return true; // processes are reused: a target whose migration failed stays for the next run
            }

            @Override
            public boolean sidesMayDie() {
                return true;
            }
        };
        long settleStart = System.nanoTime();
        long deadline = settleStart + TimeUnit.SECONDS.toNanos(settleBoundS(o.migrationTimeoutS()));
        LocalMigration.run(LocalMigration.Options.of(src.qmpSocket(), tgt.qmpSocket())
                .withUri(uri)
                .withTimeout(Duration.ofSeconds(settleBoundS(o.migrationTimeoutS()))), line -> { }, faults);
        // the driver waited for both sides; the runner reads their statuses through its own connections (a
        // status still short of final by the same bound is a liveness violation)
        String[] statuses = new String[2];
        Retry.until(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())), Duration.ofMillis(5), () -> {
            statuses[0] = src.isAlive() ? migrationStatusAfter(src, srcPrevious) : "dead";
            statuses[1] = tgt.isAlive() ? migrationStatusAfter(tgt, tgtPrevious) : "dead";
            return isFinal(statuses[0]) && isFinal(statuses[1]);
        });
        String srcStatus = statuses[0];
        String tgtStatus = statuses[1];
        if (!(isFinal(srcStatus) && isFinal(tgtStatus))) {
            violations.add("Liveness: no final status within " + settleBoundS(o.migrationTimeoutS()) + " s (source " + srcStatus
                    + ", target " + tgtStatus + ")");
        }
        long settleMs = (System.nanoTime() - settleStart) / 1_000_000;
        if (settleMs > 10_000) {
            detail.append("; settled after ").append(settleMs).append(" ms");
        }
        detail.append("; source ").append(srcStatus).append(", target ").append(tgtStatus);
        String srcError = src.isAlive() ? migrationError(src) : null;
        String tgtError = tgt.isAlive() ? migrationError(tgt) : null;
        if (srcError != null) {
            detail.append("; source error: ").append(srcError);
        }
        if (tgtError != null) {
            detail.append("; target error: ").append(tgtError);
        }

        // the rules: who owns the TAP now
        VmmProcess owner;
        String outcome;
        if (!src.isAlive()) {
            if (tgt.isAlive() && tgtStatus.equals("completed")) {
                owner = tgt;
                outcome = "source_killed_target_owns";
            } else {
                owner = null;
                outcome = "source_killed_device_lost";
            }
        } else if (srcStatus.equals("completed")) {
            owner = tgt;
            outcome = "completed";
            if (!tgt.isAlive()) {
                owner = null;
                if (fault == ChaosFault.KILL_TARGET || fault == ChaosFault.STOP_TARGET && !contAfterStop) {
                    // the fault struck after the hand-over: this run killed the TAP's new owner, so the device
                    // goes with it (checked below: the source released every queue, the TAP must disappear)
                    outcome = "completed_target_killed";
                } else {
                    violations.add("the source completed but the target is gone: nobody owns the TAP");
                }
            }
        } else {
            owner = src;
            outcome = srcStatus; // failed or cancelled
        }
        if (owner == tgt) {
            // after completed the target resumes by itself once the source's confirmation arrived (bounded wait);
            // a target that completed without it (the source died) stays paused and resumes on cont
            if (outcome.equals("completed")) {
                Retry.until(Duration.ofSeconds(2), Duration.ofMillis(10), () -> tgt.runState().equals("running"));
            }
            if (!tgt.runState().equals("running")) {
                tgt.execute("cont");
                detail.append("; cont on the target");
            }
        } else if (owner == src) {
            src.execute("cont");
        }
        if (owner != null) {
            if (!owner.runState().equals("running")) {
                violations.add(owner.name() + " (owner by the rules) is " + owner.runState() + " after cont");
            }
            if (!ping(3, 10)) {
                violations.add(owner.name() + " (owner by the rules after " + outcome + ") does not answer ping [" + diagnose(owner) + "]");
            }
        } else if (tapExists()) {
            // the target holds no queue: once the in-flight fds are closed the non-persistent TAP disappears
            if (!Retry.until(Duration.ofSeconds(10), Duration.ofMillis(10), () -> !tapExists())) {
                violations.add("device lost by the rules, but " + IFNAME + " still exists (someone still holds a queue)");
            }
        }
        long[] pings = stopTraffic(traffic);

        // descriptors: what each survivor holds against what it should
        int leaked = 0;
        List<VmmProcess> survivors = new ArrayList<>();
        if (src.isAlive()) {
            survivors.add(src);
        }
        if (tgt.isAlive()) {
            survivors.add(tgt);
        }
        for (VmmProcess v : survivors) {
            if (v == tgt && owner == src && "completed".equals(migrationStatus(v)) && "paused".equals(v.runState())) {
                // The documented undecidable case (docs/architecture.md, "Confirmation"): the channel broke
                // after the target loaded everything and before it heard completed or failed. It holds the
                // queues paused and reads nothing; which side lives is the operator's call. The runner acts as
                // the operator: the source was resumed, so this target is shut down (retired below).
                detail.append("; target completed unconfirmed, paused: operator decision (source resumed, target retired)");
                continue;
            }
            int tunWanted = v == owner ? o.queues() : 0;
            int socketsWanted = v == src ? srcBefore.sockets() : tgtBefore.sockets();
            ProcessCensus.FdKinds[] seen = {null};
            // closes after a failure are asynchronous
            Retry.until(Duration.ofSeconds(10), Duration.ofMillis(10), () -> {
                seen[0] = fds(v);
                return seen[0].tun() == tunWanted && seen[0].sockets() <= socketsWanted;
            });
            ProcessCensus.FdKinds now = seen[0];
            int extra = Math.max(0, now.tun() - tunWanted) + Math.max(0, now.sockets() - socketsWanted);
            leaked += extra;
            if (extra > 0 || now.tun() < tunWanted) {
                String state = v == tgt ? " [target " + migrationStatus(v) + ", " + v.runState() + "]" : "";
                if (v == tgt && owner == src && now.tun() > 0 && migrationStatus(v).equals("completed")) {
                    violations.add("TwoOwners: the source " + outcome + " and resumed on its queues while " + v.name()
                            + " completed (source-crash rule: paused, owns the TAP on cont) holding " + now.tun() + " of them" + state);
                }
                violations.add("FdConservation: " + v.name() + " holds " + now + ", should hold " + tunWanted + " TUN queue(s) and "
                        + socketsWanted + " socket(s)" + state + " [" + describeFds(v) + "]");
            }
        }

        if (!violations.isEmpty() || o.keepAllLogs()) {
            detail.append("; logs kept: ").append(keepLogs(index, seed, src, tgt));
        }

        // next run's processes
        if (owner == tgt) {
            retire(src);
            source = tgt;
        } else {
            if (owner == null) {
                retire(src);
                source = null;
            }
            if (tgt.isAlive() && tgtStatus.equals("failed") && violations.isEmpty() && tgt.runState().equals("inmigrate")) {
                reusable = tgt;
            } else {
                retire(tgt);
            }
        }
        long wallMs = (System.nanoTime() - t0) / 1_000_000;
        return new Run(index, seed, fault, moment, phase[0], outcome, owner == null ? "none" : owner == src ? "source" : "target",
                leaked, violations, pings[0], pings[1], wallMs, detail.toString().replaceFirst("^; ", ""));
    }

    /**
     * Copies the run's VMM logs out of the working directory (deleted at the end) for diagnosis:
     * {@code $LIVETAP_STATE_DIR/chaos-logs} (the launcher sets it to {@code .livetap}), else the temp directory.
     */
    private String keepLogs(int index, long seed, VmmProcess src, VmmProcess tgt) {
        String state = System.getenv("LIVETAP_STATE_DIR");
        Path into = (state != null ? Path.of(state) : Path.of(System.getProperty("java.io.tmpdir"))).resolve("chaos-logs");
        try {
            Files.createDirectories(into);
            for (VmmProcess v : List.of(src, tgt)) {
                if (Files.exists(v.log())) {
                    Files.copy(v.log(), into.resolve("run" + index + "-seed" + seed + "-" + v.name() + ".log"),
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return into.resolve("run" + index + "-seed" + seed + "-*.log").toString();
        } catch (IOException e) {
            return "could not copy the logs to " + into + ": " + e;
        }
    }

    /**
     * How long a run may take to reach final statuses: the product's own limits along its longest
     * path (livetap vmm --migration-timeout T: connect/accept T, the stop, save and rollback steps
     * of 10 s each, the stream limit max(60, T), the return path T) plus 10 s. A tighter bound
     * (it was 3T + 10 s) called a target a liveness failure while it was still inside its own 60 s
     * stream limit, on a machine so loaded that a woken JVM took 21 s to read a stream.
     */
    static long settleBoundS(int timeoutS) {
        return 2L * timeoutS + 3 * 10 + Math.max(60, timeoutS) + timeoutS + 10;
    }

    private static boolean isFinal(String s) {
        return s.equals("dead") || s.equals("completed") || s.equals("failed") || s.equals("cancelled");
    }

    /** Injects the fault now; false when it could not (the drop found no connection: the migration already ended). */
    private boolean inject(ChaosFault fault, VmmProcess src, VmmProcess tgt, Path sock, StringBuilder detail) throws Exception {
        switch (fault) {
            case KILL_SOURCE -> {
                src.sigkill();
                detail.append("SIGKILL source");
            }
            case KILL_TARGET -> {
                tgt.sigkill();
                detail.append("SIGKILL target");
            }
            case STOP_TARGET -> {
                signal(tgt, "STOP");
                detail.append("SIGSTOP target");
            }
            case DROP_SOCKET -> {
                OptionalInt[] found = {OptionalInt.empty()};
                Retry.until(Duration.ofMillis(100), Duration.ofMillis(1), () -> {
                    found[0] = SocketDropper.acceptedSocket(tgt.pid(), sock);
                    return found[0].isPresent();
                });
                OptionalInt fd = found[0];
                if (fd.isEmpty()) {
                    detail.append("no migration connection to drop (already closed)");
                    return true;
                }
                SocketDropper.shutdown(tgt.pid(), fd.getAsInt());
                detail.append("shutdown(SHUT_RDWR) on the target's migration socket fd ").append(fd.getAsInt());
            }
            default -> throw new IllegalStateException(fault.toString());
        }
        return true;
    }

    /** What a silent owner looks like from outside: the TAP's counters, the neighbour entry, its descriptors. */
    private String diagnose(VmmProcess owner) {
        String link = ns.exec(Duration.ofSeconds(5), "ip", "-s", "link", "show", IFNAME).output().replaceAll("\\s+", " ").trim();
        String neigh = ns.exec(Duration.ofSeconds(5), "ip", "neigh", "show", "dev", IFNAME).output().replaceAll("\\s+", " ").trim();
        return "link: " + link + "; neigh: " + neigh + "; " + owner.name() + " fds: " + describeFds(owner);
    }

    private boolean tapExists() {
        return ns.exec(Duration.ofSeconds(5), "ip", "link", "show", IFNAME).ok();
    }

    /** Every one of {@code count} echo requests answered (bounded by ping's own deadline). */
    private boolean ping(int count, int deadlineS) {
        return ns.exec(Duration.ofSeconds(deadlineS + 5), "ping", "-q", "-c", String.valueOf(count), "-i", "0.05", "-W", "1", "-w",
                String.valueOf(deadlineS), GUEST_IP).ok();
    }

    private Ping.Running startTraffic() throws IOException {
        return Ping.start(ns.wrap(List.of("ping", "-q", "-i", "0.005", "-w", "120", "-W", "1", GUEST_IP)), dir.resolve("traffic.out"));
    }

    /** SIGINT (ping prints its summary), then transmitted and received. */
    private long[] stopTraffic(Ping.Running p) throws Exception {
        p.interrupt(Duration.ofSeconds(5));
        return Ping.totals(p.output()).map(t -> new long[] {t.transmitted(), t.received()}).orElse(new long[] {0, 0});
    }

    private boolean closed;

    /** Ends every child (also from the shutdown hook: no process is started after this began), deletes the namespace. */
    @Override
    public synchronized void close() {
        closed = true;
        for (VmmProcess v : List.copyOf(all)) {
            try {
                closeVmm(v);
            } catch (RuntimeException e) {
                v.sigkill();
            }
        }
        all.clear();
        ns.close();
        try (var l = Files.list(dir)) {
            for (Path p : l.toList()) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            log.accept("chaos: could not remove " + dir + ": " + e);
        }
    }

    /** Outcome counts per fault: fault → outcome → runs. */
    public static Map<String, Map<String, Integer>> perFault(List<Run> runs) {
        Map<String, Map<String, Integer>> m = new TreeMap<>();
        for (Run r : runs) {
            m.computeIfAbsent(r.fault().id(), k -> new TreeMap<>()).merge(r.violations().isEmpty() ? r.outcome() : "violation", 1,
                    Integer::sum);
        }
        return m;
    }
}
