package dev.livetap.testbed.oracle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.Retry;
import dev.livetap.testbed.qemu.QemuProcess;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.concurrent.TimeoutException;

/**
 * Runs a {@link Scenario} against one {@link Flavor} and records its {@link Digest}. Every process
 * it starts lives in the scenario's directory (QMP sockets included), every wait is bounded, and
 * every process is killed and reaped when the run ends, whatever happened.
 *
 * <p>Digest fields: {@code greeting} (the shape of the first VMM's greeting: keys, value types and the
 * capability list); per step {@code NN} and role: {@code NN role command} (the reply: "return {}",
 * "return {…}", "error CLASS[: text]", "no reply: …"), {@code NN role command order} (the events that
 * came before the reply, then "reply"), {@code NN role status} (query-status of every live VMM
 * after the step, or how its process ended; "(migration in flight)" after {@code migrate} and
 * {@code migrate-continue}), {@code NN role peer} (a {@link Step.ConnectAndClose}); at the end {@code end role events} (all events in
 * arrival order; MIGRATION with its status; MIGRATION_PASS left out: how many passes a migration
 * takes is timing), {@code end role MIGRATION}, {@code end role STOP/RESUME data} (whether those
 * events carried a {@code data} member) and {@code end role process}.
 */
public final class ScenarioRunner {
    private static final String MIGRATION_EVENT = "MIGRATION:";
    private static final int LINUX_EPIPE = 32;
    private static final int LINUX_ECONNRESET = 104;
    public static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration QMP_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration SETTLE_QUIET = Duration.ofMillis(200);
    private static final Duration SETTLE_MAX = Duration.ofSeconds(3);
    private static final Duration CONNECT_RETRY = Duration.ofSeconds(5);
    private static final Duration EXIT_AFTER_QMP_CLOSED = Duration.ofSeconds(5);

    private final UnixSockets unix;

    public ScenarioRunner(UnixSockets unix) {
        this.unix = unix;
    }

    /** Runs {@code scenario} on {@code flavor} with its processes and sockets in {@code dir}. */
    public Digest run(Scenario scenario, Flavor flavor, Path dir) {
        Digest digest = new Digest();
        Map<String, Session> sessions = new LinkedHashMap<>();
        try {
            int n = 0;
            for (Step step : scenario.steps()) {
                n++;
                String prefix = String.format("%02d %s ", n, step.role());
                if (!execute(step, prefix, flavor, dir, sessions, digest)) {
                    break;
                }
                // QEMU's migrate starts a thread and migrate-continue only wakes it (qmp_migrate_continue
                // posts pause_sem): how far the migration got when they return is timing
                boolean inFlight = step instanceof Step.Command c
                        && (c.command().equals("migrate") || c.command().equals("migrate-continue"));
                settleAll(sessions.values());
                for (Session s : sessions.values()) {
                    // the await steps record the states
                    digest.put(String.format("%02d %s status", n, s.role), inFlight ? "(migration in flight)" : s.status());
                }
            }
            for (Session s : sessions.values()) {
                digest.put("end " + s.role + " events", s.events.isEmpty() ? "-" : String.join(" ", s.events));
                digest.put("end " + s.role + " MIGRATION", s.migration.isEmpty() ? "-" : String.join(" ", s.migration));
                digest.put("end " + s.role + " STOP/RESUME data", s.runStateEventData.isEmpty() ? "-" : String.join(", ", s.runStateEventData));
                digest.put("end " + s.role + " process", s.processState());
            }
        } catch (RuntimeException e) {
            digest.harnessError(scenario.name() + " on " + flavor + ": " + e);
        } finally {
            for (Session s : sessions.values()) {
                s.close();
            }
        }
        return digest;
    }

    /**
     * Every session waits for its quiet window at the same time: the windows overlap instead of following one
     * another (each session still sees {@link #SETTLE_QUIET} without an event, bounded by {@link #SETTLE_MAX}).
     */
    private static void settleAll(Collection<Session> sessions) {
        if (sessions.size() < 2) {
            sessions.forEach(Session::settle);
            return;
        }
        List<Thread> settlers = new ArrayList<>();
        List<RuntimeException> failures = Collections.synchronizedList(new ArrayList<>());
        for (Session s : sessions) {
            Thread t = new Thread(() -> {
                try {
                    s.settle();
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }, "oracle-settle-" + s.role);
            t.setDaemon(true);
            t.start();
            settlers.add(t);
        }
        for (Thread t : settlers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the sessions settled", e);
            }
        }
        if (!failures.isEmpty()) {
            throw failures.get(0);
        }
    }

    /** One step; false when the run cannot go on (a harness error was recorded). */
    private boolean execute(Step step, String prefix, Flavor flavor, Path dir, Map<String, Session> sessions, Digest digest) {
        if (step instanceof Step.Start start) {
            Session s = startSession(start, flavor, dir, digest);
            if (s == null) {
                return false;
            }
            sessions.put(start.role(), s);
            String greeting = shape(s.qmp.greeting());
            String first = digest.fields().get("greeting");
            if (first == null) {
                digest.put("greeting", greeting); // once per scenario: every VMM of a flavor greets alike
            } else if (!first.equals(greeting)) {
                digest.put(prefix + "greeting", greeting);
            }
            digest.put(prefix + "qmp_capabilities", s.command("qmp_capabilities", null, false, List.of()));
            digest.put(prefix + "qmp_capabilities order", s.order());
            return true;
        }
        Session s = sessions.get(step.role());
        if (s == null) {
            digest.harnessError("step " + prefix.trim() + " names a role that was never started");
            return false;
        }
        if (step instanceof Step.Command c) {
            ObjectNode args = c.args() == null ? null : substitute(c.args(), dir);
            // the scenario's directory differs per flavor: a text naming a path in it names {dir}
            digest.put(prefix + c.command(), s.command(c.command(), args, c.textFixed(), List.of())
                    .replace(dir.toString(), "{dir}"));
            // migrate-continue only wakes QEMU's migration thread (qmp_migrate_continue posts pause_sem), whose
            // MIGRATION event races the reply; the event itself is compared in the role's "end ... MIGRATION"
            digest.put(prefix + c.command() + " order", c.command().equals("migrate-continue")
                    ? s.orderWithout(MIGRATION_EVENT) : c.command().equals("migrate_cancel") ? s.orderUpTo("MIGRATION:cancelling")
                    : s.order());
        } else if (step instanceof Step.Getfd g) {
            List<OwnedFd> mine = new ArrayList<>();
            try {
                if (g.connectTo() != null) {
                    mine.add(unix.connect(Path.of(g.connectTo().replace("{dir}", dir.toString()))));
                } else {
                    mine.addAll(List.of(unix.socketPair()));
                }
                digest.put(prefix + "getfd", s.command("getfd", QmpJson.object().put("fdname", g.fdname()), true, List.of(mine.get(0))));
                digest.put(prefix + "getfd order", s.order());
            } catch (RuntimeException e) {
                digest.harnessError("step " + prefix.trim() + " getfd: cannot make the fd to pass: " + e.getMessage());
                return false;
            } finally {
                OwnedFd.closeAll(mine);
            }
        } else if (step instanceof Step.AwaitMigration a) {
            digest.put(prefix + "migration", s.awaitMigration(a));
        } else if (step instanceof Step.AwaitExit e) {
            OptionalInt code = s.process.awaitExit(e.timeout());
            digest.put(prefix + "exit", code.isPresent() ? "exited " + code.getAsInt() : "still running after " + e.timeout().toSeconds() + " s");
        } else if (step instanceof Step.ConnectAndClose c) {
            try {
                unix.connect(Path.of(c.connectTo().replace("{dir}", dir.toString()))).close();
                digest.put(prefix + "peer", "connected and closed");
            } catch (RuntimeException e) {
                digest.put(prefix + "peer", "cannot connect");
            }
        } else if (step instanceof Step.Kill) {
            s.process.kill();
            s.killed = true;
            digest.put(prefix + "kill", "killed");
        } else {
            throw new IllegalStateException("no runner for " + step);
        }
        return true;
    }

    private Session startSession(Step.Start start, Flavor flavor, Path dir, Digest digest) {
        String role = start.role();
        AutoCloseable owner;
        ChildProcess process;
        Path socket;
        if (flavor == Flavor.QEMU) {
            QemuProcess q = QemuProcess.start(dir, role, start.incoming(), start.paused(), List.of());
            owner = q;
            process = q.process();
            socket = q.qmpSocket();
            if (!q.awaitQmpSocket(START_TIMEOUT)) {
                digest.harnessError(role + ": QEMU's QMP socket never came up: " + process.describe());
                q.close();
                return null;
            }
        } else {
            VmmProcess v = VmmProcess.start(VmmProcess.Options.of(dir, role).withPrefix(ChildProcess.inPrivateNetns(List.of()))
                    .withIncoming(start.incoming()).withPaused(start.paused()).withArgs(List.of("--no-warm-up")));
            owner = v;
            process = v.process();
            socket = v.qmpSocket();
            try {
                v.awaitReady(START_TIMEOUT);
            } catch (java.io.IOException | TimeoutException e) {
                digest.harnessError(role + ": livetap vmm never printed READY: " + e.getMessage() + "\n" + process.describe());
                v.close();
                return null;
            }
        }
        QmpClient[] client = {null};
        Exception[] last = {null};
        Path qmp = socket;
        // QEMU creates its socket a moment after it starts: connect again (bounded) until it answers
        Retry.until(CONNECT_RETRY, Duration.ofMillis(50), () -> {
            try {
                client[0] = QmpClient.connect(unix, JnaOs.instance().reactor(), qmp, QMP_TIMEOUT);
                return true;
            } catch (RuntimeException | TimeoutException e) {
                last[0] = e;
                return false;
            }
        });
        if (client[0] == null) {
            digest.harnessError(role + ": cannot connect to QMP at " + socket + ": " + last[0] + "\n" + process.describe());
            process.close();
            return null;
        }
        Session s = new Session(role, process, owner, client[0]);
        client[0].observeLines(s::onLine);
        return s;
    }

    /** Replaces {@code {dir}} in every string value (arguments are flat or nested objects and arrays). */
    private static ObjectNode substitute(ObjectNode args, Path dir) {
        String text = QmpJson.text(args).replace("{dir}", dir.toString());
        return (ObjectNode) QmpJson.parse(text);
    }

    /** Keys (sorted) with value types; string arrays keep their values (the capability list). */
    static String shape(JsonNode node) {
        if (node.isObject()) {
            Map<String, String> sorted = new TreeMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = node.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                sorted.put(e.getKey(), shape(e.getValue()));
            }
            StringBuilder b = new StringBuilder("{");
            sorted.forEach((k, v) -> b.append(b.length() > 1 ? "," : "").append(k).append(':').append(v));
            return b.append('}').toString();
        }
        if (node.isArray()) {
            List<String> items = new ArrayList<>();
            node.forEach(item -> items.add(item.isTextual() ? item.asText() : shape(item)));
            return "[" + String.join(",", items) + "]";
        }
        return node.isTextual() ? "str" : node.isIntegralNumber() ? "int" : node.isBoolean() ? "bool" : node.getNodeType().name().toLowerCase();
    }

    /** One started VMM: its process, its QMP client and what it sent, in order. */
    private static final class Session implements AutoCloseable {
        final String role;
        final ChildProcess process;
        final AutoCloseable owner;
        final QmpClient qmp;
        final List<String> beforeReply = new ArrayList<>();
        final List<String> events = new ArrayList<>();
        final List<String> migration = new ArrayList<>();
        final java.util.Set<String> runStateEventData = new java.util.TreeSet<>();
        boolean awaitingRecordedReply;
        boolean qmpClosed;
        boolean killed;

        Session(String role, ChildProcess process, AutoCloseable owner, QmpClient qmp) {
            this.role = role;
            this.process = process;
            this.owner = owner;
            this.qmp = qmp;
        }

        void onLine(JsonNode line) {
            if (line.has("event")) {
                String name = line.path("event").asText();
                if (name.equals("MIGRATION_PASS")) {
                    return;
                }
                String token = name;
                if (name.equals("MIGRATION")) {
                    String status = line.path("data").path("status").asText();
                    if (status.equals("cancelling") && wokenThreadWonTheCancelRace()) {
                        dropLast(migration, "device");
                        dropLast(events, "MIGRATION:device");
                        dropLast(beforeReply, "MIGRATION:device");
                    }
                    migration.add(status);
                    token = name + ":" + status;
                } else if (name.equals("STOP") || name.equals("RESUME")) {
                    runStateEventData.add(name + (line.has("data") ? " with data" : " without data"));
                }
                events.add(token);
                if (awaitingRecordedReply) {
                    beforeReply.add(token);
                }
            } else if (awaitingRecordedReply) {
                beforeReply.add("reply");
                awaitingRecordedReply = false;
            }
        }

        /** Executes a recorded command; its reply in digest form. */
        String command(String command, ObjectNode args, boolean textFixed, List<OwnedFd> fds) {
            if (qmpClosed) {
                return "no reply: QMP closed";
            }
            beforeReply.clear();
            awaitingRecordedReply = true;
            try {
                return reply(qmp.request(command, args, fds), textFixed);
            } catch (TimeoutException e) {
                return "no reply: timeout";
            } catch (IllegalStateException | UncheckedIOException e) {
                qmpClosed = true;
                return "no reply: QMP closed";
            } catch (NativeException e) {
                if (!peerGone(e)) {
                    throw e;
                }
                qmpClosed = true;
                return "no reply: QMP closed";
            } finally {
                awaitingRecordedReply = false;
            }
        }

        /**
         * QEMU 7.2's migrate_fd_cancel posts the held migration thread's pause_sem, then sets
         * {@code cancelling} in a compare-and-swap loop: when the woken thread wins, it sets {@code device}
         * first and the loop cancels from there. Which wins is timing, so {@code pre-switchover device
         * cancelling} counts as {@code pre-switchover cancelling}.
         */
        private boolean wokenThreadWonTheCancelRace() {
            int n = migration.size();
            return n >= 2 && migration.get(n - 1).equals("device") && migration.get(n - 2).equals("pre-switchover");
        }

        private static void dropLast(List<String> list, String expected) {
            if (!list.isEmpty() && list.get(list.size() - 1).equals(expected)) {
                list.remove(list.size() - 1);
            }
        }

        String order() {
            return beforeReply.isEmpty() ? "-" : String.join(" ", beforeReply);
        }

        /**
         * The order up to {@code event}, then the reply: what a cancel sets in motion after {@code cancelling}
         * (QEMU's cleanup: RESUME, {@code cancelled}) races the reply there; those events are compared in the
         * role's event list.
         */
        String orderUpTo(String event) {
            int at = beforeReply.indexOf(event);
            if (at < 0) {
                return order();
            }
            List<String> kept = new ArrayList<>(beforeReply.subList(0, at + 1));
            if (beforeReply.contains("reply")) {
                kept.add("reply");
            }
            return String.join(" ", kept);
        }

        /** The order without the events whose name starts with {@code event}. */
        String orderWithout(String event) {
            List<String> kept = beforeReply.stream().filter(e -> !e.startsWith(event)).toList();
            return kept.isEmpty() ? "-" : String.join(" ", kept);
        }

        /** An unrecorded query; null when there is no answer. */
        JsonNode query(String command) {
            if (qmpClosed || !process.isAlive()) {
                return null;
            }
            try {
                JsonNode reply = qmp.request(command, null, List.of());
                return reply.get("return");
            } catch (TimeoutException e) {
                return null;
            } catch (IllegalStateException | UncheckedIOException e) {
                qmpClosed = true;
                return null;
            } catch (NativeException e) {
                if (!peerGone(e)) {
                    throw e;
                }
                qmpClosed = true;
                return null;
            }
        }

        /**
         * A send to a VMM that is exiting (a QEMU target exits as soon as its incoming migration fails)
         * fails with EPIPE or ECONNRESET: the monitor closed, which {@link #exiting()} then tells apart.
         */
        private static boolean peerGone(NativeException e) {
            return e.errno() == LINUX_EPIPE || e.errno() == LINUX_ECONNRESET;
        }

        /** Reads events until none arrives for {@link #SETTLE_QUIET} (at most {@link #SETTLE_MAX}). */
        void settle() {
            if (qmpClosed || killed) {
                return;
            }
            long deadline = System.nanoTime() + SETTLE_MAX.toNanos();
            while (System.nanoTime() - deadline < 0 && qmp.pollEvent(SETTLE_QUIET).isPresent()) {
                qmp.drainEvents();
            }
            qmp.drainEvents();
            if (qmp.atEof()) {
                qmpClosed = true;
            }
        }

        String status() {
            if (!process.isAlive() || exiting()) {
                return processState();
            }
            JsonNode r = query("query-status");
            if (r == null) {
                return exiting() ? processState() : qmpClosed ? "no QMP (closed), process alive" : "no reply to query-status";
            }
            return r.path("status").asText() + " running=" + r.path("running").asText();
        }

        String awaitMigration(Step.AwaitMigration a) {
            long deadline = System.nanoTime() + a.timeout().toNanos();
            String last = "(none)";
            while (System.nanoTime() - deadline < 0) {
                JsonNode r = query("query-migrate");
                if (r == null) {
                    return process.isAlive() && !exiting() ? "no reply to query-migrate" : processState();
                }
                last = r.path("status").asText("none");
                if (a.statuses().contains(last)) {
                    return last;
                }
                if (last.equals("none")) {
                    return "no migration"; // nothing to wait for (migrate was refused)
                }
                qmp.pollEvent(Duration.ofMillis(50));
                qmp.drainEvents();
            }
            return "timeout after " + a.timeout().toSeconds() + " s (last " + last + ")";
        }

        /**
         * A VMM whose QMP socket closed while its process still runs is on its way out (QEMU closes its
         * monitor when it exits; a JVM takes longer to end): waits, bounded, for the exit. How soon a
         * process ends after its monitor closed is timing, not behaviour.
         */
        boolean exiting() {
            return qmpClosed && !killed && process.awaitExit(EXIT_AFTER_QMP_CLOSED).isPresent();
        }

        String processState() {
            if (killed) {
                return "killed";
            }
            OptionalInt code = process.awaitExit(Duration.ZERO);
            return code.isPresent() ? "exited " + code.getAsInt() : "alive";
        }

        private static String reply(ObjectNode reply, boolean textFixed) {
            JsonNode error = reply.get("error");
            if (error != null) {
                return "error " + error.path("class").asText() + (textFixed ? ": " + error.path("desc").asText() : "");
            }
            JsonNode r = reply.get("return");
            if (r == null) {
                return "neither return nor error: " + QmpJson.text(reply);
            }
            if (r.isObject() || r.isArray()) {
                return "return " + (r.isEmpty() ? (r.isObject() ? "{}" : "[]") : (r.isObject() ? "{…}" : "[…]"));
            }
            return "return " + r.getNodeType().name().toLowerCase();
        }

        @Override
        public void close() {
            try {
                qmp.close();
            } catch (RuntimeException ignored) {
                // the process is killed next either way
            }
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("cannot stop " + role + ": " + e.getMessage(), e);
            }
        }
    }
}
