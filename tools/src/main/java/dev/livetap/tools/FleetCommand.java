package dev.livetap.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.bench.AgentFleetBench;
import dev.livetap.fleet.bench.FleetBench;
import dev.livetap.fleet.bench.FleetSoak;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.testbed.NetworkNamespace;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code livetap fleet}: fleet operations (a coordinator node, plans, status, the freeze-budget bench, the soak). */
@Command(name = "fleet", mixinStandardHelpOptions = true,
        description = "Fleet operations on Pekko Cluster: a coordinator node, preview a plan, start it, show its status, pause, resume "
                + "or abort it, bench the freeze budget of host agent processes, soak one agent. The cluster transport "
                + "and the operator commands use TLS with mutual authentication by default: give each member --tls-dir "
                + "DIR (scripts/fleet-certs DIR0 NAME... makes test certificates; or set LIVETAP_FLEET_TLS_DIR), or "
                + "--no-tls to every member of a fleet on loopback. Nodes and agents serve Pekko Management read-only on "
                + "127.0.0.1 (--management-port; GET /cluster/members). bench and soak run their own cluster on "
                + "loopback, in plain TCP unless bench is given --tls-certs.",
        subcommands = {FleetCommand.Bench.class, FleetCommand.Node.class, FleetCommand.Start.class, FleetCommand.Status.class,
            FleetCommand.Pause.class, FleetCommand.Resume.class, FleetCommand.Abort.class, FleetCommand.Soak.class,
            FleetCommand.JournalBenchCommand.class, FleetPlanCommand.class, FleetFaultsCommand.class})
public final class FleetCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new BadOptionValue("give a fleet command: node, plan, start, status, pause, resume, abort, bench, soak, journal-bench or faults");
    }

    /**
     * The coordinator journal's options: an H2 file (the default, one machine) or a PostgreSQL database
     * (url and user here; the password from a file or the environment, never on the command line).
     */
    static final class JournalOptions {
        @Option(names = "--journal", paramLabel = "FILE", description = "The journal in this H2 file (H2 appends .mv.db): "
                + "one machine. Give it or --journal-url.")
        java.nio.file.Path journal;

        @Option(names = "--journal-url", paramLabel = "URL", description = "The journal in PostgreSQL: "
                + "jdbc:postgresql://HOST[:PORT]/DATABASE (without user or password). Every coordinator-capable node names "
                + "the same database, so the coordinator survives losing a machine.")
        String journalUrl;

        @Option(names = "--journal-user", paramLabel = "USER", defaultValue = "livetap",
                description = "PostgreSQL user: default ${DEFAULT-VALUE}.")
        String journalUser;

        @Option(names = "--journal-password-file", paramLabel = "FILE", description = "PostgreSQL password: the first line "
                + "of FILE (mode 600; a file others may read is refused). Without it: the environment variable "
                + dev.livetap.fleet.journal.JournalCredentials.PASSWORD_ENV + ".")
        java.nio.file.Path journalPasswordFile;

        dev.livetap.fleet.journal.JournalDatabase database() throws java.io.IOException {
            if ((journal == null) == (journalUrl == null)) {
                throw new BadOptionValue("give the journal: --journal FILE (H2) or --journal-url jdbc:postgresql://... (one of them)");
            }
            if (journal != null) {
                if (journalPasswordFile != null) {
                    throw new BadOptionValue("--journal-password-file goes with --journal-url (an H2 file has no password)");
                }
                return dev.livetap.fleet.journal.JournalDatabase.h2File(journal);
            }
            try {
                return dev.livetap.fleet.journal.JournalDatabase.postgres(journalUrl, journalUser, journalPasswordFile, System.getenv());
            } catch (IllegalArgumentException e) {
                throw new BadOptionValue(e.getMessage());
            }
        }
    }

    /** The operator's member, or null after one line on stderr when the fleet did not admit it in time. */
    static dev.livetap.fleet.cluster.OperatorClient joinFleet(java.util.List<String> seedNodes, FleetTransportOptions transport,
            String command) throws Exception {
        dev.livetap.fleet.cluster.FleetTls tls = transport.tls();
        try {
            return dev.livetap.fleet.cluster.OperatorClient.join(seedNodes, tls, Duration.ofSeconds(30));
        } catch (java.util.concurrent.TimeoutException e) {
            System.err.println("livetap fleet " + command + ": the fleet did not admit this member within 30 s (no seed node "
                    + "running at " + String.join(",", seedNodes) + ", or the transport refused: a certificate the fleet's CA "
                    + "did not sign, or TLS on one side only): " + e.getMessage());
            return null;
        }
    }

    @Command(name = "node", mixinStandardHelpOptions = true,
            description = "Runs a coordinator-capable node (the upgrade coordinator singleton runs on the oldest), its "
                    + "journal in an H2 file (--journal) or PostgreSQL (--journal-url). Prints MANAGEMENT URI (unless "
                    + "--management-port -1) and READY ADDRESS; runs until SIGTERM/SIGINT (exit 0) or until the cluster downs "
                    + "it (exit 1: start it again to rejoin).")
    static final class Node implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        JournalOptions journal = new JournalOptions();

        @Option(names = "--port", defaultValue = "0", description = "Cluster port on 127.0.0.1 (0: any free): default ${DEFAULT-VALUE}.")
        int port;

        @Option(names = "--seed-nodes", split = ",", paramLabel = "ADDR", description = "Seed nodes; none: the node founds the cluster.")
        java.util.List<String> seedNodes = java.util.List.of();

        @Mixin
        FleetTransportOptions transport;

        @Mixin
        FleetTransportOptions.Management management;

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--port", port, 0, 65535);
            dev.livetap.fleet.journal.JournalDatabase database = journal.database();
            dev.livetap.fleet.cluster.FleetTls tls = transport.tls();
            int managementPort = management.port();
            java.util.concurrent.CountDownLatch stop = new java.util.concurrent.CountDownLatch(1);
            try (dev.livetap.fleet.cluster.FleetNode node = dev.livetap.fleet.cluster.FleetNode.start(database.applyTo(
                    new dev.livetap.fleet.cluster.FleetConfig("127.0.0.1", port, seedNodes, "jdbc:h2:mem:unused",
                            java.util.List.of(dev.livetap.fleet.cluster.FleetNode.COORDINATOR_ROLE), tls, managementPort)),
                    Duration.ofSeconds(60))) {
                java.util.concurrent.atomic.AtomicBoolean signalled = new java.util.concurrent.atomic.AtomicBoolean();
                Signals.onTermination(s -> {
                    signalled.set(true);
                    stop.countDown();
                });
                // a node the cluster downed (Split Brain Resolver) has a terminated actor system: end, so that a supervisor restarts it
                node.system().getWhenTerminated().thenRun(stop::countDown);
                node.management().ifPresent(uri -> System.out.println("MANAGEMENT " + uri));
                System.out.println("READY " + org.apache.pekko.cluster.typed.Cluster.get(node.system()).selfMember().address());
                System.out.flush();
                stop.await();
                if (!signalled.get()) {
                    System.err.println("livetap fleet node: this node was removed from the cluster (downed); start it again to rejoin");
                    return ExitCodes.FAILED;
                }
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "journal-bench", mixinStandardHelpOptions = true,
            description = "Issue 18's goal B: VM steps per second the upgrade coordinator journals with stub agents, three "
                    + "ways (plan: a real plan through the driver, every host a stub agent answering at once; asks: "
                    + "StartStep/FinishStep with --in-flight asks; batched: StartSteps/FinishSteps of --batch VMs), each "
                    + "on a fresh coordinator over an empty journal. --journal h2: files in a temp directory; postgres: "
                    + "a throw-away PostgreSQL server (initdb in a temp directory, removed after) unless --journal-url names one.")
    static final class JournalBenchCommand implements Callable<Integer> {
        @Option(names = "--journal", paramLabel = "h2|postgres", defaultValue = "h2", description = "default ${DEFAULT-VALUE}.")
        String kind;

        @Option(names = "--journal-url", paramLabel = "URL", description = "postgres: an existing EMPTY database "
                + "(jdbc:postgresql://HOST[:PORT]/DB) instead of a throw-away server; its tables are created if missing and "
                + "only the plan way runs (one coordinator per database).")
        String journalUrl;

        @Option(names = "--journal-user", paramLabel = "USER", defaultValue = "livetap", description = "default ${DEFAULT-VALUE}.")
        String journalUser;

        @Option(names = "--journal-password-file", paramLabel = "FILE", description = "The password's file (mode 600); "
                + "without it: " + dev.livetap.fleet.journal.JournalCredentials.PASSWORD_ENV + ".")
        java.nio.file.Path journalPasswordFile;

        @Option(names = "--hosts", defaultValue = "20", description = "Hosts (stub agents) of the plan way, all in parallel: "
                + "1-1000, default ${DEFAULT-VALUE}.")
        int hosts;

        @Option(names = "--vms-per-host", paramLabel = "N", defaultValue = "250", description = "1-100000, default ${DEFAULT-VALUE} "
                + "(steps = hosts × N).")
        int vmsPerHost;

        @Option(names = "--in-flight", defaultValue = "64", description = "Asks in flight (asks way): 1-10000, default ${DEFAULT-VALUE}.")
        int inFlight;

        @Option(names = "--batch", defaultValue = "100", description = "VMs per batch (batched way): 1-10000, default ${DEFAULT-VALUE}.")
        int batch;

        @Option(names = "--steps-per-host", paramLabel = "N", defaultValue = "4", description = "The plan driver's steps in "
                + "flight per host (plan way): 1-1000, default ${DEFAULT-VALUE} (the driver's own default).")
        int stepsPerHost;

        @Option(names = "--ways", split = ",", paramLabel = "WAY", defaultValue = "plan,asks,batched",
                description = "The ways to run, comma separated: default ${DEFAULT-VALUE}.")
        java.util.List<String> ways;

        @Option(names = "--json", description = "One JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            for (String way : ways) {
                if (!dev.livetap.fleet.bench.JournalBench.WAYS.contains(way)) {
                    throw new BadOptionValue("--ways: no way " + way + " (plan, asks, batched)");
                }
            }
            BadOptionValue.range("--hosts", hosts, 1, 1000);
            BadOptionValue.range("--vms-per-host", vmsPerHost, 1, 100_000);
            BadOptionValue.range("--in-flight", inFlight, 1, 10_000);
            BadOptionValue.range("--batch", batch, 1, 10_000);
            BadOptionValue.range("--steps-per-host", stepsPerHost, 1, 1000);
            dev.livetap.fleet.bench.JournalBench.Settings settings =
                    new dev.livetap.fleet.bench.JournalBench.Settings(hosts, vmsPerHost, inFlight, batch, stepsPerHost);
            java.util.List<dev.livetap.fleet.bench.JournalBench.Result> results;
            String described;
            switch (kind) {
                case "h2" -> {
                    if (journalUrl != null || journalPasswordFile != null) {
                        throw new BadOptionValue("--journal-url and --journal-password-file go with --journal postgres");
                    }
                    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("livetap-journal-bench-");
                    try {
                        results = dev.livetap.fleet.bench.JournalBench.run(settings, ways,
                                way -> dev.livetap.fleet.journal.JournalDatabase.h2File(dir.resolve(way)));
                    } finally {
                        try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(dir)) {
                            for (java.nio.file.Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                                java.nio.file.Files.deleteIfExists(f);
                            }
                        }
                    }
                    described = "h2 file";
                }
                case "postgres" -> {
                    if (journalUrl != null) {
                        dev.livetap.fleet.journal.JournalDatabase db;
                        try {
                            db = dev.livetap.fleet.journal.JournalDatabase.postgres(journalUrl, journalUser, journalPasswordFile,
                                    System.getenv());
                        } catch (IllegalArgumentException e) {
                            throw new BadOptionValue(e.getMessage());
                        }
                        results = java.util.List.of(dev.livetap.fleet.bench.JournalBench.plan(settings, db));
                        described = "postgresql " + journalUrl;
                    } else {
                        java.util.Optional<String> unavailable = dev.livetap.fleet.journal.ThrowawayPostgres.unavailableReason(true);
                        if (unavailable.isPresent()) {
                            System.err.println("journal-bench: " + unavailable.get());
                            return ExitCodes.UNAVAILABLE;
                        }
                        try (dev.livetap.fleet.journal.ThrowawayPostgres pg = dev.livetap.fleet.journal.ThrowawayPostgres.start()) {
                            results = dev.livetap.fleet.bench.JournalBench.run(settings, ways,
                                    way -> new dev.livetap.fleet.journal.JournalDatabase(pg.createDatabase("bench_" + way),
                                            pg.credentials()));
                        }
                        described = "postgresql (throw-away server, 127.0.0.1, fsync on)";
                    }
                }
                default -> throw new BadOptionValue("--journal is h2 or postgres, not " + kind);
            }
            java.util.Map<String, Object> out = dev.livetap.fleet.bench.JournalBench.toJson(described, settings, results);
            if (json) {
                System.out.println(Json.MAPPER.writeValueAsString(out));
            } else {
                System.out.printf(java.util.Locale.ROOT, "journal: %s; %d steps (2 events each); load %s%n", described,
                        settings.steps(), out.get("load"));
                for (dev.livetap.fleet.bench.JournalBench.Result r : results) {
                    System.out.printf(java.util.Locale.ROOT, "  %-8s %7d steps in %7.2f s = %7.0f steps/s%n", r.way(), r.steps(),
                            r.seconds(), r.stepsPerS());
                }
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true,
            description = "Submits a plan to the coordinator: every VM of --hosts moves to a new VMM process (fleet plan "
                    + "previews it first; --plan FILE starts what it saved).")
    static final class Start implements Callable<Integer> {
        @Option(names = "--seed-nodes", split = ",", paramLabel = "ADDR", description = "The fleet's seed nodes (joins the "
                + "cluster as an operator member); or --operator-url.")
        java.util.List<String> seedNodes;

        @Option(names = "--operator-url", paramLabel = "URL", description = "Submit over HTTPS instead of joining the cluster: "
                + "POST URL/fleet/plans on a node's MANAGEMENT endpoint (https://127.0.0.1:P), with the certificate of --tls-dir "
                + "(an operate or a member certificate).")
        java.net.URI operatorUrl;

        @Mixin
        FleetTransportOptions transport;

        @Mixin
        FleetPlanOptions options;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            dev.livetap.fleet.coordinator.Plan plan = options.plan();
            if ((seedNodes == null) == (operatorUrl == null)) {
                throw new BadOptionValue("fleet start needs exactly one of --seed-nodes (join the cluster) and --operator-url "
                        + "(HTTPS)");
            }
            if (operatorUrl != null) {
                return printStart(overHttps(plan));
            }
            dev.livetap.fleet.cluster.OperatorClient joined = joinFleet(seedNodes, transport, "start");
            if (joined == null) {
                return ExitCodes.FAILED;
            }
            try (dev.livetap.fleet.cluster.OperatorClient client = joined) {
                dev.livetap.fleet.coordinator.UpgradeCoordinator.Reply r = client.submit(plan);
                com.fasterxml.jackson.databind.node.ObjectNode o = Json.MAPPER.createObjectNode();
                if (r instanceof dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted a) {
                    o.put("accepted", true).put("plan", a.plan()).put("epoch", a.epoch());
                } else {
                    o.put("accepted", false).put("reason", r instanceof dev.livetap.fleet.coordinator.UpgradeCoordinator.Rejected x
                            ? x.reason() : String.valueOf(r));
                }
                return printStart(o);
            }
        }

        private int printStart(com.fasterxml.jackson.databind.node.ObjectNode o) {
            System.out.println(json ? Json.write(o) : o.path("accepted").asBoolean()
                    ? "plan " + o.path("plan").asText() + " accepted at coordinator epoch " + o.path("epoch").asText()
                    : "plan refused: " + o.path("reason").asText());
            return o.path("accepted").asBoolean() ? ExitCodes.OK : ExitCodes.FAILED;
        }

        /** {@code POST URL/fleet/plans} with the plan's JSON; the answer as {@code --seed-nodes} prints it. */
        private com.fasterxml.jackson.databind.node.ObjectNode overHttps(dev.livetap.fleet.coordinator.Plan plan) throws Exception {
            if (!"https".equals(operatorUrl.getScheme())) {
                throw new BadOptionValue("--operator-url " + operatorUrl + ": the operator interface is HTTPS (a node's MANAGEMENT "
                        + "https://127.0.0.1:P)");
            }
            if (transport.tlsDir == null) {
                throw new BadOptionValue("--operator-url needs --tls-dir DIR (or $" + FleetTransportOptions.TLS_DIR_ENV
                        + "): the operator interface authenticates the caller by its certificate");
            }
            javax.net.ssl.SSLContext ssl;
            try {
                ssl = new dev.livetap.fleet.cluster.RotatingTlsContext(dev.livetap.fleet.cluster.FleetTls.fromDirectory(
                        transport.tlsDir)).context();
            } catch (java.io.IOException | IllegalArgumentException e) {
                throw new BadOptionValue("--tls-dir: " + e.getMessage());
            }
            java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder().sslContext(ssl)
                    .connectTimeout(java.time.Duration.ofSeconds(10)).build();
            java.net.http.HttpResponse<String> r = client.send(java.net.http.HttpRequest.newBuilder(operatorUrl.resolve("/fleet/plans"))
                    .timeout(java.time.Duration.ofSeconds(30)).header("Content-Type", "application/json")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(FleetPlanOptions.toJson(plan).toString())).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 201) {
                return (com.fasterxml.jackson.databind.node.ObjectNode) Json.MAPPER.readTree(r.body());
            }
            return Json.MAPPER.createObjectNode().put("accepted", false).put("status", r.statusCode())
                    .put("reason", r.body().strip());
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "The plan's journaled state: per host and in total the steps done, failed, in flight, unknown "
                    + "(host lost) and left, the observed step rate and the ETA; --json for one JSON object.")
    static final class Status implements Callable<Integer> {
        @Option(names = "--seed-nodes", required = true, split = ",", paramLabel = "ADDR", description = "The fleet's seed nodes.")
        java.util.List<String> seedNodes;

        @Mixin
        FleetTransportOptions transport;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            dev.livetap.fleet.cluster.OperatorClient joined = joinFleet(seedNodes, transport, "status");
            if (joined == null) {
                return ExitCodes.FAILED;
            }
            try (dev.livetap.fleet.cluster.OperatorClient client = joined) {
                JsonNode o = statusJson(client.status());
                System.out.println(json ? Json.write(o) : text(o));
                return ExitCodes.OK;
            }
        }

        /** The human-readable form: a headline, the per-host table with a total row, the rate and ETA. */
        static String text(JsonNode o) {
            if (o.path("plan").isNull()) {
                return "no plan (coordinator epoch " + o.path("epoch").asText() + ")";
            }
            StringBuilder sb = new StringBuilder(String.format(java.util.Locale.ROOT, "plan to %s (coordinator epoch %s): %s%n",
                    o.path("plan").path("target_version").asText(), o.path("epoch").asText(), o.path("state").asText()));
            dev.livetap.report.Table t = new dev.livetap.report.Table("HOST", "STATE", "DONE", "SKIPPED", "FAILED", "IN FLIGHT", "UNKNOWN",
                    "LEFT");
            JsonNode progress = o.path("progress");
            progress.path("hosts").fields().forEachRemaining(e -> row(t, e.getKey(), e.getValue()));
            row(t, "total", progress.path("total"));
            sb.append(t);
            JsonNode rate = progress.path("steps_per_s");
            JsonNode eta = progress.path("eta_s");
            sb.append(String.format(java.util.Locale.ROOT, "failures %d of at most %d%s; rate %s; ETA %s",
                    o.path("failures").asInt(), o.path("plan").path("max_failures").asInt(),
                    o.path("halted").asBoolean() ? " (halted)" : "",
                    rate.isNull() ? "not measured yet" : String.format(java.util.Locale.ROOT, "%.2f steps/s", rate.asDouble()),
                    eta.isNull() ? "-" : duration(eta.asDouble()) + (progress.path("left_estimated").asBoolean()
                            ? " (hosts not asked yet estimated)" : "")));
            return sb.toString();
        }

        private static void row(dev.livetap.report.Table t, String host, JsonNode p) {
            t.row(host, p.path("state").asText(), p.path("done").asInt(), p.path("skipped").asInt(), p.path("failed").asInt(),
                    p.path("in_flight").asInt(),
                    p.path("unknown").asInt(), p.path("left").asInt() < 0 ? "?" : p.path("left").asText());
        }

        private static String duration(double seconds) {
            long s = Math.round(seconds);
            return s < 60 ? s + " s" : s < 3600 ? (s / 60) + " min " + (s % 60) + " s" : (s / 3600) + " h " + (s % 3600 / 60) + " min";
        }

        static JsonNode statusJson(dev.livetap.fleet.coordinator.UpgradeCoordinator.Status s) {
            com.fasterxml.jackson.databind.node.ObjectNode o = Json.MAPPER.createObjectNode();
            o.put("epoch", s.epoch());
            o.put("state", s.state());
            if (s.plan() == null) {
                o.putNull("plan");
            } else {
                o.set("plan", FleetPlanOptions.toJson(s.plan()));
            }
            com.fasterxml.jackson.databind.node.ObjectNode open = o.putObject("open");
            s.open().forEach(open::put);
            com.fasterxml.jackson.databind.node.ObjectNode finished = o.putObject("finished");
            s.finished().forEach((vm, r) -> finished.putObject(vm).put("host", r.host()).put("migration_id", r.migrationId())
                    .put("completed", r.completed()).put("detail", r.detail()));
            o.put("failures", s.failures()).put("halted", s.halted()).put("complete", s.complete());
            s.doneHosts().forEach(o.putArray("done_hosts")::add);
            s.unreachableHosts().forEach(o.putArray("unreachable_hosts")::add);
            s.givenUpHosts().forEach(o.putArray("given_up_hosts")::add);
            if (s.progress() == null) {
                o.putNull("progress");
            } else {
                com.fasterxml.jackson.databind.node.ObjectNode pr = o.putObject("progress");
                com.fasterxml.jackson.databind.node.ObjectNode hosts = pr.putObject("hosts");
                s.progress().hosts().forEach((h, p) -> progress(hosts.putObject(h), p));
                progress(pr.putObject("total"), s.progress().total());
                pr.put("left_estimated", s.progress().leftEstimated());
                if (s.progress().stepsPerS() == null) {
                    pr.putNull("steps_per_s");
                } else {
                    pr.put("steps_per_s", Math.round(s.progress().stepsPerS() * 1000) / 1000.0);
                }
                if (s.progress().etaS() == null) {
                    pr.putNull("eta_s");
                } else {
                    pr.put("eta_s", Math.round(s.progress().etaS() * 10) / 10.0);
                }
            }
            return o;
        }

        private static void progress(com.fasterxml.jackson.databind.node.ObjectNode n,
                dev.livetap.fleet.coordinator.UpgradeCoordinator.HostProgress p) {
            n.put("state", p.state()).put("done", p.done()).put("skipped", p.skipped()).put("failed", p.failed())
                    .put("in_flight", p.inFlight())
                    .put("unknown", p.unknown()).put("left", p.left());
        }
    }

    /** {@code fleet pause|resume|abort}: one journaled control of the running plan. */
    abstract static class Control implements Callable<Integer> {
        @Option(names = "--seed-nodes", required = true, split = ",", paramLabel = "ADDR", description = "The fleet's seed nodes.")
        java.util.List<String> seedNodes;

        @Mixin
        FleetTransportOptions transport;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        abstract dev.livetap.fleet.coordinator.UpgradeCoordinator.Action action();

        @Override
        public Integer call() throws Exception {
            dev.livetap.fleet.cluster.OperatorClient joined = joinFleet(seedNodes, transport,
                    action().name().toLowerCase(java.util.Locale.ROOT));
            if (joined == null) {
                return ExitCodes.FAILED;
            }
            try (dev.livetap.fleet.cluster.OperatorClient client = joined) {
                dev.livetap.fleet.coordinator.UpgradeCoordinator.Reply r = client.control(action());
                com.fasterxml.jackson.databind.node.ObjectNode o = Json.MAPPER.createObjectNode();
                String verb = action().name().toLowerCase(java.util.Locale.ROOT);
                if (r instanceof dev.livetap.fleet.coordinator.UpgradeCoordinator.Controlled c) {
                    o.put("ok", true).put("state", c.state());
                } else {
                    o.put("ok", false).put("reason", r instanceof dev.livetap.fleet.coordinator.UpgradeCoordinator.Rejected x
                            ? x.reason() : String.valueOf(r));
                }
                System.out.println(json ? Json.write(o) : o.path("ok").asBoolean() ? verb + ": the plan is " + o.path("state").asText()
                        : verb + " refused: " + o.path("reason").asText());
                return o.path("ok").asBoolean() ? ExitCodes.OK : ExitCodes.FAILED;
            }
        }
    }

    @Command(name = "pause", mixinStandardHelpOptions = true,
            description = "Pauses the running plan: no new step starts, steps in flight finish. Journaled (survives a "
                    + "coordinator fail-over). Prints the plan's state; exit 1 when there is no running plan.")
    static final class Pause extends Control {
        @Override
        dev.livetap.fleet.coordinator.UpgradeCoordinator.Action action() {
            return dev.livetap.fleet.coordinator.UpgradeCoordinator.Action.PAUSE;
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true,
            description = "Resumes a paused plan. Exit 1 when there is no running plan or it was aborted.")
    static final class Resume extends Control {
        @Override
        dev.livetap.fleet.coordinator.UpgradeCoordinator.Action action() {
            return dev.livetap.fleet.coordinator.UpgradeCoordinator.Action.RESUME;
        }
    }

    @Command(name = "abort", mixinStandardHelpOptions = true,
            description = "Aborts the running plan: no new step starts; the plan ends 'aborted' once the steps in flight "
                    + "ended. Journaled. Exit 1 when there is no running plan.")
    static final class Abort extends Control {
        @Override
        dev.livetap.fleet.coordinator.UpgradeCoordinator.Action action() {
            return dev.livetap.fleet.coordinator.UpgradeCoordinator.Action.ABORT;
        }
    }

    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Rolling replacement of every host's VMM process under a freeze budget. Default mode agents: "
                    + "one host agent JVM per host (cluster members on loopback, each with its own VMM processes in a "
                    + "network namespace with real TAPs), each round migrating every VM once (root). --budget 1,2,4,8 "
                    + "runs once per budget and prints the K curve.")
    static final class Bench implements Callable<Integer> {
        @Option(names = "--mode", paramLabel = "agents|in-process", defaultValue = "agents",
                description = "agents (one host agent process per host) or in-process (one host driven by this JVM, "
                        + "with --gate and --drivers as migration threads); default ${DEFAULT-VALUE}.")
        String mode;

        @Option(names = "--hosts", defaultValue = "1", description = "Hosts: 1-64 (in-process: 1); default ${DEFAULT-VALUE}.")
        int hosts;

        @Option(names = "--vms-per-host", paramLabel = "N", defaultValue = "100", description = "VMs per host: 1-1000, default ${DEFAULT-VALUE}.")
        int vms;

        @Option(names = "--rounds", paramLabel = "R", defaultValue = "3", description = "Measured rounds (each migrates every VM once): 1-100, default ${DEFAULT-VALUE}.")
        int rounds;

        @Option(names = "--warmup-rounds", paramLabel = "W", defaultValue = "1", description = "Unmeasured rounds first: 0-10, default ${DEFAULT-VALUE}.")
        int warmupRounds;

        @Option(names = "--budget", paramLabel = "K|auto|none[,…]", defaultValue = "auto", split = ",",
                description = "Switch-overs per host in their freeze window at once: a number, auto (adaptive, steering to "
                        + "--downtime-limit-ms) or none (every driver at once); several, comma separated: one run each "
                        + "and the K curve (agents mode); default ${DEFAULT-VALUE}.")
        java.util.List<String> budgets;

        @Option(names = "--drivers", paramLabel = "D", defaultValue = "64", description = "Migrations driven at once per host (threads): 1-1000, default ${DEFAULT-VALUE}.")
        int drivers;

        @Option(names = "--tls-certs", paramLabel = "DIR", description = "agents mode: the bench's cluster uses TLS with mutual "
                + "authentication, each member with its directory below DIR as scripts/fleet-certs DIR bench h0 h1 ... makes "
                + "them (bench: this JVM; h<i>: host i's agent). Default: plain TCP on loopback.")
        java.nio.file.Path tlsCerts;

        @Option(names = "--gate", paramLabel = "switchover|around|hold", defaultValue = "switchover",
                description = "Where the budget's permit is taken: switchover (default): in the driver's switch-over gate, "
                        + "right before migrate, so it covers migrate -> target running; around: around the whole driver run "
                        + "(the way before the gate, for A/B runs); hold (in-process mode only): at the release of a source "
                        + "held in pre-switchover (already frozen while it waits).")
        String gate;

        @Option(names = "--look-ahead", paramLabel = "N|auto|none", defaultValue = "auto",
                description = "Migrations per host in their driver run (QMP set-up included) beside the K of the budget: "
                        + "at most K + N at once; auto: N = K (following an adaptive K); none: every driver at once (the "
                        + "way before the look-ahead, for A/B runs); default ${DEFAULT-VALUE}.")
        String lookAhead;

        @Mixin
        FleetBenchOptions run = new FleetBenchOptions();

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--hosts", hosts, 1, 64);
            FreezeBudget.LookAhead ahead;
            try {
                ahead = FreezeBudget.LookAhead.parse(lookAhead);
            } catch (IllegalArgumentException e) {
                throw new BadOptionValue(e.getMessage());
            }
            BadOptionValue.range("--vms-per-host", vms, 1, 1000);
            BadOptionValue.range("--rounds", rounds, 1, 100);
            BadOptionValue.range("--warmup-rounds", warmupRounds, 0, 10);
            BadOptionValue.range("--drivers", drivers, 1, 1000);
            run.check();
            java.util.List<AgentFleetBench.Budget> asked = new java.util.ArrayList<>();
            for (String b : budgets) {
                asked.add(new AgentFleetBench.Budget(b, settings(b, vms, drivers, run.limitMs).withLookAhead(ahead)));
            }
            boolean inProcess = switch (mode) {
                case "agents" -> false;
                case "in-process" -> true;
                default -> throw new BadOptionValue("--mode must be agents or in-process: " + mode);
            };
            if (inProcess && (hosts != 1 || asked.size() != 1)) {
                throw new BadOptionValue("--mode in-process drives one host with one budget: give --hosts 1 and one --budget");
            }
            FleetBench.Gate where = switch (gate) {
                case "switchover" -> FleetBench.Gate.SWITCHOVER;
                case "around" -> FleetBench.Gate.AROUND;
                case "hold" -> FleetBench.Gate.HOLD;
                default -> throw new BadOptionValue("--gate must be switchover, around or hold: " + gate);
            };
            if (tlsCerts != null) {
                if (inProcess) {
                    throw new BadOptionValue("--tls-certs exists only with --mode agents (in-process mode has no cluster)");
                }
                for (int h = -1; h < hosts; h++) {
                    java.nio.file.Path d = tlsCerts.resolve(h < 0 ? "bench" : "h" + h);
                    if (!java.nio.file.Files.isRegularFile(d.resolve("node.p12"))) {
                        throw new BadOptionValue("--tls-certs " + tlsCerts + ": no " + d.resolve("node.p12") + " (make them with "
                                + "scripts/fleet-certs " + tlsCerts + " bench" + java.util.stream.IntStream.range(0, hosts)
                                        .mapToObj(i -> " h" + i).collect(java.util.stream.Collectors.joining()) + ")");
                    }
                }
            }
            if (!inProcess && where == FleetBench.Gate.HOLD) {
                throw new BadOptionValue("--gate hold exists only with --mode in-process (an agent takes its permit before the "
                        + "switch-over or around the step)");
            }
            Optional<String> missing = NetworkNamespace.unavailabilityCause();
            if (missing.isPresent()) {
                System.err.println("livetap fleet bench: " + missing.get());
                return ExitCodes.UNAVAILABLE;
            }
            java.util.function.Consumer<String> progress = run.json ? s -> { } : System.err::println;
            JsonNode r;
            String text;
            if (inProcess) {
                r = FleetBench.run(new FleetBench.Options(hosts, vms, rounds, warmupRounds, asked.get(0).settings(),
                        asked.get(0).label(), drivers, where, run.timeout()), progress);
                text = text(r);
            } else {
                AgentFleetBench.Options base = new AgentFleetBench.Options(hosts, vms, rounds, warmupRounds,
                        asked.get(0).settings(), asked.get(0).label(), drivers, run.timeout(), run.agentHeapMb, tlsCerts)
                        .withGate(where);
                if (asked.size() == 1) {
                    r = AgentFleetBench.run(base, progress);
                    text = text(r);
                } else {
                    r = AgentFleetBench.curve(base, asked, progress);
                    text = AgentFleetBench.curveTable(r.path("curve")) + r.path("completed").asText() + " migrations completed ("
                            + r.path("failed").asText() + " failed), fds leaked " + r.path("fds_leaked").asText() + ", wall "
                            + r.path("wall_ms").asText() + " ms (all figures: --json)";
                }
            }
            BenchCommand.print(r, run.json, text);
            return r.path("failed").asInt() == 0 && r.path("fds_leaked").asInt() == 0 ? ExitCodes.OK : ExitCodes.FAILED;
        }

        /** A budget asked on the command line: a number, auto or none. */
        static FreezeBudget.Settings settings(String budget, int vms, int drivers, double limitMs) {
            return switch (budget) {
                case "auto" -> FreezeBudget.Settings.adaptive(Math.min(4, vms), Math.max(1, Math.min(drivers, vms)), limitMs);
                case "none" -> FreezeBudget.Settings.fixed(Math.max(1, Math.min(drivers, vms)));
                default -> {
                    int k;
                    try {
                        k = Integer.parseInt(budget.strip());
                    } catch (NumberFormatException e) {
                        throw new BadOptionValue("--budget must be a number, auto or none: " + budget);
                    }
                    yield FreezeBudget.Settings.fixed(BadOptionValue.range("--budget", k, 1, 1000));
                }
            };
        }

        static String text(JsonNode r) {
            JsonNode b = r.path("budget");
            return r.path("completed").asText() + " migrations completed (" + r.path("failed").asText() + " failed), "
                    + r.path("migrations_per_s").asText() + " migrations/s\n"
                    + "downtime: " + BenchCommand.percentiles(r.path("downtime_ms")) + "; at most "
                    + (r.has("max_frozen_at_once") ? r.path("max_frozen_at_once") : r.path("max_frozen_at_once_per_host")).asText()
                    + " VMs frozen at once" + (r.has("max_frozen_at_once") ? "" : " per host") + "\n"
                    + "budget " + b.path("asked").asText() + ": K " + b.path("k_initial").asText() + " -> "
                    + (b.has("k_final") ? b.path("k_final").asText() : b.path("k_final_per_host").toString())
                    + ", fds leaked " + r.path("fds_leaked").asText() + ", wall " + r.path("wall_ms").asText()
                    + " ms (all figures: --json)";
        }
    }

    @Command(name = "soak", mixinStandardHelpOptions = true,
            description = "One host agent process with a fixed heap performs --migrations consecutive VM steps (rounds of "
                    + "--vms); after every round it samples heap used after a full GC, RSS, fds and threads. Verdict flat: "
                    + "each grew at most 5 % from the end of the warm-up to the end (root).")
    static final class Soak implements Callable<Integer> {
        @Option(names = "--migrations", paramLabel = "N", defaultValue = "10000", description = "Measured migrations: 1-10000000, default ${DEFAULT-VALUE}.")
        int migrations;

        @Option(names = "--warmup-migrations", paramLabel = "W", defaultValue = "1000", description = "Migrations before the baseline sample: default ${DEFAULT-VALUE}.")
        int warmup;

        @Option(names = "--vms", paramLabel = "V", defaultValue = "100", description = "VMs on the host (one round moves each once): 1-1000, default ${DEFAULT-VALUE}.")
        int vms;

        @Option(names = "--budget", paramLabel = "K", defaultValue = "2", description = "Switch-overs in their freeze window at once (a number, auto or none): default ${DEFAULT-VALUE}.")
        String budget;

        @Option(names = "--drivers", paramLabel = "D", defaultValue = "4", description = "Migrations the agent runs at once: 1-1000, default ${DEFAULT-VALUE}.")
        int drivers;

        @Mixin
        FleetBenchOptions run = new FleetBenchOptions();

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--migrations", migrations, 1, 10_000_000);
            BadOptionValue.range("--warmup-migrations", warmup, 0, 10_000_000);
            BadOptionValue.range("--vms", vms, 1, 1000);
            BadOptionValue.range("--drivers", drivers, 1, 1000);
            run.check();
            FreezeBudget.Settings settings = Bench.settings(budget, vms, drivers, run.limitMs);
            Optional<String> missing = NetworkNamespace.unavailabilityCause();
            if (missing.isPresent()) {
                System.err.println("livetap fleet soak: " + missing.get());
                return ExitCodes.UNAVAILABLE;
            }
            JsonNode r = FleetSoak.run(new FleetSoak.Options(migrations, vms, warmup, settings, budget, drivers,
                    run.timeout(), run.agentHeapMb), run.json ? s -> { } : System.err::println);
            JsonNode soak = r.path("soak");
            String text = FleetSoak.table(r, 25) + r.path("completed").asText() + " migrations completed (" + r.path("failed").asText()
                    + " failed), " + r.path("migrations_per_s").asText() + " migrations/s, downtime "
                    + BenchCommand.percentiles(r.path("downtime_ms")) + ", fds leaked " + r.path("fds_leaked").asText()
                    + "\ngrowth from the end of the warm-up to the end, %: " + soak.path("growth_percent") + "\nverdict: "
                    + soak.path("verdict").asText() + " (limit +" + soak.path("flat_limit_percent").asText() + " %)";
            BenchCommand.print(r, run.json, text);
            return r.path("failed").asInt() == 0 && r.path("fds_leaked").asInt() == 0 && "flat".equals(soak.path("verdict").asText())
                    ? ExitCodes.OK : ExitCodes.FAILED;
        }
    }
}
