package dev.livetap.fleet.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpException;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host agent's real migration port: one {@code livetap vmm} process per VM, their QMP sockets
 * in one directory, adopted at start and replaced one VM at a time.
 *
 * <p>The directory's layout (the agent's state directory): {@code VM.nic} describes a VM's NIC
 * ({@code ifname=… queues=… mac=…}: livetap vmm has no query that reports it), {@code VM.qmp} is
 * generation 0's QMP socket and {@code VM.gN.qmp} generation N's. A step starts generation N+1
 * ({@code --incoming}, launched {@link ChildLaunch.Policy#DETACHED DETACHED} so that it outlives
 * the agent), gives it the NIC with {@code incoming-fds}, moves the VM with {@link LocalMigration},
 * and makes the old process {@code quit}. The new process is of the step's target version, one of the
 * agent's {@link VmmBuilds}; {@code VM.gN.build} records which ({@code version=V stream-format=F}: F the
 * {@code x-stream-format} set on the source for the move, {@code default} when none was). When the target's build writes an older stream format than the
 * source (a rollback), the source's {@code x-stream-format} is set to the target's before {@code migrate}:
 * {@link #streamFormatFor}. Before launching, {@code VM.step} records the step's
 * migration id and target generation (forced to disk), so that a restarted agent can tell how an
 * interrupted step ended: {@link #reconcile}.
 *
 * <p>Adoption: of a VM's sockets, the process whose {@code query-status} is {@code running} is the
 * VM's VMM; every other live process of the VM (a retired source in {@code postmigrate}, an
 * unfinished target in {@code inmigrate}) is made to quit, and sockets nobody answers are removed.
 */
public final class VmmDirectoryPort implements HostAgent.MigrationPort {
    private static final Logger LOG = LoggerFactory.getLogger(VmmDirectoryPort.class);
    private static final Pattern SOCKET = Pattern.compile("^(.+?)(?:\\.g(\\d+))?\\.qmp$");
    private static final Duration PROBE = Duration.ofSeconds(3);
    private static final String STREAM_FORMAT = "x-stream-format";

    /** The VMM process a VM runs on now. */
    public record Current(int generation, Path qmp) {
    }

    private final Path dir;
    private final List<String> prefix;
    private final Duration timeout;
    /** The builds now (fixed, or re-read from a file on change: {@link VmmBuildsFile}). */
    private final Supplier<VmmBuilds> builds;
    private final Map<String, Current> current = new ConcurrentHashMap<>();
    private final Map<String, String> unadopted = new TreeMap<>();

    private VmmDirectoryPort(Path dir, List<String> prefix, Duration timeout, Supplier<VmmBuilds> builds) {
        this.dir = dir.toAbsolutePath().normalize();
        this.prefix = List.copyOf(prefix);
        this.timeout = timeout;
        this.builds = builds;
    }

    /**
     * Adopts the VMs described in {@code dir}.
     *
     * @param prefix what new VMM processes are started through (e.g. {@code ip netns exec NS}); empty: directly
     */
    public static VmmDirectoryPort adopt(Path dir, List<String> prefix, Duration timeout) throws IOException {
        return adopt(dir, prefix, timeout, VmmBuilds.own());
    }

    /** {@link #adopt(Path, List, Duration)} with the VMM builds new processes may be started from. */
    public static VmmDirectoryPort adopt(Path dir, List<String> prefix, Duration timeout, VmmBuilds builds) throws IOException {
        return adopt(dir, prefix, timeout, () -> builds);
    }

    /** {@link #adopt(Path, List, Duration)} with builds asked anew for each step and each state (they may change). */
    public static VmmDirectoryPort adopt(Path dir, List<String> prefix, Duration timeout, Supplier<VmmBuilds> builds)
            throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("the VMM directory does not exist: " + dir);
        }
        VmmDirectoryPort port = new VmmDirectoryPort(dir.toAbsolutePath().normalize(), prefix, timeout, builds);
        for (String vm : port.described()) {
            port.adoptVm(vm);
        }
        return port;
    }

    private List<String> described() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".nic"))
                    .map(n -> n.substring(0, n.length() - ".nic".length())).sorted().toList();
        }
    }

    private void adoptVm(String vm) throws IOException {
        List<Current> sockets = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Matcher m = SOCKET.matcher(p.getFileName().toString());
                if (m.matches() && m.group(1).equals(vm)) {
                    sockets.add(new Current(m.group(2) == null ? 0 : Integer.parseInt(m.group(2)), p));
                }
            }
        }
        sockets.sort(Comparator.comparingInt(Current::generation).reversed());
        Current running = null;
        List<String> seen = new ArrayList<>();
        for (Current c : sockets) {
            Optional<String> status = status(c.qmp());
            seen.add("g" + c.generation() + " " + status.orElse("gone"));
            if (status.isEmpty()) {
                Files.deleteIfExists(c.qmp()); // nobody listens: a process that ended
            } else if ("running".equals(status.get()) && running == null) {
                running = c;
            }
        }
        if (running == null) {
            unadopted.put(vm, "no running VMM process (" + String.join(", ", seen) + ")");
            LOG.warn("VM {} not adopted: {}", vm, unadopted.get(vm));
            return;
        }
        for (Current c : sockets) {
            if (c != running && Files.exists(c.qmp())) {
                LOG.info("VM {}: generation {} is not the VM's VMM ({}); making it quit", vm, c.generation(), seen);
                quit(c.qmp());
            }
        }
        // the process table has the last word: a VMM of this VM that is not the adopted one (a target that was still
        // starting, or stuck, when the agent died: it may have no answering socket) must not live on beside it
        for (long pid : processesOf(vm)) {
            if (!running.qmp().equals(qmpOf(pid).orElse(null))) {
                LOG.warn("VM {}: process {} ({}) is not the VM's VMM; killing it", vm, pid, qmpOf(pid).orElse(null));
                ProcessHandle.of(pid).ifPresent(h -> {
                    h.destroyForcibly();
                    try {
                        h.onExit().get(10, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        LOG.warn("process {} did not end within 10 s after SIGKILL: {}", pid, e.toString());
                    }
                });
            }
        }
        current.put(vm, running);
        LOG.info("VM {} adopted: generation {} ({})", vm, running.generation(), running.qmp());
    }

    /** Live {@code livetap vmm} processes whose {@code --qmp} socket is one of {@code vm}'s in this directory. */
    List<Long> processesOf(String vm) {
        return ProcessCensus.processesWhose(args -> ProcessCensus.vmmQmpArgument(args).map(Path::of).filter(qmp -> {
            if (!dir.equals(qmp.getParent())) {
                return false;
            }
            Matcher m = SOCKET.matcher(qmp.getFileName().toString());
            return m.matches() && m.group(1).equals(vm);
        }).isPresent());
    }

    /** The {@code --qmp} argument of a {@code livetap vmm} process (from its command line); empty for any other. */
    static Optional<Path> qmpOf(long pid) {
        return ProcessCensus.vmmQmpArgument(ProcessCensus.commandLine(pid)).map(Path::of);
    }

    /** The VMs adopted (those with a running VMM process). */
    @Override
    public List<String> vms() {
        return current.keySet().stream().sorted().toList();
    }

    /** VMs described in the directory that could not be adopted, with why. */
    public Map<String, String> unadopted() {
        return Map.copyOf(unadopted);
    }

    public Optional<Current> currentOf(String vm) {
        return Optional.ofNullable(current.get(vm));
    }

    /**
     * How an interrupted step {@code migrationId} of {@code vm} ended, from {@code VM.step} and the
     * adopted process: {@code completed} when the VM runs on the step's target generation, a failure
     * text when it launched a target and the VM is not on it (it stayed on its source), {@link #NOT_STARTED} when the
     * step file does not name it (nothing was launched for it). A step that waited for its freeze permit (in the
     * driver's switch-over gate, after its target was launched) when the agent died is a failure: the VM stayed.
     */
    @Override
    public Optional<String> reconcile(String vm, String migrationId) throws IOException {
        return Optional.of(outcomeOf(vm, migrationId));
    }

    private String outcomeOf(String vm, String migrationId) throws IOException {
        Path step = dir.resolve(vm + ".step");
        if (!Files.exists(step)) {
            return NOT_STARTED; // nothing was launched for it
        }
        String[] rec = Files.readString(step, StandardCharsets.UTF_8).trim().split(" ");
        if (!rec[0].equals(migrationId)) {
            return NOT_STARTED; // the step file is written before anything is launched: this id launched nothing
        }
        Current now = current.get(vm);
        int target = Integer.parseInt(rec[1]);
        if (now != null && now.generation() == target) {
            return "completed";
        }
        return "failed: interrupted; the VM runs on " + (now == null ? "no VMM process" : "generation " + now.generation())
                + ", not the step's target generation " + target;
    }

    /**
     * The version label of the build {@code vm}'s VMM {@code at} runs, when it can be told: for a generation the agent
     * started, its {@code VM.gN.build} record; otherwise (generation 0, started by someone else) from the process's
     * command line: a livetap distribution's {@code bin/livetap} execs its JVM with {@code -Dlivetap.home=HOME}, so a
     * process with the {@code livetap.home} of a build's launcher ({@code HOME/bin/livetap}), or of this agent's own
     * distribution, runs that build; a process of this JVM's class path without {@code livetap.home} runs the agent's
     * own build (how the agent itself starts one). Empty when none of these says (the VM is then moved as before).
     */
    Optional<String> buildOf(String vm, Current at) {
        return buildOf(vm, at, builds.get());
    }

    private Optional<String> buildOf(String vm, Current at, VmmBuilds known) {
        Optional<String> recorded = recordedBuild(vm, at);
        if (recorded.isPresent()) {
            return recorded;
        }
        for (long pid : processesOf(vm)) {
            if (at.qmp().equals(qmpOf(pid).orElse(null))) {
                return known.ofCommandLine(ProcessCensus.commandLine(pid));
            }
        }
        return Optional.empty();
    }

    /** The version in the {@code VM.gN.build} record of a generation the agent started; empty for generation 0 or none. */
    private Optional<String> recordedBuild(String vm, Current at) {
        if (at.generation() > 0) {
            Path record = dir.resolve(vm + ".g" + at.generation() + ".build");
            try {
                for (String part : Files.readString(record, StandardCharsets.UTF_8).trim().split("\\s+")) {
                    if (part.startsWith("version=")) {
                        return Optional.of(part.substring("version=".length()));
                    }
                }
            } catch (IOException e) {
                LOG.debug("no build record {}: {}", record, e.toString());
            }
        }
        return Optional.empty();
    }

    /**
     * {@link #buildOf} for every adopted VM whose build can be told, with one pass over the process table for those
     * without a build record.
     */
    @Override
    public Map<String, String> vmBuilds() {
        VmmBuilds known = builds.get();
        Map<String, String> out = new TreeMap<>();
        Map<Path, String> unrecorded = new HashMap<>();
        current.forEach((vm, at) -> recordedBuild(vm, at).ifPresentOrElse(v -> out.put(vm, v), () -> unrecorded.put(at.qmp(), vm)));
        if (!unrecorded.isEmpty()) {
            ProcessCensus.commandLinesWhere(args -> ProcessCensus.vmmQmpArgument(args).map(Path::of).filter(unrecorded::containsKey)
                    .isPresent()).forEach((pid, args) -> {
                        String vm = unrecorded.get(Path.of(ProcessCensus.vmmQmpArgument(args).orElseThrow()));
                        known.ofCommandLine(args).ifPresent(v -> out.putIfAbsent(vm, v));
                    });
        }
        return out;
    }

    @Override
    public List<String> builds() {
        return builds.get().versions();
    }

    @Override
    public HostAgent.StepDone migrate(String vm, String migrationId) throws IOException, TimeoutException {
        return migrate(vm, migrationId, VmmBuilds.CURRENT);
    }

    @Override
    public HostAgent.StepDone migrate(String vm, String migrationId, String targetVersion) throws IOException, TimeoutException {
        return migrate(vm, migrationId, targetVersion, null);
    }

    /** The target VMM's start and NIC set-up come before the gate: a freeze permit covers the switch-over alone. */
    @Override
    public boolean gatesSwitchover() {
        return true;
    }

    /** {@code gate} null: the switch-over is not gated. */
    @Override
    public HostAgent.StepDone migrate(String vm, String migrationId, String targetVersion, LocalMigration.SwitchoverGate gate)
            throws IOException, TimeoutException {
        VmmBuilds known = builds.get(); // one set for the whole step
        Optional<VmmBuilds.Build> build = known.get(targetVersion);
        if (build.isEmpty()) {
            return new HostAgent.StepDone(vm, migrationId, "failed: this agent has no VMM build " + targetVersion + " (it has "
                    + String.join(", ", known.versions()) + ")", -1);
        }
        Current source = current.get(vm);
        if (source == null) {
            return new HostAgent.StepDone(vm, migrationId, "failed: VM " + vm + " is not adopted on this host"
                    + (unadopted.containsKey(vm) ? " (" + unadopted.get(vm) + ")" : ""), -1);
        }
        // current (the CLI's default) never skips: no need to find out what the VM runs
        Optional<String> runs = VmmBuilds.CURRENT.equals(targetVersion) ? Optional.empty() : buildOf(vm, source, known);
        if (VmmBuilds.alreadyOn(targetVersion, runs)) {
            LOG.info("VM {}: generation {} runs build {} already; not moved", vm, source.generation(), runs.get());
            return new HostAgent.StepDone(vm, migrationId, HostAgent.StepDone.SKIPPED_PREFIX + runs.get(), -1);
        }
        String[] nic = nicOf(vm);
        int generation = source.generation() + 1;
        String name = vm + ".g" + generation;
        writeForced(dir.resolve(vm + ".step"), migrationId + " " + generation + "\n");
        VmmProcess target = VmmProcess.start(VmmProcess.Options.of(dir, name).withPolicy(ChildLaunch.Policy.DETACHED)
                .withPrefix(prefix).withIncoming(true).withLauncher(build.get().launcher())
                .withArgs(List.of("--migration-timeout", String.valueOf(Math.max(30, timeout.toSeconds())))));
        boolean moved = false;
        Optional<Pin> pinned = Optional.empty();
        try {
            target.awaitReady(timeout);
            try (QmpClient c = QmpClient.connect(target.qmpSocket(), timeout)) {
                c.negotiate();
                ObjectNode netdev = JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0")
                        .put("ifname", nic[0]).put("queues", Integer.parseInt(nic[1])).put("incoming-fds", true)
                        .put("script", "no").put("downscript", "no");
                c.execute("netdev_add", netdev);
                ObjectNode device = JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci").put("id", "nic0")
                        .put("netdev", "net0").put("mac", nic[2]);
                if (Integer.parseInt(nic[1]) > 1) {
                    device.put("mq", true);
                }
                c.execute("device_add", device);
                pinned = pinStreamFormat(vm, source, build.get(), known, c);
            }
            writeForced(dir.resolve(name + ".build"), "version=" + build.get().version() + " stream-format="
                    + (pinned.isPresent() ? String.valueOf(pinned.get().format()) : "default") + "\n");
            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(source.qmp(), target.qmpSocket())
                    .withTimeout(timeout).withSwitchoverGate(gate), line -> { });
            if (!r.succeeded()) {
                return new HostAgent.StepDone(vm, migrationId, "failed: " + r.status() + (r.error() != null ? " " + r.error() : ""),
                        -1);
            }
            moved = true;
            current.put(vm, new Current(generation, target.qmpSocket()));
            quit(source.qmp());
            return new HostAgent.StepDone(vm, migrationId, "completed", r.downtimeMs());
        } finally {
            if (!moved) {
                if (pinned.isPresent()) {
                    unpin(source.qmp(), pinned.get());
                }
                target.close(); // the VM stayed on its source: the unfinished target goes
            }
        }
    }

    /**
     * Sets the source's {@code x-stream-format} to the target's format when the target writes an older one
     * (a rollback: {@link #streamFormatFor}); returns what was set, empty when nothing was. Each side's format is
     * known without asking when its build is (declared with {@code stream-format=N}, or the agent's own build); a
     * side whose build does not say is asked once ({@code query-migrate-parameters}); two builds that both say are
     * not asked at all. A fresh VMM writes its build's format, and the agent resets what it pinned on a source whose
     * VM did not move, so the build's format is what the source writes.
     */
    private Optional<Pin> pinStreamFormat(String vm, Current source, VmmBuilds.Build build, VmmBuilds known, QmpClient target)
            throws IOException, TimeoutException {
        OptionalInt targetFormat = formatOf(build);
        if (targetFormat.isEmpty()) {
            targetFormat = reportedFormat(target);
        }
        OptionalInt sourceFormat = buildOf(vm, source, known).flatMap(known::get).map(VmmDirectoryPort::formatOf)
                .orElse(OptionalInt.empty());
        if (sourceFormat.isPresent() && targetFormat.isPresent() && streamFormatFor(sourceFormat, targetFormat).isEmpty()) {
            return Optional.empty(); // both known, nothing to pin: the source is not asked
        }
        try (QmpClient s = QmpClient.connect(source.qmp(), timeout)) {
            s.negotiate();
            if (sourceFormat.isEmpty()) {
                sourceFormat = reportedFormat(s);
            }
            OptionalInt pin = streamFormatFor(sourceFormat, targetFormat);
            if (pin.isPresent()) {
                s.execute("migrate-set-parameters", JsonNodeFactory.instance.objectNode().put(STREAM_FORMAT, pin.getAsInt()));
                LOG.info("VM {}: the target build {} writes stream format {}, the source {}: x-stream-format {} set on the source",
                        vm, build.version(), targetFormat.getAsInt(), sourceFormat.getAsInt(), pin.getAsInt());
                return Optional.of(new Pin(pin.getAsInt(), sourceFormat.getAsInt()));
            } else if (targetFormat.isEmpty()) {
                LOG.info("VM {}: build {} does not report its stream format and --vmm-build declares none; the source writes its"
                        + " own (the target refuses it if it cannot load it)", vm, build.version());
            }
            return Optional.empty();
        }
    }

    /** The stream format {@code build} writes when known without asking: declared, or the agent's own build's. */
    static OptionalInt formatOf(VmmBuilds.Build build) {
        if (build.streamFormat().isPresent()) {
            return OptionalInt.of(build.streamFormat().get());
        }
        return build.launcher() == null ? OptionalInt.of(StreamEncoder.FORMAT_VERSION) : OptionalInt.empty();
    }

    /**
     * The {@code x-stream-format} to set on a source that writes {@code source} for a target whose build writes
     * {@code target}: the target's, when it is older (a rollback; a build loads its own format and the one before);
     * empty when nothing is to be set (the same or a newer target, or either format unknown: a build from before
     * the parameter cannot be pinned and does not report it).
     */
    static OptionalInt streamFormatFor(OptionalInt source, OptionalInt target) {
        return source.isPresent() && target.isPresent() && target.getAsInt() < source.getAsInt() ? target : OptionalInt.empty();
    }

    /**
     * The {@code x-stream-format} a VMM reports ({@code query-migrate-parameters}); empty for a build without it (or
     * without the query).
     */
    private static OptionalInt reportedFormat(QmpClient c) throws TimeoutException {
        try {
            JsonNode v = c.execute("query-migrate-parameters", null).path(STREAM_FORMAT);
            return v.isInt() ? OptionalInt.of(v.asInt()) : OptionalInt.empty();
        } catch (QmpException e) {
            return OptionalInt.empty();
        }
    }

    /** An {@code x-stream-format} set on a source: {@code format}, over the {@code was} it reported. */
    private record Pin(int format, int was) {
    }

    /** A migration that did not move the VM: its source writes what it wrote before (best effort; it stays the VM's VMM). */
    private void unpin(Path sourceQmp, Pin pin) {
        try (QmpClient s = QmpClient.connect(sourceQmp, PROBE)) {
            s.negotiate();
            s.execute("migrate-set-parameters", JsonNodeFactory.instance.objectNode().put(STREAM_FORMAT, pin.was()));
        } catch (IOException | TimeoutException | RuntimeException e) {
            LOG.warn("could not reset x-stream-format on {}: {}", sourceQmp, e.toString());
        }
    }

    /** {@code ifname}, {@code queues}, {@code mac} from {@code VM.nic}. */
    private String[] nicOf(String vm) throws IOException {
        Map<String, String> kv = new TreeMap<>();
        for (String part : Files.readString(dir.resolve(vm + ".nic"), StandardCharsets.UTF_8).trim().split("\\s+")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                kv.put(part.substring(0, eq), part.substring(eq + 1));
            }
        }
        if (!kv.containsKey("ifname") || !kv.containsKey("mac")) {
            throw new IOException(vm + ".nic needs ifname=… and mac=… (queues=… optional): " + kv);
        }
        return new String[] {kv.get("ifname"), kv.getOrDefault("queues", "1"), kv.get("mac")};
    }

    /** Writes the NIC description of a VM ({@code VM.nic}). */
    public static void describe(Path dir, String vm, String ifname, int queues, String mac) throws IOException {
        writeForced(dir.resolve(vm + ".nic"), "ifname=" + ifname + " queues=" + queues + " mac=" + mac + "\n");
    }

    private static void writeForced(Path file, String text) throws IOException {
        try (var ch = FileChannel.open(file, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
    }

    /** The QMP {@code query-status} of the process at {@code qmp}; empty when nobody answers. */
    static Optional<String> status(Path qmp) {
        try (QmpClient c = QmpClient.connect(qmp, PROBE)) {
            c.negotiate();
            return Optional.of(c.execute("query-status", null).path("status").asText());
        } catch (IOException | TimeoutException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * Makes the process at {@code qmp} quit and waits (bounded) until it has exited, found by its
     * command line in the process table; SIGKILL when it is still there after 10 s.
     */
    void quit(Path qmp) {
        List<ProcessHandle> owners = new ArrayList<>();
        Matcher m = SOCKET.matcher(qmp.getFileName().toString());
        if (m.matches()) {
            for (long pid : processesOf(m.group(1))) {
                if (qmp.equals(qmpOf(pid).orElse(null))) {
                    ProcessHandle.of(pid).ifPresent(owners::add);
                }
            }
        }
        try (QmpClient c = QmpClient.connect(qmp, PROBE)) {
            c.negotiate();
            c.execute("quit", null);
        } catch (IOException | TimeoutException | RuntimeException e) {
            LOG.debug("quit {}: {}", qmp, e.toString()); // gone already, or going
        }
        for (ProcessHandle h : owners) {
            try {
                h.onExit().get(10, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                LOG.warn("{} (pid {}) did not exit within 10 s of quit; SIGKILL", qmp, h.pid());
                h.destroyForcibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (ExecutionException e) {
                LOG.debug("waiting for {}: {}", h.pid(), e.toString());
            }
        }
        try {
            Files.deleteIfExists(qmp);
        } catch (IOException e) {
            LOG.debug("remove {}: {}", qmp, e.toString());
        }
    }
}
