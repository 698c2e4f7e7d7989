package dev.livetap.testbed.demo;

import dev.livetap.testbed.Ping;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.report.Percentiles;
import dev.livetap.report.Table;
import java.util.ArrayList;
import java.util.List;

/**
 * What one mode of the demo (backend transfer or baseline) measured, reduced to the figures the
 * table and the JSON show. Pure: built from the migrations' monotonic stamps and the parsed ping
 * log, so that it is tested without processes.
 */
public final class DemoSummary {
    /** The JSON names of the two modes. */
    public static final String BACKEND_TRANSFER = "backend_transfer";
    public static final String BASELINE = "baseline";

    /**
     * One migration: its status, its downtime (ms, -1 unknown) and its freeze window, the
     * source's last queue stop and the target's last queue start (CLOCK_MONOTONIC ns, 0 unknown),
     * and what the demo did while the source held the freeze (null: no hold).
     */
    public record Migration(int index, String from, String to, String status, double downtimeMs, long stoppedNanos,
            long startedNanos, String error, HeldFreeze hold) {
        public Migration(int index, String from, String to, String status, double downtimeMs, long stoppedNanos,
                long startedNanos, String error) {
            this(index, from, to, status, downtimeMs, stoppedNanos, startedNanos, error, null);
        }

        /** Probes provably written into the TAP inside this freeze (see {@link HeldFreeze#held}). */
        public int probesHeld() {
            return hold == null ? 0 : hold.held(stoppedNanos, startedNanos);
        }

        public boolean completed() {
            return "completed".equals(status);
        }

        public boolean hasWindow() {
            return stoppedNanos > 0 && startedNanos >= stoppedNanos;
        }

        public long[] window() {
            return new long[] {stoppedNanos, startedNanos};
        }
    }

    private final String mode;
    private final List<Migration> migrations;
    private final Ping ping;
    private final List<Integer> inFreezePerMigration;
    private final Percentiles downtime;
    private final Percentiles switchMs;
    private final Percentiles heldMs;
    private final int cutOff;

    /**
     * @param ping null when no real ping ran (stand-in run)
     * @param networkSwitchMs the baseline's switch-over times (empty for backend transfer)
     * @param cutOffAtStop requests still in flight when ping was stopped ({@link Ping#cutOffAfter}):
     *                     not counted as sent nor lost
     */
    public DemoSummary(String mode, List<Migration> migrations, Ping ping, List<Double> networkSwitchMs, int cutOffAtStop) {
        this.cutOff = ping == null ? 0 : cutOffAtStop;
        this.mode = mode;
        this.migrations = List.copyOf(migrations);
        this.ping = ping;
        List<Integer> per = new ArrayList<>();
        List<Double> downtimes = new ArrayList<>();
        for (Migration m : this.migrations) {
            per.add(ping != null && m.hasWindow() ? ping.requestsInside(List.<long[]>of(m.window())) : 0);
            if (m.completed() && m.downtimeMs() >= 0) {
                downtimes.add(m.downtimeMs());
            }
        }
        this.inFreezePerMigration = List.copyOf(per);
        this.downtime = Percentiles.of(downtimes);
        this.switchMs = Percentiles.of(networkSwitchMs);
        this.heldMs = Percentiles.of(this.migrations.stream().filter(m -> m.hold() != null)
                .mapToDouble(m -> m.hold().heldMs(m.stoppedNanos())).filter(v -> v >= 0).boxed().toList());
    }

    /** Probes written during the held freezes (whether or not the checks around them held). */
    public int probesSent() {
        return migrations.stream().filter(m -> m.hold() != null).mapToInt(m -> m.hold().probesWritten()).sum();
    }

    /** Probes the guest answered: with backend transfer all of them, with the baseline those the switch did not lose. */
    public int probesAnswered() {
        return migrations.stream().filter(m -> m.hold() != null).mapToInt(m -> m.hold().probesAnswered()).sum();
    }

    /** Freezes into which no probe was provably written (QMP status and the VMMs' stamps around the writes). */
    public int freezesWithoutProbe() {
        return (int) migrations.stream().filter(m -> m.probesHeld() == 0).count();
    }

    /** The held part of each freeze: source stop to migrate-continue (ms). */
    public Percentiles heldFreeze() {
        return heldMs;
    }

    /** Ping requests that were never answered, sent times (monotonic ns): the report marks them. */
    public List<Ping.Request> pingRequests() {
        return ping == null ? List.of() : ping.requests();
    }

    public String mode() {
        return mode;
    }

    public List<Migration> migrations() {
        return migrations;
    }

    public int completed() {
        return (int) migrations.stream().filter(Migration::completed).count();
    }

    public Percentiles downtime() {
        return downtime;
    }

    public boolean hasPing() {
        return ping != null;
    }

    public int framesSent() {
        return ping == null ? 0 : ping.transmitted() - cutOff;
    }

    public int cutOffAtStop() {
        return cutOff;
    }

    public int framesReceived() {
        return ping == null ? 0 : ping.received();
    }

    public int framesLost() {
        return ping == null ? 0 : framesSent() - ping.received();
    }

    public double rttMaxMs() {
        return ping == null ? Double.NaN : ping.rttMaxMs();
    }

    public double rttMedianMs() {
        return ping == null ? Double.NaN : ping.rttMedianMs();
    }

    /** Worst extra delay: the largest RTT minus the median RTT (what a freeze added to one request). */
    public double extraDelayMaxMs() {
        return ping == null ? Double.NaN : Math.max(0, ping.rttMaxMs() - ping.rttMedianMs());
    }

    /** Requests sent inside any freeze window [source stop, target start]. */
    public int requestsInFreeze() {
        if (ping == null) {
            return 0;
        }
        List<long[]> windows = migrations.stream().filter(Migration::hasWindow).map(Migration::window).toList();
        return ping.requestsInside(windows);
    }

    public List<Integer> requestsInFreezePerMigration() {
        return inFreezePerMigration;
    }

    /** Migrations whose freeze window no ping request fell into: for those the run shows nothing. */
    public int migrationsWithoutRequestInFreeze() {
        return (int) inFreezePerMigration.stream().filter(n -> n == 0).count();
    }

    /**
     * A mode proves something only if every migration completed and every freeze held at least one
     * probe (written while QMP said {@code pre-switchover}, inside the VMMs' own freeze stamps):
     * otherwise "no frame lost" says nothing about that freeze. Ping's luck no longer decides.
     */
    public boolean provesSomething() {
        return !migrations.isEmpty() && completed() == migrations.size() && freezesWithoutProbe() == 0;
    }

    /** The table of both modes, one column per mode. */
    public static String table(List<DemoSummary> modes) {
        String[] header = new String[modes.size() + 1];
        header[0] = "";
        for (int i = 0; i < modes.size(); i++) {
            header[i + 1] = modes.get(i).mode().replace('_', ' ');
        }
        Table t = new Table(header);
        t.row(cells("migrations completed", modes, s -> s.completed() + "/" + s.migrations().size()));
        t.row(cells("downtime p50 (ms)", modes, s -> Table.format(s.downtime().p50())));
        t.row(cells("downtime p99 (ms)", modes, s -> Table.format(s.downtime().p99())));
        t.row(cells("network switch p50 (ms)", modes, s -> s.switchMs.count() == 0 ? "-" : Table.format(s.switchMs.p50())));
        t.row(cells("ping requests sent", modes, s -> s.hasPing() ? String.valueOf(s.framesSent()) : "-"));
        t.row(cells("ping replies received", modes, s -> s.hasPing() ? String.valueOf(s.framesReceived()) : "-"));
        t.row(cells("lost", modes, s -> s.hasPing() ? String.valueOf(s.framesLost()) : "-"));
        t.row(cells("rtt median (ms)", modes, s -> Table.format(s.rttMedianMs())));
        t.row(cells("worst extra delay (ms)", modes, s -> Table.format(s.extraDelayMaxMs())));
        t.row(cells("requests inside freezes", modes, s -> s.hasPing() ? String.valueOf(s.requestsInFreeze()) : "-"));
        t.row(cells("freezes without a request", modes, s -> s.hasPing() ? String.valueOf(s.migrationsWithoutRequestInFreeze()) : "-"));
        t.row(cells("held freeze p50 (ms)", modes, s -> Table.format(s.heldFreeze().p50())));
        t.row(cells("held freeze p99 (ms)", modes, s -> Table.format(s.heldFreeze().p99())));
        t.row(cells("probes written in freezes", modes, s -> String.valueOf(s.probesSent())));
        t.row(cells("probes answered", modes, s -> String.valueOf(s.probesAnswered())));
        t.row(cells("freezes without a probe", modes, s -> String.valueOf(s.freezesWithoutProbe())));
        return t.toString();
    }

    private static Object[] cells(String label, List<DemoSummary> modes, java.util.function.Function<DemoSummary, String> f) {
        Object[] row = new Object[modes.size() + 1];
        row[0] = label;
        for (int i = 0; i < modes.size(); i++) {
            row[i + 1] = f.apply(modes.get(i));
        }
        return row;
    }

    /** This mode's JSON object (a member of the demo's one object). */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("migrations", migrations.size());
        o.put("migrations_completed", completed());
        ObjectNode d = o.putObject("downtime_ms");
        d.put("count", downtime.count());
        number(d, "p50", downtime.p50());
        number(d, "p99", downtime.p99());
        number(d, "max", downtime.max());
        if (switchMs.count() > 0) {
            ObjectNode s = o.putObject("network_switch_ms");
            s.put("count", switchMs.count());
        number(s, "p50", switchMs.p50());
            number(s, "p99", switchMs.p99());
        }
        if (ping != null) {
            o.put("frames_sent", framesSent());
            o.put("frames_received", framesReceived());
            o.put("frames_lost", framesLost());
            o.put("frames_cut_off_at_stop", cutOff);
        } else {
            o.putNull("frames_sent");
            o.putNull("frames_received");
            o.putNull("frames_lost");
        }
        number(o, "rtt_ms_median", rttMedianMs());
        number(o, "rtt_ms_max", rttMaxMs());
        number(o, "extra_delay_ms_max", extraDelayMaxMs());
        o.put("requests_in_freeze", requestsInFreeze());
        var per = o.putArray("requests_in_freeze_per_migration");
        inFreezePerMigration.forEach(per::add);
        o.put("proves_something", provesSomething());
        o.put("probes_sent", probesSent());
        o.put("probes_answered", probesAnswered());
        o.put("freezes_without_probe", freezesWithoutProbe());
        ObjectNode h = o.putObject("held_freeze_ms");
        h.put("count", heldMs.count());
        number(h, "p50", heldMs.p50());
        number(h, "p99", heldMs.p99());
        var list = o.putArray("runs");
        for (Migration m : migrations) {
            ObjectNode e = list.addObject();
            e.put("from", m.from());
            e.put("to", m.to());
            e.put("status", m.status());
            number(e, "downtime_ms", m.downtimeMs() < 0 ? Double.NaN : m.downtimeMs());
            if (m.hold() != null) {
                number(e, "held_freeze_ms", m.hold().heldMs(m.stoppedNanos()) < 0 ? Double.NaN : m.hold().heldMs(m.stoppedNanos()));
                e.put("probes_sent", m.hold().probesWritten());
                e.put("probes_in_freeze", m.probesHeld());
                e.put("probes_answered", m.hold().probesAnswered());
            }
            if (m.error() != null) {
                e.put("error", m.error());
            }
        }
        return o;
    }

    private static void number(ObjectNode o, String name, double v) {
        if (Double.isNaN(v)) {
            o.putNull(name);
        } else {
            o.put(name, Math.round(v * 1000.0) / 1000.0);
        }
    }
}
