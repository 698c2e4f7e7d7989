package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import dev.livetap.simulation.faults.FaultyChannel;
import dev.livetap.simulation.trace.RecordingOs;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bugs planted in the production pipeline without editing it (decorated channels, a decorated
 * OS): the harness must catch each with a violation whose one-line reproduction, replayed, yields
 * the same violation.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PlantedBugTest {
    /** A decoder-side stage that, for a frame it rejects (here: one a fault truncated), forgets its fds. */
    static final Consumer<SimRun> FORGETS_FDS_OF_REJECTED_FRAME = run -> run.addChannelPlant((vm, ch) -> {
        if (vm != run.target()) {
            return;
        }
        FaultyChannel.ReceiveInterceptor inner = ch.receiveInterceptor();
        ch.interceptReceives((frame, next) -> inner.onFrame(frame, f -> {
            boolean rejected = f.payload().length != frame.payload().length && !f.fds().isEmpty();
            next.accept(rejected ? new Frame(f.payload(), List.of()) : f); // the bug: f's fds are never closed
        }));
    });

    /** A source whose transport reports the return path's 'loaded' before the target sent it (forged frame). */
    static final Consumer<SimRun> FORGED_LOADED = run -> run.addChannelPlant((vm, ch) -> {
        if (vm != run.source()) {
            return;
        }
        FaultyChannel.SendInterceptor send = ch.sendInterceptor();
        ch.interceptSends((payload, fds, next) -> {
            var r = send.send(payload, fds, next);
            if (FaultyChannel.kind(payload).equals("end")) {
                ch.injectReceived(Frame.of(ReturnPath.loaded())); // the target said nothing yet
            }
            return r;
        });
    });

    /** A target that keeps reading its queue after a failure: a dup of each TAP fd stays registered for READ. */
    static final Consumer<SimRun> TARGET_KEEPS_READING = run -> {
        RecordingOs os = run.target().os();
        boolean[] inHook = new boolean[1];
        os.registerHook(t -> {
            if (inHook[0] || os.base().fds().kind(t.fd()) != FdKind.TUN) {
                return t;
            }
            inHook[0] = true;
            try {
                OwnedFd shadow = t.fd().dup();
                ByteBuffer buf = ByteBuffer.allocate(70_000);
                os.reactor().register(shadow, Reactor.READ, ready -> {
                    buf.clear();
                    os.base().tun().readFrame(shadow, buf);
                });
            } finally {
                inHook[0] = false;
            }
            return t;
        });
    };

    private static SimRun.Result firstViolation(String faults, String queues, Consumer<SimRun> plant, String invariant) {
        int[] q = dev.livetap.tools.SimulateCommand.parseRange(queues);
        List<Fault> fl = dev.livetap.tools.SimulateCommand.parseFaults(faults);
        Simulator.Batch b = Simulator.run(11, 12, fl, q[0], q[1], 1, null, plant);
        SimRun.Result bad = b.violations().stream().filter(r -> r.violation().invariant().equals(invariant)).findFirst()
                .orElse(null);
        assertNotNull(bad, "the planted bug must be caught by " + invariant + "; got " + b.outcomes() + " "
                + b.violations().stream().map(r -> r.violation().getMessage()).toList());
        SimRun.Result again = Simulator.replay(bad.options().seed(), fl, q[0], q[1], 0, plant);
        assertFalse(again.ok(), "the reproduction line replays the violation: " + Simulator.repro(bad, faults, queues));
        assertEquals(bad.violation().getMessage(), again.violation().getMessage(), "same violation on replay");
        assertEquals(bad.traceHash(), again.traceHash(), "same trace on replay");
        SimRun.Result clean = Simulator.replay(bad.options().seed(), fl, q[0], q[1], 0, null);
        assertTrue(clean.ok(), "the same seed without the planted bug passes: " + (clean.ok() ? "" : clean.violation().getMessage()));
        System.out.println("caught: " + bad.violation().getMessage().lines().findFirst().orElse("") + "\n  reproduce: "
                + Simulator.repro(bad, faults, queues));
        return bad;
    }

    @Test
    void aStageThatForgetsTheFdsOfARejectedFrameIsCaughtByFdConservation() {
        firstViolation("truncated_frame", "2-4", FORGETS_FDS_OF_REJECTED_FRAME, "FdConservation");
    }

    @Test
    void aForgedLoadedIsCaughtByTheStatusSequence() {
        firstViolation("post_load_failure,fd_not_tap", "2-4", FORGED_LOADED, "LegalStatusSequence");
    }

    @Test
    void aTargetThatKeepsReadingAfterRollbackIsCaughtBySingleReader() {
        firstViolation("post_load_failure", "2-4", TARGET_KEEPS_READING, "SingleReaderPerQueue");
    }
}
