package dev.livetap.fleet.agent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The agent's own record of its steps, one line per change, forced to disk before the agent acts:
 * {@code started MIGRATION_ID VM EPOCH} before a migration begins, {@code ended MIGRATION_ID VM OUTCOME}
 * after. QEMU keeps no migration id; this file is how a repeated step is recognised after an agent
 * restart. A step started and never ended (the agent died mid-step) is reported as
 * {@link Entry#open()}; the agent resolves it through its migration port ({@code MigrationPort.reconcile}).
 */
public final class StepLedger implements AutoCloseable {
    /** What the ledger knows of one migration id. */
    public record Entry(String migrationId, String vm, long epoch, String outcome) {
        public boolean open() {
            return outcome == null;
        }
    }

    private final FileChannel file;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private long highestEpoch;

    private StepLedger(FileChannel file) {
        this.file = file;
    }

    /** Opens (creating if missing) {@code path} and reads what it holds. */
    public static StepLedger open(Path path) throws IOException {
        Files.createDirectories(path.toAbsolutePath().getParent());
        StepLedger ledger = new StepLedger(FileChannel.open(path, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.APPEND));
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        for (String line : lines) {
            ledger.apply(line);
        }
        return ledger;
    }

    private void apply(String line) {
        String[] f = line.split(" ", 4);
        if (f.length == 4 && f[0].equals("started")) {
            long epoch = Long.parseLong(f[3]);
            entries.put(f[1], new Entry(f[1], f[2], epoch, null));
            highestEpoch = Math.max(highestEpoch, epoch);
        } else if (f.length == 4 && f[0].equals("ended")) {
            Entry e = entries.get(f[1]);
            entries.put(f[1], new Entry(f[1], f[2], e == null ? 0 : e.epoch(), f[3]));
        } else if (f.length == 2 && f[0].equals("epoch")) {
            highestEpoch = Math.max(highestEpoch, Long.parseLong(f[1]));
        } else if (!line.isBlank()) {
            throw new IllegalStateException("step ledger: unreadable line: " + line);
        }
    }

    public Optional<Entry> get(String migrationId) {
        return Optional.ofNullable(entries.get(migrationId));
    }

    /** The open step of {@code vm}, if any. */
    public Optional<Entry> openStepOf(String vm) {
        return entries.values().stream().filter(e -> e.open() && e.vm().equals(vm)).findFirst();
    }

    /** The highest coordinator epoch this agent has accepted (kept across agent restarts). */
    public long highestEpoch() {
        return highestEpoch;
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
        apply(line);
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
