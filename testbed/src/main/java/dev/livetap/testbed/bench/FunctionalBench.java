package dev.livetap.testbed.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.report.Percentiles;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.guest.GuestImage;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.qemu.QemuProcess;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The seed's functional test ({@code test_tap_migration.py}) as a benchmark, one row per VMM and
 * method: the guest answers on a multiqueue TAP in a private namespace, {@code ping -D -O} runs
 * from the namespace at 1 ms ({@code -i 0} starves a TCG guest), one migration at a time through
 * {@link LocalMigration}, each with its own ping (settle, migrate, settle, SIGINT). Rows: real QEMU
 * with a Linux guest ({@code new-tap}: target {@code -S} on the other of two TAPs, switch, then
 * {@code cont}), and {@code livetap vmm} with its guest stand-in, by backend transfer
 * ({@code local}) and by {@code new-tap} (the baseline, the same sequence as for QEMU). Per
 * migration: frames lost, those lost outside the freeze ± {@link #MARGIN_MS} (the seed's rule:
 * none), the largest gap between replies, the common downtime (source STOP to target RESUME, QMP
 * event timestamps), the VMM's own {@code downtime} and its total time. Ping stops only once the
 * guest answers in real time again, so that a slow start after the freeze reads as a long gap, not as
 * losses.
 */
public final class FunctionalBench {
    /** The seed's rule: no reply lost outside the freeze widened by this much on each side. */
    public static final double MARGIN_MS = 10;
    static final String HOST_CIDR = "10.0.1.1/24";
    static final String GUEST = GuestImage.GUEST_ADDRESS;
    static final String GUEST_MAC = QemuProcess.GUEST_MAC;
    /** The MAC an old TAP takes when the host's MAC moves away from it. */
    static final String RETIRED_MAC = "02:00:00:00:00:01";
    static final int QUEUES = 2;
    static final Duration MIGRATION_TIMEOUT = Duration.ofSeconds(60);
    /** How long ping may go on after the settle while the guest does not answer in real time yet. */
    static final Duration ANSWERING_WAIT = Duration.ofSeconds(10);
    static final long ANSWERING_RECENT_MS = 100;

    /** A row of the table. */
    public enum RowKind {
        QEMU_NEW_TAP("qemu new-tap", "QEMU (TCG, Linux guest)", LocalMigration.Method.NEW_TAP),
        VMM_LOCAL("livetap local", "livetap vmm (guest stand-in)", LocalMigration.Method.LOCAL),
        VMM_NEW_TAP("livetap new-tap", "livetap vmm (guest stand-in)", LocalMigration.Method.NEW_TAP);

        private final String label;
        private final String vmm;
        private final LocalMigration.Method method;

        RowKind(String label, String vmm, LocalMigration.Method method) {
            this.label = label;
            this.vmm = vmm;
            this.method = method;
        }

        public String label() {
            return label;
        }
    }

    /**
     * @param migrations per row, one at a time
     * @param intervalMs ping's {@code -i} in ms
     * @param settle     ping alone before and after each migration
     * @param rows       which rows to run, in this order
     */
    public record Options(int migrations, double intervalMs, Duration settle, List<RowKind> rows, Consumer<String> progress) {
        public Options {
            if (migrations < 1 || migrations > 1000) {
                throw new IllegalArgumentException("--migrations must be 1 to 1000, got " + migrations);
            }
            if (!(intervalMs >= 0.2 && intervalMs <= 1000)) {
                throw new IllegalArgumentException("the ping interval must be 0.2 to 1000 ms, got " + intervalMs);
            }
            rows = List.copyOf(rows);
        }

        public static Options of(int migrations, Consumer<String> progress) {
            return new Options(migrations, 1.0, Duration.ofMillis(800), List.of(RowKind.values()), progress);
        }

        public Options withRows(List<RowKind> value) {
            return new Options(migrations, intervalMs, settle, value, progress);
        }
    }

    /**
     * One migration under ping.
     *
     * @param lostOutsideFreeze lost requests sent before STOP - margin or after RESUME + margin (or not
     *                          placeable: before the first or after the last answered one)
     * @param answeringAgain    the guest answered in real time again before ping was stopped
     * @param ruleFreezeMs      the freeze the seed's rule used (see {@link #sample}); -1 without one
     * @param lostAtMsFromStop  each lost request's (interpolated) send time relative to the freeze's start
     */
    public record Sample(int index, String status, String error, int sent, int lost, int lostOutsideFreeze,
            int answeredAfterResume, boolean answeringAgain, double largestGapMs, double stopToResumeMs, double vmmDowntimeMs,
            double livetapDowntimeMs, long totalMs, double switchMs, double ruleFreezeMs, List<Long> lostAtMsFromStop) {
        public Sample {
            lostAtMsFromStop = List.copyOf(lostAtMsFromStop);
        }

        public boolean completed() {
            return "completed".equals(status) && error == null;
        }

        ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("index", index);
            o.put("status", status);
            if (error != null) {
                o.put("error", error);
            }
            o.put("sent", sent);
            o.put("lost", lost);
            o.put("lost_outside_freeze", lostOutsideFreeze);
            o.put("answered_after_resume", answeredAfterResume);
            o.put("answering_again", answeringAgain);
            o.put("largest_gap_ms", round(largestGapMs));
            o.put("stop_to_resume_ms", round(stopToResumeMs));
            o.put("vmm_downtime_ms", vmmDowntimeMs);
            o.put("livetap_downtime_ms", round(livetapDowntimeMs));
            o.put("total_ms", totalMs);
            o.put("switch_ms", round(switchMs));
            o.put("rule_freeze_ms", round(ruleFreezeMs));
            var a = o.putArray("lost_at_ms_from_stop");
            lostAtMsFromStop.forEach(a::add);
            return o;
        }
    }

    /** One row: its samples, or why it did not run ({@code skipped}), or why it stopped ({@code failure}). */
    public record Row(String label, String vmm, String method, String skipped, String failure, List<Sample> samples) {
        public Row {
            samples = List.copyOf(samples);
        }

        static Row skipped(String label, String vmm, String method, String why) {
            return new Row(label, vmm, method, why, null, List.of());
        }

        public int completed() {
            return (int) samples.stream().filter(Sample::completed).count();
        }

        public int lost() {
            return samples.stream().mapToInt(Sample::lost).sum();
        }

        public int sent() {
            return samples.stream().mapToInt(Sample::sent).sum();
        }

        public int lostOutsideFreeze() {
            return samples.stream().mapToInt(Sample::lostOutsideFreeze).sum();
        }

        /** p50, p99 and max of {@code measure} over the completed samples where it is known (>= 0). */
        public Percentiles percentiles(ToDoubleFunction<Sample> measure) {
            List<Double> v = new ArrayList<>();
            for (Sample s : samples) {
                double x = measure.applyAsDouble(s);
                if (s.completed() && x >= 0) {
                    v.add(x);
                }
            }
            return Percentiles.of(v);
        }

        /** Stop -> resume over the completed samples with both events, negative ones (stamped out of order) included. */
        public Percentiles stopToResume() {
            return Percentiles.of(samples.stream().filter(s -> s.completed() && s.ruleFreezeMs() >= 0)
                    .map(Sample::stopToResumeMs).toList());
        }

        ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("row", label);
            o.put("vmm", vmm);
            o.put("method", method);
            if (skipped != null) {
                o.put("skipped", skipped);
                return o;
            }
            if (failure != null) {
                o.put("failure", failure);
            }
            o.put("migrations", samples.size());
            o.put("completed", completed());
            o.put("sent", sent());
            o.put("lost", lost());
            o.put("lost_outside_freeze", lostOutsideFreeze());
            putPercentiles(o, "lost_per_migration", percentiles(Sample::lost));
            putPercentiles(o, "largest_gap_ms", percentiles(Sample::largestGapMs));
            putPercentiles(o, "stop_to_resume_ms", stopToResume());
            putPercentiles(o, "vmm_downtime_ms", percentiles(Sample::vmmDowntimeMs));
            putPercentiles(o, "livetap_downtime_ms", percentiles(Sample::livetapDowntimeMs));
            putPercentiles(o, "total_ms", percentiles(s -> s.totalMs()));
            putPercentiles(o, "switch_ms", percentiles(Sample::switchMs));
            putPercentiles(o, "rule_freeze_ms", percentiles(Sample::ruleFreezeMs));
            var a = o.putArray("samples");
            samples.forEach(s -> a.add(s.toJson()));
            return o;
        }
    }

    /** The whole run. */
    public record Report(String started, String machine, String loadStart, String loadEnd, int migrations, double intervalMs,
            List<Row> rows, long wallMs) {
        public Report {
            rows = List.copyOf(rows);
        }

        /** Every row that ran kept the seed's rule and completed every migration. */
        public boolean passed() {
            return rows.stream().filter(r -> r.skipped() == null)
                    .allMatch(r -> r.failure() == null && r.completed() == r.samples().size() && r.lostOutsideFreeze() == 0);
        }

        public ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("started", started);
            o.put("machine", machine);
            o.put("load_average_start", loadStart);
            o.put("load_average_end", loadEnd);
            o.put("migrations_per_row", migrations);
            o.put("ping_interval_ms", intervalMs);
            o.put("freeze_margin_ms", MARGIN_MS);
            o.put("passed", passed());
            o.put("wall_ms", wallMs);
            var a = o.putArray("rows");
            rows.forEach(r -> a.add(r.toJson()));
            return o;
        }

        /** The human table. */
        public String format() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "functional bench %s, %s, load %s -> %s; ping -D -O -i %s from the namespace, "
                    + "%d migrations per row, one at a time%n", started, machine, loadStart, loadEnd, intervalArg(intervalMs),
                    migrations));
            sb.append(String.format(Locale.ROOT, "%-16s %-7s %-14s %-9s %-16s %-16s %-16s %-14s %-14s%n", "row", "done",
                    "lost/sent", "outside", "largest gap", "stop->resume", "vmm downtime", "total", "switch"));
            sb.append(String.format(Locale.ROOT, "%-16s %-7s %-14s %-9s %-16s %-16s %-16s %-14s %-14s%n", "", "", "",
                    "freeze±10", "p50/p99 ms", "p50/p99 ms", "p50/p99 ms", "p50/p99 ms", "p50 ms"));
            for (Row r : rows) {
                if (r.skipped() != null) {
                    sb.append(String.format(Locale.ROOT, "%-16s skipped: %s%n", r.label(), r.skipped()));
                    continue;
                }
                Percentiles sw = r.percentiles(Sample::switchMs);
                sb.append(String.format(Locale.ROOT, "%-16s %-7s %-14s %-9d %-16s %-16s %-16s %-14s %-14s%n", r.label(),
                        r.completed() + "/" + r.samples().size(), r.lost() + "/" + r.sent(), r.lostOutsideFreeze(),
                        pair(r.percentiles(Sample::largestGapMs)), pair(r.stopToResume()),
                        pair(r.percentiles(Sample::vmmDowntimeMs)), pair(r.percentiles(s -> s.totalMs())),
                        sw.count() == 0 ? "-" : String.format(Locale.ROOT, "%.1f", sw.p50())));
                if (r.failure() != null) {
                    sb.append("  stopped: ").append(r.failure()).append('\n');
                }
            }
            sb.append(String.format(Locale.ROOT, "seed's rule (no reply lost outside the freeze ± %.0f ms): %s; wall %.1f s%n",
                    MARGIN_MS, passed() ? "kept" : "BROKEN", wallMs / 1000.0));
            return sb.toString();
        }
    }

    private FunctionalBench() {
    }

    /** Runs the rows in order, then the vhost rows as skipped with the reason. */
    public static Report run(Options o) throws IOException, InterruptedException {
        String started = Instant.now().toString();
        String load0 = DowntimeBench.loadAverage();
        long t0 = System.nanoTime();
        List<Row> rows = new ArrayList<>();
        for (RowKind kind : o.rows()) {
            o.progress().accept("== " + kind.label() + " (" + kind.vmm + ") ==");
            Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltf");
            try {
                rows.add(kind == RowKind.QEMU_NEW_TAP ? qemuNewTap(o, dir) : vmm(o, dir, kind));
            } finally {
                DowntimeBench.deleteTree(dir);
            }
        }
        String vhostWhy = Files.exists(Path.of("/dev/vhost-net")) ? "/dev/vhost-net exists, but this bench has no vhost rows yet"
                : "no /dev/vhost-net on this kernel (CONFIG_VHOST_NET is not set)";
        rows.add(Row.skipped("qemu vhost", "QEMU", "new-tap", vhostWhy));
        rows.add(Row.skipped("livetap vhost", "livetap vmm", "local", vhostWhy));
        return new Report(started, machine(), load0, DowntimeBench.loadAverage(), o.migrations(), o.intervalMs(), rows,
                (System.nanoTime() - t0) / 1_000_000);
    }

    /** Real QEMU with the Linux guest, new-tap between two persistent TAPs (lt0, lt1) taken in turn. */
    public static Row qemuNewTap(Options o, Path dir) throws IOException, InterruptedException {
        RowKind kind = RowKind.QEMU_NEW_TAP;
        String method = kind.method.wireName();
        if (!QemuProcess.isAvailable()) {
            return Row.skipped(kind.label(), kind.vmm, method, QemuProcess.unavailabilityCause().orElseThrow());
        }
        if (NetworkNamespace.unavailabilityCause().isPresent()) {
            return Row.skipped(kind.label(), kind.vmm, method, NetworkNamespace.unavailabilityCause().orElseThrow());
        }
        GuestImage image;
        try {
            image = GuestImage.obtain(GuestImage.defaultCacheRoot());
        } catch (GuestImage.UnavailableException e) {
            return Row.skipped(kind.label(), kind.vmm, method, "no guest image: " + e.getMessage());
        }
        o.progress().accept("  " + image.describe().lines().findFirst().orElse(""));
        List<Sample> samples = new ArrayList<>();
        List<QemuProcess> qemus = new ArrayList<>();
        String failure = null;
        try (NetworkNamespace ns = NetworkNamespace.create("f", List.of(dir))) {
            ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            ns.addMultiqueueTap(qemuTap(0), HOST_CIDR);
            ns.run("ip", "tuntap", "add", "dev", qemuTap(1), "mode", "tap", "multi_queue", "vnet_hdr");
            try {
                QemuProcess source = QemuProcess.startGuest(dir, "q0", QemuProcess.Guest.of(image, QUEUES,
                        new QemuProcess.TapByName(qemuTap(0))), ns, false, false);
                qemus.add(source);
                long boot = System.nanoTime();
                if (!source.awaitQmpSocket(Duration.ofSeconds(30)) || !ns.awaitReply(GUEST, Duration.ofSeconds(90))) {
                    throw new IOException("the guest did not answer ping: " + source.process().describe() + "\n" + source.console());
                }
                o.progress().accept(String.format(Locale.ROOT, "  guest answers %.1f s after QEMU started", (System.nanoTime() - boot) / 1e9));
                String hostMac = mac(ns, qemuTap(0));
                for (int k = 1; k <= o.migrations(); k++) {
                    String from = qemuTap(k - 1);
                    String to = qemuTap(k);
                    QemuProcess target = QemuProcess.startGuest(dir, "q" + k, QemuProcess.Guest.of(image, QUEUES,
                            new QemuProcess.TapByName(to)), ns, true, true);
                    qemus.add(target);
                    if (!target.awaitQmpSocket(Duration.ofSeconds(30))) {
                        throw new IOException("target QEMU without a QMP socket: " + target.process().describe());
                    }
                    LocalMigration.Options m = LocalMigration.Options.of(source.qmpSocket(), target.qmpSocket())
                            .withUri("unix:" + dir.resolve("m" + k + ".sock")).withMethod(LocalMigration.Method.NEW_TAP)
                            .withTimeout(MIGRATION_TIMEOUT).withNetworkSwitch(() -> switchNetwork(ns, dir, from, to, hostMac));
                    Sample s = underPing(o, ns, dir, k, () -> LocalMigration.run(m, line -> { }));
                    samples.add(s);
                    say(o, kind, s);
                    source.close();
                    qemus.remove(source);
                    source = target;
                    if (!s.completed()) {
                        failure = "migration " + k + ": " + s.status() + (s.error() == null ? "" : " (" + s.error() + ")");
                        break;
                    }
                    if (!s.answeringAgain()) {
                        // a guest that stopped answering would make every further row entry a loss: stop, show why
                        failure = "migration " + k + ": the guest did not answer in real time within " + ANSWERING_WAIT.toSeconds()
                                + " s after it; its console ends: " + lastLines(target.console(), 3);
                        break;
                    }
                }
            } catch (IOException | TimeoutException | RuntimeException e) {
                failure = e.toString();
                o.progress().accept("  stopped: " + failure);
            } finally {
                qemus.forEach(QemuProcess::close);
            }
        }
        return new Row(kind.label(), kind.vmm, method, null, failure, samples);
    }

    /**
     * {@code livetap vmm}: a source S and two target processes P, Q with one incoming endpoint per
     * hop each (S → P.p0 → Q.q0 → P.p1 ...), as {@link DowntimeBench}. {@code local}: every target
     * waits for the TAP {@code lt0}'s fds; {@code new-tap}: targets start paused, each opens its own
     * TAP {@code ltbK}, the switch moves the host's side, then {@code cont}.
     */
    public static Row vmm(Options o, Path dir, RowKind kind) throws IOException, InterruptedException {
        String method = kind.method.wireName();
        if (NetworkNamespace.unavailabilityCause().isPresent()) {
            return Row.skipped(kind.label(), kind.vmm, method, NetworkNamespace.unavailabilityCause().orElseThrow());
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return Row.skipped(kind.label(), kind.vmm, method, "/dev/net/tun is missing");
        }
        boolean local = kind.method == LocalMigration.Method.LOCAL;
        int perSide = (o.migrations() + 1) / 2;
        List<Sample> samples = new ArrayList<>();
        List<VmmProcess> children = new ArrayList<>();
        String failure = null;
        try (NetworkNamespace ns = NetworkNamespace.create("f", List.of(dir))) {
            try {
                ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
                VmmProcess s = VmmProcess.start(VmmProcess.Options.of(dir, "s").withPrefix(ns.wrap(List.of())));
                children.add(s);
                for (String side : List.of("p", "q")) {
                    children.add(VmmProcess.start(VmmProcess.Options.of(dir, side).withQmp(null).withPrefix(ns.wrap(List.of()))
                            .withIncoming(true).withPaused(!local).withReadyLines(perSide).withArgs(List.of("--vms",
                                    String.valueOf(perSide), "--qmp-dir", dir.resolve(side).toString(), "--name", side))));
                }
                for (VmmProcess c : children) {
                    c.awaitReady(Duration.ofSeconds(120));
                }
                o.progress().accept("  VMM processes ready (" + perSide + " target endpoints each); load " + DowntimeBench.loadAverage());
                Path srcPath = dir.resolve("s.qmp");
                String tap0 = vmmTap(local, 0);
                try (QmpClient src = DowntimeBench.connect(srcPath)) {
                    VmmProcess.addNic(src, tap0, QUEUES, false, GUEST_MAC);
                }
                ns.addressUp(tap0, HOST_CIDR);
                if (!ns.awaitReply(GUEST, Duration.ofSeconds(30))) {
                    throw new IOException("the guest stand-in did not answer ping");
                }
                String hostMac = mac(ns, tap0);
                for (int k = 1; k <= o.migrations(); k++) {
                    int h = k - 1;
                    Path tgtPath = h % 2 == 0 ? dir.resolve("p").resolve("p" + (h / 2) + ".qmp")
                            : dir.resolve("q").resolve("q" + (h / 2) + ".qmp");
                    String from = vmmTap(local, k - 1);
                    String to = vmmTap(local, k);
                    // the bench's own connections close before the migration: only the driver's see its events
                    try (QmpClient tgt = DowntimeBench.connect(tgtPath)) {
                        VmmProcess.addNic(tgt, to, QUEUES, local, GUEST_MAC);
                    }
                    LocalMigration.Options m = LocalMigration.Options.of(srcPath, tgtPath).withUri("unix:" + dir.resolve("m" + k + ".sock"))
                            .withMethod(kind.method).withTimeout(MIGRATION_TIMEOUT);
                    if (!local) {
                        m = m.withNetworkSwitch(() -> switchNetwork(ns, dir, from, to, hostMac));
                    }
                    LocalMigration.Options run = m;
                    Sample sample = underPing(o, ns, dir, k, () -> LocalMigration.run(run, line -> { }));
                    samples.add(sample);
                    say(o, kind, sample);
                    quit(srcPath);
                    srcPath = tgtPath;
                    if (!sample.completed()) {
                        failure = "migration " + k + ": " + sample.status() + (sample.error() == null ? "" : " (" + sample.error() + ")");
                        break;
                    }
                    if (!sample.answeringAgain()) {
                        failure = "migration " + k + ": the guest stand-in did not answer in real time within "
                                + ANSWERING_WAIT.toSeconds() + " s after it";
                        break;
                    }
                }
            } catch (IOException | TimeoutException | RuntimeException e) {
                StringBuilder sb = new StringBuilder(e.toString());
                for (VmmProcess c : children) {
                    sb.append("\n--- ").append(c.name()).append(" stderr:\n").append(c.tail());
                }
                failure = sb.toString();
                o.progress().accept("  stopped: " + failure);
            } finally {
                children.forEach(VmmProcess::close);
            }
        }
        return new Row(kind.label(), kind.vmm, method, null, failure, samples);
    }

    @FunctionalInterface
    interface Migration {
        LocalMigration.Result run() throws IOException, TimeoutException;
    }

    /** A ping of its own around one migration: settle, migrate, settle, SIGINT; then the seed's rule. */
    static Sample underPing(Options o, NetworkNamespace ns, Path dir, int k, Migration migration)
            throws IOException, TimeoutException, InterruptedException {
        Path out = dir.resolve("ping-" + k + ".out");
        // nice -10: ping is the instrument and must not queue behind the VMMs (nice and ip exec it: the pid is ping's)
        List<String> cmd = ns.wrap(List.of("nice", "-n", "-10", "ping", "-D", "-O", "-n", "-i", intervalArg(o.intervalMs()),
                "-W", "1", "-w", "600", GUEST));
        LocalMigration.Result r;
        long stopWallNanos;
        boolean answering;
        try (Ping.Running ping = Ping.start(cmd, out)) {
            Thread.sleep(o.settle().toMillis());
            r = migration.run();
            Thread.sleep(o.settle().toMillis());
            answering = awaitAnswering(out, ANSWERING_WAIT);
            Instant now = Instant.now();
            stopWallNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
            ping.interrupt(Duration.ofSeconds(10));
        }
        // ping -D prints the host's wall clock, as the QMP event timestamps: no offset
        Ping log = Ping.parse(Files.readAllLines(out, StandardCharsets.UTF_8), 0, Math.round(o.intervalMs() * 1e6));
        int cutOff = log.cutOffAfter(stopWallNanos - 50_000_000L);
        Instant wall = Instant.now();
        long mono = System.nanoTime();
        return sample(k, r, log, cutOff, answering, wall.getEpochSecond() * 1_000_000_000L + wall.getNano() - mono);
    }

    /**
     * Waits (bounded) until the guest answers in real time again: the last reply ping printed arrived
     * within {@link #ANSWERING_RECENT_MS} and took less than that. A fresh TCG target can stall for a
     * second after {@code cont} (its translation cache is empty) on a loaded host; a ping stopped
     * meanwhile would count requests still in flight as lost.
     */
    static boolean awaitAnswering(Path out, Duration max) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + max.toNanos();
        long recent = ANSWERING_RECENT_MS * 1_000_000L;
        while (System.nanoTime() - deadline < 0) {
            Ping.Line last = null;
            for (String text : Files.readAllLines(out, StandardCharsets.UTF_8)) {
                Ping.Line l = Ping.line(text).orElse(null);
                if (l != null && l.answered()) {
                    last = l;
                }
            }
            Instant now = Instant.now();
            long nowNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
            if (last != null && nowNanos - last.wallNanos() < recent && last.rttNanos() < recent) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }

    /**
     * The seed's rule over one parsed ping: a request lost (never answered, the last {@code cutOff}
     * excepted: SIGINT caught them in flight) counts outside the freeze when it was sent before
     * its start - {@link #MARGIN_MS} or after its end + {@link #MARGIN_MS}; without a freeze (no STOP
     * or no RESUME) every lost request is outside. The freeze is the source's STOP to the target's
     * RESUME event, widened to livetap's own stamps ({@code x-source-stopped-ns},
     * {@code x-target-started-ns}, CLOCK_MONOTONIC, moved to the wall clock with
     * {@code wallMinusMonotonicNanos}) where a VMM reports them: livetap stamps its QMP events when it
     * writes them, which can be well after its queues stopped.
     */
    static Sample sample(int k, LocalMigration.Result r, Ping log, int cutOff, boolean answering, long wallMinusMonotonicNanos) {
        long stop = r.stopWallMicros() * 1000;
        long resume = r.resumeWallMicros() * 1000;
        boolean frozen = r.stopWallMicros() >= 0 && r.resumeWallMicros() >= 0;
        if (frozen && r.sourceInfo().has("x-source-stopped-ns")) {
            stop = Math.min(stop, r.sourceInfo().get("x-source-stopped-ns").asLong() + wallMinusMonotonicNanos);
        }
        if (frozen && r.targetInfo().has("x-target-started-ns")) {
            resume = Math.max(resume, r.targetInfo().get("x-target-started-ns").asLong() + wallMinusMonotonicNanos);
        }
        long margin = Math.round(MARGIN_MS * 1e6);
        List<Ping.Request> requests = log.requests().subList(0, log.requests().size() - cutOff);
        int lost = 0;
        int outside = 0;
        int afterResume = 0;
        List<Long> at = new ArrayList<>();
        for (Ping.Request q : requests) {
            if (q.answered()) {
                if (frozen && q.sentNanos() > resume) {
                    afterResume++;
                }
                continue;
            }
            lost++;
            if (frozen) {
                at.add(Math.round((q.sentNanos() - stop) / 1e6));
            }
            if (!frozen || q.sentNanos() < stop - margin || q.sentNanos() > resume + margin) {
                outside++;
            }
        }
        return new Sample(k, r.status(), r.error(), requests.size(), lost, outside, afterResume, answering, log.largestReplyGapMs(),
                r.stopToResumeMs(), r.vmmDowntimeMs(), r.downtimeMs(), r.totalMs(), r.switchMs(),
                frozen ? Math.max(0, resume - stop) / 1e6 : -1, at);
    }

    /**
     * new-tap's switch on the host's side, one {@code ip -batch} ({@code -force}: the source's
     * non-persistent TAP is gone once its process ended): the old TAP down, its address flushed and
     * its MAC retired; the host's MAC and address on the new TAP, up; the guest's neighbour entry
     * pinned (as the demo does) so the first frames need no ARP.
     */
    static void switchNetwork(NetworkNamespace ns, Path dir, String from, String to, String hostMac) throws IOException {
        Path batch = dir.resolve("switch-" + to + ".ip");
        List<String> oldSide = List.of("link set " + from + " down", "addr flush dev " + from,
                "link set " + from + " address " + RETIRED_MAC);
        List<String> newSide = List.of("link set " + to + " address " + hostMac, "addr add " + HOST_CIDR + " dev " + to,
                "link set " + to + " up", "neigh replace " + GUEST + " lladdr " + GUEST_MAC + " dev " + to + " nud permanent");
        List<String> lines = new ArrayList<>(oldSide);
        lines.addAll(newSide);
        Files.writeString(batch, String.join("\n", lines) + "\n");
        HostCommand.Result r = ns.exec(Duration.ofSeconds(10), "ip", "-force", "-batch", batch.toString());
        // a failed line of the old side may happen (the TAP went with its source); one of the new side may not
        Matcher failed = Pattern.compile("Command failed " + Pattern.quote(batch.toString()) + ":(\\d+)").matcher(r.output());
        while (failed.find()) {
            if (Integer.parseInt(failed.group(1)) > oldSide.size()) {
                throw new IOException("network switch " + from + " -> " + to + ": " + r.output().strip());
            }
        }
        if (r.exitCode() < 0) {
            throw new IOException("network switch " + from + " -> " + to + ": " + r.output().strip());
        }
    }

    /** {@code quit} through a fresh connection, bounded (a stalled endpoint is left to its process's end). */
    private static void quit(Path qmp) {
        try (QmpClient q = DowntimeBench.connect(qmp)) {
            q.request("quit", null, List.of(), Duration.ofSeconds(3));
        } catch (IOException | TimeoutException | RuntimeException gone) {
            // closed by the endpoint, the process, or the timeout
        }
    }

    private static String qemuTap(int k) {
        return "lt" + (k % 2);
    }

    private static String vmmTap(boolean local, int k) {
        return local ? "lt0" : "ltb" + k;
    }

    private static String mac(NetworkNamespace ns, String ifname) {
        NetworkNamespace.Link link = ns.link(ifname);
        return link.mac().orElseThrow(() -> new IllegalStateException("no MAC on " + ifname + ": " + link));
    }

    private static String lastLines(String text, int n) {
        List<String> lines = text.strip().lines().toList();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    private static void say(Options o, RowKind kind, Sample s) {
        o.progress().accept(String.format(Locale.ROOT, "  %s %2d: %-9s lost %d/%d (outside freeze %d), largest gap %.1f ms, "
                + "stop->resume %.1f ms, vmm downtime %.0f ms, total %d ms%s", kind.label(), s.index(), s.status(), s.lost(),
                s.sent(), s.lostOutsideFreeze(), s.largestGapMs(), s.stopToResumeMs(), s.vmmDowntimeMs(), s.totalMs(),
                s.error() == null ? "" : " (" + s.error() + ")"));
    }

    static String intervalArg(double ms) {
        return String.format(Locale.ROOT, "%.4f", ms / 1000.0).replaceAll("0+$", "");
    }

    private static String pair(Percentiles p) {
        return p.count() == 0 ? "-" : String.format(Locale.ROOT, "%.1f/%.1f", p.p50(), p.p99());
    }

    private static void putPercentiles(ObjectNode o, String name, Percentiles p) {
        ObjectNode n = o.putObject(name);
        if (p.count() > 0) {
            n.put("p50", round(p.p50()));
            n.put("p99", round(p.p99()));
            n.put("max", round(p.max()));
        }
        n.put("count", p.count());
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** "N cores, M GiB, kernel K, QEMU version": what the table ran on. */
    static String machine() {
        String kernel = System.getProperty("os.version");
        long memGiB = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    memGiB = Math.round(Long.parseLong(line.replaceAll("\\D", "")) / 1024.0 / 1024.0);
                }
            }
        } catch (IOException | NumberFormatException e) {
            memGiB = -1;
        }
        return Runtime.getRuntime().availableProcessors() + " cores, " + memGiB + " GiB, Linux " + kernel + ", Java "
                + System.getProperty("java.version");
    }
}
