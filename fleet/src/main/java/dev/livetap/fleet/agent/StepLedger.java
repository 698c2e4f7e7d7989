package dev.livetap.fleet.agent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The agent's own record of its steps, one line per change, forced to disk before the agent acts:
 * {@code started MIGRATION_ID VM EPOCH} before a migration begins, {@code ended MIGRATION_ID VM OUTCOME}
 * after. QEMU keeps no migration id; this file is how a repeated step is recognised after an agent
 * restart. A step started and never ended (the agent died mid-step) is reported as
 * {@link Entry#open()}; the agent resolves it through its migration port ({@code MigrationPort.reconcile}).
 *
 * <p><b>Retention.</b> Per VM the ledger keeps its last {@code keepPerVm} steps (default
 * {@value #KEEP_PER_VM}) and every open one; older ended steps are forgotten, in memory and in the
 * file (compacted at open and whenever it holds more than about twice what is kept). This keeps
 * idempotence because the coordinator grants a VM's next step only after it journaled the end of
 * the previous one (a VM is never in two migrations at once): a step any coordinator may still
 * repeat — after a step timeout, a fail-over, or in a later plan naming a given-up host — is the
 * VM's latest step here. An older id can only come back as a duplicate sent before that end; it
 * travels the same sender→agent path as the newer step and arrives before it, or is from an older
 * epoch and fenced. Size: {@code keepPerVm} entries per VM the agent has migrated, plus any
 * older step still open (one at most per VM in practice: the agent reconciles it before the VM's next step).
 */
public final class StepLedger implements AutoCloseable {
    /** Steps kept per VM: the latest (the only one a coordinator may repeat) and one before it as margin. */
    public static final int KEEP_PER_VM = 2;
    /** The file is compacted when it holds more lines than twice the compacted form plus this slack. */
    static final int COMPACT_SLACK_LINES = 64;

    /** What the ledger knows of one migration id. */
    public record Entry(String migrationId, String vm, long epoch, String outcome) {
        public boolean open() {
            return outcome == null;
        }
    }

    private final Path path;
    private final int keepPerVm;
    private FileChannel file;
    private final Map<String, Entry> entries = new HashMap<>();
    /** VM → its kept migration ids, oldest first. */
    private final Map<String, ArrayDeque<String>> idsOfVm = new TreeMap<>();
    private long highestEpoch;
    private long linesInFile;

    private StepLedger(Path path, int keepPerVm) {
        this.path = path;
        this.keepPerVm = keepPerVm;
    }

    /** Opens (creating if missing) {@code path}, reads what it holds and keeps {@value #KEEP_PER_VM} steps per VM. */
    public static StepLedger open(Path path) throws IOException {
        return open(path, KEEP_PER_VM);
    }

    /** Opens (creating if missing) {@code path}, reads what it holds, and compacts it to what is kept. */
    public static StepLedger open(Path path, int keepPerVm) throws IOException {
        if (keepPerVm < 1) {
            throw new IllegalArgumentException("a ledger keeps at least the latest step of each VM: " + keepPerVm);
        }
        Path absolute = path.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        StepLedger ledger = new StepLedger(absolute, keepPerVm);
        if (Files.exists(absolute)) {
            List<String> lines = Files.readAllLines(absolute, StandardCharsets.UTF_8);
            for (String line : lines) {
                ledger.apply(line);
            }
            ledger.linesInFile = lines.size();
        }
        ledger.file = FileChannel.open(absolute, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        try {
            if (ledger.linesInFile > ledger.compactedLines()) {
                ledger.compact();
            }
        } catch (IOException | RuntimeException e) {
            ledger.close();
            throw e;
        }
        return ledger;
    }

    private void apply(String line) {
        String[] f = line.split(" ", 4);
        if (f.length == 4 && f[0].equals("started")) {
            long epoch = Long.parseLong(f[3]);
            keep(new Entry(f[1], f[2], epoch, null));
            highestEpoch = Math.max(highestEpoch, epoch);
        } else if (f.length == 4 && f[0].equals("ended")) {
            Entry e = entries.get(f[1]);
            keep(new Entry(f[1], f[2], e == null ? 0 : e.epoch(), f[3]));
        } else if (f.length == 2 && f[0].equals("epoch")) {
            highestEpoch = Math.max(highestEpoch, Long.parseLong(f[1]));
        } else if (!line.isBlank()) {
            throw new IllegalStateException("step ledger: unreadable line: " + line);
        }
    }

    /** Records {@code e} and forgets the VM's ended steps older than its last {@code keepPerVm} (never an open one). */
    private void keep(Entry e) {
        ArrayDeque<String> ids = idsOfVm.computeIfAbsent(e.vm(), vm -> new ArrayDeque<>());
        if (entries.put(e.migrationId(), e) == null) {
            ids.addLast(e.migrationId());
        }
        int older = ids.size() - keepPerVm;
        for (Iterator<String> it = ids.iterator(); older > 0 && it.hasNext(); older--) {
            String id = it.next();
            if (!entries.get(id).open()) {
                it.remove();
                entries.remove(id);
            }
        }
    }

    public Optional<Entry> get(String migrationId) {
        return Optional.ofNullable(entries.get(migrationId));
    }

    /** The open step of {@code vm}, if any. */
    public Optional<Entry> openStepOf(String vm) {
        ArrayDeque<String> ids = idsOfVm.get(vm);
        if (ids == null) {
            return Optional.empty();
        }
        return ids.stream().map(entries::get).filter(Entry::open).findFirst();
    }

    /** The highest coordinator epoch this agent has accepted (kept across agent restarts). */
    public long highestEpoch() {
        return highestEpoch;
    }

    /** Migration ids kept in memory ({@code keepPerVm} per VM at most, plus older open ones). */
    public int size() {
        return entries.size();
    }

    /** Lines in the file now (it is compacted when far above {@code 2 × size() + 1}). */
    public long linesInFile() {
        return linesInFile;
    }

    public void recordEpoch(long epoch) throws IOException {
        write("epoch " + epoch);
    }

    public void recordStarted(String migrationId, String vm, long epoch) throws IOException {
        word("migration id", migrationId);
        word("vm", vm);
        write("started " + migrationId + " " + vm + " " + epoch);
    }

    /** {@code outcome}: {@code completed} or a failure text (one line). */
    public void recordEnded(String migrationId, String vm, String outcome) throws IOException {
        word("migration id", migrationId);
        word("vm", vm);
        String oneLine = outcome.replaceAll("\\R", " ").strip();
        write("ended " + migrationId + " " + vm + " " + (oneLine.isEmpty() ? "failed" : oneLine));
    }

    private static void word(String what, String value) {
        if (value == null || value.isEmpty() || !value.matches("[A-Za-z0-9._:@-]+")) {
            throw new IllegalArgumentException("a " + what + " is one word of [A-Za-z0-9._:@-]: " + value);
        }
    }

    private void write(String line) throws IOException {
        file.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
        file.force(false);
        linesInFile++;
        apply(line);
        if (linesInFile > 2 * compactedLines() + COMPACT_SLACK_LINES) {
            compact();
        }
    }

    /** Lines of the compacted form: the epoch, and per kept step its start and (if ended) its end. */
    private long compactedLines() {
        return 1 + entries.size() + entries.values().stream().filter(e -> !e.open()).count();
    }

    /**
     * Rewrites the file as what is kept: a new file forced to disk, renamed over the old one
     * atomically, and the directory forced so that the rename survives a crash before later lines do.
     */
    private void compact() throws IOException {
        StringBuilder text = new StringBuilder("epoch ").append(highestEpoch).append('\n');
        long lines = 1;
        for (ArrayDeque<String> ids : idsOfVm.values()) {
            for (String id : ids) {
                Entry e = entries.get(id);
                text.append("started ").append(id).append(' ').append(e.vm()).append(' ').append(e.epoch()).append('\n');
                lines++;
                if (!e.open()) {
                    text.append("ended ").append(id).append(' ').append(e.vm()).append(' ').append(e.outcome()).append('\n');
                    lines++;
                }
            }
        }
        Path next = path.resolveSibling(path.getFileName() + ".compacting");
        try (FileChannel out = FileChannel.open(next, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer bytes = ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                out.write(bytes);
            }
            out.force(true);
        }
        Files.move(next, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel directory = FileChannel.open(path.getParent(), StandardOpenOption.READ)) {
            directory.force(true);
        }
        FileChannel old = file;
        file = FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        old.close();
        linesInFile = lines;
    }

    @Override
    public void close() throws IOException {
        if (file != null) {
            file.close();
        }
    }
}
