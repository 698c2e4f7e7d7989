package dev.livetap.fleet.faults;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.fleet.agent.AgentNode;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.VmmDirectoryPort;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.journal.ThrowawayPostgres;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * The cluster under test of one fault scenario: coordinator-capable {@code livetap fleet node} JVMs
 * on one PostgreSQL database, one {@code livetap agent} JVM per host (its VMMs in the host's network
 * namespace, each VM a detached {@code livetap vmm} with a real 2-queue TAP), and this JVM as an
 * operator member that submits the plan and reads the status. Every child is recorded by pid and
 * {@link #close()} ends them all (SIGCONT first for a stopped one), deletes the namespaces (which
 * kills the VMMs inside) and the directory, also after a failed start.
 */
final class FaultFleet implements AutoCloseable {
    static final int QUEUES = 2;
    /** The host side of every VM's TAP and the VMM's guest stand-in (the VMM's default): one subnet per TAP device. */
    static final String HOST_CIDR = "10.0.1.1/24";
    static final String GUEST_IP = "10.0.1.2";
    private static final Duration ASK = Duration.ofSeconds(10);

    /** A host: its namespace, its agent's state directory (the VMMs' sockets) and its VMs. */
    record Host(String name, NetworkNamespace ns, Path vmmDir, List<String> vms, int agentPort) {
        String tapOf(String vm) {
            return "lt" + vms.indexOf(vm);
        }
    }

    /** A coordinator-capable node JVM. */
    record Node(String name, int port, ChildProcess process) {
        String address() {
            return "pekko://" + FleetConfig.SYSTEM_NAME + "@127.0.0.1:" + port;
        }
    }

    private final FaultMatrix.Settings settings;
    private final Path dir;
    private final String journalUrl;
    private final Path passwordFile;
    private final Map<String, Host> hosts = new LinkedHashMap<>();
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final Map<String, ChildProcess> agents = new LinkedHashMap<>();
    private final List<ChildProcess> children = new ArrayList<>();
    private final List<NetworkNamespace> namespaces = new ArrayList<>();
    private final Map<String, Integer> agentStarts = new LinkedHashMap<>();
    private FleetNode operator;
    private boolean keepDirectory;

    private FaultFleet(FaultMatrix.Settings settings, Path dir, String journalUrl, Path passwordFile) {
        this.settings = settings;
        this.dir = dir;
        this.journalUrl = journalUrl;
        this.passwordFile = passwordFile;
    }

    /** Starts everything; on any failure ends what was started and throws. */
    static FaultFleet start(FaultMatrix.Settings settings, ThrowawayPostgres pg, String database, Consumer<String> progress)
            throws IOException, TimeoutException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfx"); // short: QMP socket paths
        String url = pg.createDatabase(database);
        Path pw = dir.resolve("journal-password");
        Files.writeString(pw, pg.credentials().password() + "\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
        FaultFleet f = new FaultFleet(settings, dir, url, pw);
        try {
            f.startVmms();
            progress.accept("  " + f.hosts.size() + " hosts x " + settings.vmsPerHost() + " VMs (real 2-queue TAPs) ready; load "
                    + FaultMatrix.loadAverage());
            f.startNodes();
            progress.accept("  " + f.nodes.size() + " coordinator-capable nodes Up; load " + FaultMatrix.loadAverage());
            for (Host h : f.hosts.values()) {
                f.agents.put(h.name(), f.launchAgent(h));
            }
            for (Host h : f.hosts.values()) {
                f.awaitAgent(h, 1);
            }
            FleetTls tls = settings.tlsCerts() == null ? FleetTls.OFF : FleetTls.fromDirectory(settings.tlsCerts().resolve("operator"));
            f.operator = FleetNode.start(new FleetConfig("127.0.0.1", 0, f.seeds(), "jdbc:h2:mem:never-opened",
                    List.of(FleetNode.OPERATOR_ROLE), tls, FleetConfig.MANAGEMENT_OFF), settings.timeout());
            progress.accept("  " + f.agents.size() + " host agents adopted their VMs; operator joined; load "
                    + FaultMatrix.loadAverage());
            return f;
        } catch (IOException | TimeoutException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private void startVmms() throws IOException, TimeoutException {
        for (int h = 1; h <= settings.hosts(); h++) {
            String name = "h" + h;
            NetworkNamespace ns = NetworkNamespace.create("fx", List.of(dir));
            namespaces.add(ns);
            Path vmmDir = Files.createDirectories(dir.resolve(name));
            List<String> vms = new ArrayList<>();
            for (int i = 0; i < settings.vmsPerHost(); i++) {
                vms.add(name + "-vm" + i);
            }
            Host host = new Host(name, ns, vmmDir, List.copyOf(vms), freePort());
            hosts.put(name, host);
            List<VmmProcess> started = new ArrayList<>();
            for (String vm : vms) {
                started.add(VmmProcess.start(VmmProcess.Options.of(vmmDir, vm).withPolicy(ChildLaunch.Policy.DETACHED)
                        .withPrefix(ns.wrap(List.of()))));
            }
            for (int i = 0; i < vms.size(); i++) {
                String vm = vms.get(i);
                VmmProcess p = started.get(i).awaitReady(settings.timeout());
                String mac = String.format("52:54:00:18:%02x:%02x", h, i);
                String tap = host.tapOf(vm);
                try (QmpClient c = QmpClient.connect(p.qmpSocket(), settings.timeout())) {
                    c.negotiate();
                    c.execute("netdev_add", JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0")
                            .put("ifname", tap).put("queues", QUEUES));
                    c.execute("device_add", JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci")
                            .put("id", "nic0").put("netdev", "net0").put("mq", true).put("mac", mac));
                }
                // the VMM created the TAP; its host side gets an address so that the VM's stand-in can be pinged through it
                ns.run("ip", "addr", "add", HOST_CIDR, "dev", tap);
                ns.run("ip", "link", "set", tap, "up");
                VmmDirectoryPort.describe(vmmDir, vm, tap, QUEUES, mac);
            }
        }
    }

    private void startNodes() throws IOException {
        List<Integer> ports = new ArrayList<>();
        for (int n = 1; n <= settings.nodes(); n++) {
            ports.add(freePort());
        }
        for (int n = 1; n <= settings.nodes(); n++) {
            nodes.put("n" + n, new Node("n" + n, ports.get(n - 1), null));
        }
        // n1 founds the cluster (it is the oldest, so the singleton starts there); the others join through the seeds
        for (Node n : List.copyOf(nodes.values())) {
            List<String> cmd = new ArrayList<>(settings.livetap());
            cmd.addAll(List.of("fleet", "node"));
            cmd.addAll(transport(n.name()));
            cmd.addAll(List.of("--journal-url", journalUrl, "--journal-password-file",
                    passwordFile.toString(), "--port", String.valueOf(n.port()), "--management-port", "-1"));
            if (!n.name().equals("n1")) {
                cmd.addAll(List.of("--seed-nodes", String.join(",", seeds())));
            }
            ChildProcess p = launch(cmd, "node-" + n.name());
            nodes.put(n.name(), new Node(n.name(), n.port(), p));
            if (n.name().equals("n1")) {
                awaitReady(p, "node n1", 1);
            }
        }
        for (Node n : nodes.values()) {
            awaitReady(n.process(), "node " + n.name(), 1);
        }
    }

    List<String> seeds() {
        return nodes.values().stream().map(Node::address).toList();
    }

    private ChildProcess launchAgent(Host h) {
        agentStarts.merge(h.name(), 1, Integer::sum);
        List<String> cmd = new ArrayList<>(settings.livetap());
        cmd.addAll(List.of("agent", "--host", h.name()));
        cmd.addAll(transport(h.name()));
        cmd.addAll(List.of("--seed-nodes", String.join(",", seeds()), "--vmm-dir",
                h.vmmDir().toString(), "--netns", h.ns().name(), "--budget", "1", "--port", String.valueOf(h.agentPort()),
                "--management-port", "-1"));
        return launch(cmd, "agent-" + h.name() + "-" + agentStarts.get(h.name()));
    }

    /** A member's transport options: {@code --no-tls}, or {@code --tls-dir} its certificate's directory. */
    private List<String> transport(String member) {
        return settings.tlsCerts() == null ? List.of("--no-tls") : List.of("--tls-dir", settings.tlsCerts().resolve(member).toString());
    }

    private void awaitAgent(Host h, int nth) throws IOException {
        String line = awaitReady(agents.get(h.name()), "agent " + h.name() + " (start " + nth + ")", 1);
        String expected = "READY " + h.name() + " " + h.vms().size() + " VM(s) adopted";
        if (!line.startsWith(expected)) {
            throw new IOException("agent " + h.name() + " adopted not every VM: " + line);
        }
    }

    /** SIGKILLs the host's agent, starts it again on the same address and waits until it re-adopted every VM. */
    void restartAgent(String host, boolean killFirst) throws IOException {
        if (killFirst) {
            agents.get(host).kill();
        }
        Host h = hosts.get(host);
        agents.put(host, launchAgent(h));
        awaitAgent(h, agentStarts.get(host));
    }

    private ChildProcess launch(List<String> cmd, String label) {
        ChildProcess p = ChildProcess.startWatched(cmd, dir, label, ChildLaunch.Policy.DIES_WITH_PARENT, "READY ", false);
        children.add(p);
        return p;
    }

    private String awaitReady(ChildProcess p, String what, int count) throws IOException {
        try {
            return p.awaitMarked(count, settings.timeout()).get(count - 1);
        } catch (TimeoutException | IOException e) {
            throw new IOException(what + " not READY: " + e.getMessage() + "; " + p.stderrTail(3000), e);
        }
    }

    void submit(Plan plan) throws IOException {
        UpgradeCoordinator.Reply r = ask(rt -> new UpgradeCoordinator.SubmitPlan(plan, rt)).orElseThrow(
                () -> new IOException("the coordinator did not answer the plan within " + ASK.toSeconds() + " s"));
        if (!(r instanceof UpgradeCoordinator.PlanAccepted)) {
            throw new IOException("the plan was not accepted: " + r);
        }
    }

    /** The coordinator's status; empty when it did not answer within the ask's bound (no singleton right now). */
    Optional<UpgradeCoordinator.Status> status() {
        return ask(UpgradeCoordinator.GetStatus::new).filter(UpgradeCoordinator.Status.class::isInstance)
                .map(UpgradeCoordinator.Status.class::cast);
    }

    private Optional<UpgradeCoordinator.Reply> ask(
            Function<ActorRef<UpgradeCoordinator.Reply>, UpgradeCoordinator.Command> m) {
        try {
            return Optional.of(AskPattern.<UpgradeCoordinator.Command, UpgradeCoordinator.Reply>ask(operator.coordinator(), m::apply,
                    ASK, operator.system().scheduler()).toCompletableFuture().get(ASK.toMillis() + 1000, TimeUnit.MILLISECONDS));
        } catch (ExecutionException | TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** Polls the status (bounded) until {@code done} holds; the last status seen (maybe not satisfying). */
    Optional<UpgradeCoordinator.Status> awaitStatus(Predicate<UpgradeCoordinator.Status> done, Duration bound)
            throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        Optional<UpgradeCoordinator.Status> last = Optional.empty();
        while (System.nanoTime() < deadline) {
            Optional<UpgradeCoordinator.Status> s = status();
            if (s.isPresent()) {
                last = s;
                if (done.test(s.get())) {
                    return last;
                }
            }
            Thread.sleep(100);
        }
        return last;
    }

    /** The node the singleton runs on: the oldest {@code Up} member with role coordinator, as this operator sees it. */
    Optional<Node> singletonNode() {
        Member oldest = null;
        for (Member m : Cluster.get(operator.system()).state().getMembers()) {
            if (m.hasRole(FleetNode.COORDINATOR_ROLE) && m.status() == MemberStatus.up() && (oldest == null || m.isOlderThan(oldest))) {
                oldest = m;
            }
        }
        if (oldest == null) {
            return Optional.empty();
        }
        String address = oldest.address().toString();
        return nodes.values().stream().filter(n -> n.address().equals(address)).findFirst();
    }

    /** Whether this operator's view still lists {@code node} as a member (any status). */
    boolean isMember(Node node) {
        for (Member m : Cluster.get(operator.system()).state().getMembers()) {
            if (m.address().toString().equals(node.address())) {
                return true;
            }
        }
        return false;
    }

    /** Every host's agent through the Receptionist (its host is in its actor name); those listed within the bound. */
    Map<String, ActorRef<HostAgent.Command>> agentRefs() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        Map<String, ActorRef<HostAgent.Command>> found = new LinkedHashMap<>();
        while (found.size() < hosts.size() && System.nanoTime() < deadline) {
            try {
                Receptionist.Listing listing = AskPattern.<Receptionist.Command, Receptionist.Listing>ask(
                        operator.system().receptionist(), r -> Receptionist.find(HostAgent.KEY, r), Duration.ofSeconds(5),
                        operator.system().scheduler()).toCompletableFuture().get(6, TimeUnit.SECONDS);
                for (ActorRef<HostAgent.Command> ref : listing.getServiceInstances(HostAgent.KEY)) {
                    String name = ref.path().name();
                    if (name.startsWith(HostAgent.ACTOR_NAME_PREFIX)) {
                        found.put(name.substring(HostAgent.ACTOR_NAME_PREFIX.length()), ref);
                    }
                }
            } catch (ExecutionException | TimeoutException e) {
                // the Receptionist did not answer in time: ask again
            }
            if (found.size() < hosts.size()) {
                Thread.sleep(100);
            }
        }
        return found;
    }

    /** The agent's state (its highest accepted epoch among it); empty when it did not answer within 10 s. */
    Optional<HostAgent.AgentState> agentState(ActorRef<HostAgent.Command> agent) {
        try {
            return Optional.of(AskPattern.<HostAgent.Command, HostAgent.AgentState>ask(agent, HostAgent.GetState::new, ASK,
                    operator.system().scheduler()).toCompletableFuture().get(ASK.toMillis() + 1000, TimeUnit.MILLISECONDS));
        } catch (ExecutionException | TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** Sends the agent a step as a coordinator of {@code epoch} would; its answer, empty when none within 10 s. */
    Optional<HostAgent.StepReply> performStep(ActorRef<HostAgent.Command> agent, String host, String vm, String id, long epoch) {
        try {
            return Optional.of(AskPattern.<HostAgent.Command, HostAgent.StepReply>ask(agent,
                    r -> new HostAgent.PerformStep(host, vm, id, epoch, r), ASK, operator.system().scheduler())
                    .toCompletableFuture().get(ASK.toMillis() + 1000, TimeUnit.MILLISECONDS));
        } catch (ExecutionException | TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    static void signal(long pid, String signal) {
        HostCommand.check(Duration.ofSeconds(5), "kill", "-" + signal, String.valueOf(pid));
    }

    /** Keeps the directory (the children's logs) after {@link #close()}: a failed scenario's evidence. */
    void keepDirectory() {
        keepDirectory = true;
    }

    FleetNode operator() {
        return operator;
    }

    Map<String, Host> hosts() {
        return hosts;
    }

    Map<String, Node> nodes() {
        return nodes;
    }

    Map<String, ChildProcess> agents() {
        return agents;
    }

    String journalUrl() {
        return journalUrl;
    }

    Path dir() {
        return dir;
    }

    List<String> allVms() {
        return hosts.values().stream().flatMap(h -> h.vms().stream()).toList();
    }

    Host hostOf(String vm) {
        return hosts.values().stream().filter(h -> h.vms().contains(vm)).findFirst().orElseThrow();
    }

    /** The live {@code livetap vmm} processes of {@code vm} (the process table: their {@code --qmp} argument), pid → generation. */
    static Map<Long, Integer> vmmProcessesOf(Path vmmDir, String vm) {
        return vmmProcesses(Map.of(vmmDir, List.of(vm))).getOrDefault(vm, Map.of());
    }

    /** One pass over the process table: per VM of {@code vmsByDir} its live VMM processes, pid → generation. */
    static Map<String, Map<Long, Integer>> vmmProcesses(Map<Path, List<String>> vmsByDir) {
        Map<String, Map<Long, Integer>> found = new LinkedHashMap<>();
        ProcessCensus.commandLinesWhere(args -> ProcessCensus.vmmQmpArgument(args).isPresent() && !"ip".equals(args.get(0)))
                .forEach((pid, args) -> {
                    String qmp = ProcessCensus.vmmQmpArgument(args).orElseThrow();
                    vmsByDir.forEach((dir, vms) -> {
                        for (String vm : vms) {
                            String zero = dir.resolve(vm + ".qmp").toString();
                            String later = dir.resolve(vm + ".g").toString();
                            if (qmp.equals(zero)) {
                                found.computeIfAbsent(vm, v -> new LinkedHashMap<>()).put(pid, 0);
                            } else if (qmp.startsWith(later) && qmp.endsWith(".qmp")) {
                                found.computeIfAbsent(vm, v -> new LinkedHashMap<>()).put(pid,
                                        Integer.parseInt(qmp.substring(later.length(), qmp.length() - ".qmp".length())));
                            }
                        }
                    });
                });
        return found;
    }

    /** Every host's VMs by the host's state directory, for {@link #vmmProcesses}. */
    Map<Path, List<String>> vmsByDirectory() {
        Map<Path, List<String>> m = new LinkedHashMap<>();
        hosts.values().forEach(h -> m.put(h.vmmDir(), h.vms()));
        return m;
    }

    /** The QMP socket of {@code vm}'s generation {@code g}. */
    static Path qmpOf(Path vmmDir, String vm, int g) {
        return vmmDir.resolve(g == 0 ? vm + ".qmp" : vm + ".g" + g + ".qmp");
    }

    /** The VMM's answer to {@code command} over QMP (bounded), or a text saying why there is none. */
    static JsonNode qmp(Path socket, String command) throws IOException {
        try (QmpClient c = QmpClient.connect(socket, Duration.ofSeconds(10))) {
            c.negotiate();
            return c.execute(command, null);
        } catch (TimeoutException e) {
            throw new IOException(socket + ": no answer to " + command + " within 10 s", e);
        } catch (RuntimeException e) {
            throw new IOException(socket + ": " + command + ": " + e.getMessage(), e);
        }
    }

    /** One ping of the VM's guest stand-in, out of the VM's own TAP (every TAP of a host has the same subnet). */
    boolean ping(String vm) {
        Host h = hostOf(vm);
        for (int attempt = 0; attempt < 3; attempt++) {
            if (h.ns().exec(Duration.ofSeconds(5), "ping", "-n", "-c", "1", "-W", "2", "-I", h.tapOf(vm), GUEST_IP).ok()) {
                return true;
            }
        }
        return false;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The agents' ledgers, by host. */
    Map<String, Path> ledgers() {
        Map<String, Path> l = new LinkedHashMap<>();
        hosts.values().forEach(h -> l.put(h.name(), h.vmmDir().resolve(AgentNode.LEDGER)));
        return l;
    }

    @Override
    public void close() {
        boolean interrupted = Thread.interrupted(); // a timeout's interrupt must not skip the clean-up
        try {
            if (operator != null) {
                operator.close();
            }
            for (ChildProcess p : children) {
                if (p.isAlive()) {
                    HostCommand.run(Duration.ofSeconds(5), List.of("kill", "-CONT", String.valueOf(p.pid())));
                    try {
                        p.kill();
                    } catch (RuntimeException e) {
                        // reported by the next run's stale clean-up; keep ending the others
                    }
                }
            }
            for (NetworkNamespace ns : namespaces) {
                ns.close(); // kills the VMMs inside (they are detached from their agents) and deletes the TAPs
            }
            killLeftovers();
            if (!keepDirectory) {
                deleteTree(dir);
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Any {@code livetap vmm} still naming a socket of this fleet's directory (none after the namespaces went). */
    private void killLeftovers() {
        String mine = dir + "/";
        ProcessCensus.processesWhose(args -> String.join(" ", args).contains(mine) && args.contains("vmm"))
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a leftover temp directory is harmless; the namespaces and processes are what must go
        }
    }
}
