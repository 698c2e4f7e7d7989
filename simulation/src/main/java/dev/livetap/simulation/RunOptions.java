package dev.livetap.simulation;

import dev.livetap.actors.migration.MigrationTimeouts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Every option of one run, derived from the run's seed through one {@link Random}, in a fixed
 * order: the same seed gives the same options in any JVM and at any position of a batch.
 *
 * @param burst           executor tasks run between two reactor sweeps (the interleaving)
 * @param sourceFirst     which process's reactor is swept first
 * @param faultQueue      the queue a queue-specific fault acts on
 * @param freezeFrames    echo requests the host sends while the VM is frozen
 * @param switchoverLimitMs x-switchover-limit (0 = off)
 * @param delayMs         how long a delaying fault holds frames
 */
public record RunOptions(long seed, int queues, Fault fault, Phase phase, int faultQueue, boolean startPaused,
        boolean vhost, int burst, boolean sourceFirst, MigrationTimeouts timeouts, long switchoverLimitMs,
        long delayMs, int corruptOffset, int corruptMask, int freezeFrames) {

    /** One cell of the fault × phase matrix. */
    public record Cell(Fault fault, Phase phase) {
    }

    public static List<Cell> cells(List<Fault> faults) {
        List<Cell> cells = new ArrayList<>();
        for (Fault f : faults) {
            for (Phase p : f.phases()) {
                cells.add(new Cell(f, p));
            }
        }
        return cells;
    }

    public static RunOptions derive(long seed, List<Fault> faults, int minQueues, int maxQueues) {
        Random r = new Random(seed);
        List<Cell> cells = cells(faults);
        Cell cell = cells.get(r.nextInt(cells.size()));
        int queues = minQueues + r.nextInt(maxQueues - minQueues + 1);
        if (cell.fault() == Fault.SAME_FD_TWICE && queues < 2) {
            queues = 2; // two slots are needed to carry one open file twice
        }
        int faultQueue = r.nextInt(queues);
        boolean startPaused = r.nextInt(4) == 0;
        boolean vhost = cell.fault() == Fault.POST_LOAD_FAILURE || cell.fault() == Fault.VHOST_SETUP_FAILURE
                || r.nextInt(4) == 0;
        int burst = 1 + r.nextInt(8);
        boolean sourceFirst = r.nextBoolean();
        MigrationTimeouts t = new MigrationTimeouts(Duration.ofMillis(2_000 + r.nextInt(3_000)),
                Duration.ofMillis(1_000 + r.nextInt(2_000)), Duration.ofMillis(4_000 + r.nextInt(4_000)),
                Duration.ofMillis(2_000 + r.nextInt(3_000)));
        long limit = cell.fault() == Fault.SWITCHOVER_LIMIT ? 20 + r.nextInt(200) : (r.nextInt(3) == 0 ? 60_000 : 0);
        long maxTimeout = Math.max(Math.max(t.channel().toMillis(), t.step().toMillis()),
                Math.max(t.stream().toMillis(), t.returnPath().toMillis()));
        long delay = cell.fault() == Fault.SWITCHOVER_LIMIT ? limit + 1 + r.nextInt(50) : maxTimeout + 1 + r.nextInt(2_000);
        int corruptOffset = r.nextInt(1 << 16);
        int corruptMask = 1 + r.nextInt(255);
        int freezeFrames = 1 + r.nextInt(8);
        return new RunOptions(seed, queues, cell.fault(), cell.phase(), faultQueue, startPaused, vhost, burst,
                sourceFirst, t, limit, delay, corruptOffset, corruptMask, freezeFrames);
    }

    /** The one line printed before a run. */
    public String describe() {
        return "SEED=" + seed + " queues=" + queues + " fault=" + fault.id() + " phase=" + phase.id()
                + " fault_queue=" + faultQueue + " start_paused=" + startPaused + " vhost=" + vhost + " burst=" + burst
                + " source_first=" + sourceFirst + " timeouts_ms=" + timeouts.channel().toMillis() + "/"
                + timeouts.step().toMillis() + "/" + timeouts.stream().toMillis() + "/" + timeouts.returnPath().toMillis()
                + " x_switchover_limit_ms=" + switchoverLimitMs + " delay_ms=" + delayMs + " freeze_frames=" + freezeFrames;
    }
}
