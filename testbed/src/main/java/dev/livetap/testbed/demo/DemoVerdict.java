package dev.livetap.testbed.demo;

import java.util.ArrayList;
import java.util.List;

/**
 * The demo's verdict, from the two modes' summaries: it passes iff every migration of both modes
 * completed, every freeze of both modes held at least one probe, the guest answered every probe
 * written with backend transfer, ping lost no frame with backend transfer, and the TAP kept its
 * ifindex. The baseline's lost probes and ping frames are its result, not a failure.
 */
public record DemoVerdict(boolean ok, List<String> failures) {
    public static DemoVerdict of(DemoSummary backendTransfer, DemoSummary baseline, boolean ifindexUnchanged) {
        List<String> why = new ArrayList<>();
        for (DemoSummary s : List.of(backendTransfer, baseline)) {
            String mode = s.mode().replace('_', ' ');
            int failed = s.migrations().size() - s.completed();
            if (s.migrations().isEmpty()) {
                why.add(mode + ": no migration ran");
            }
            if (failed > 0) {
                why.add(mode + ": " + failed + " of " + s.migrations().size() + " migrations did not complete");
            }
            if (s.freezesWithoutProbe() > 0) {
                why.add(mode + ": " + s.freezesWithoutProbe() + " of " + s.migrations().size()
                        + " freezes held no probe (QMP status or the VMMs' stamps did not enclose the writes)");
            }
        }
        if (backendTransfer.probesAnswered() < backendTransfer.probesSent()) {
            why.add("backend transfer: " + (backendTransfer.probesSent() - backendTransfer.probesAnswered()) + " of "
                    + backendTransfer.probesSent() + " probes were not answered");
        }
        if (!backendTransfer.hasPing()) {
            why.add("backend transfer: no ping ran");
        } else if (backendTransfer.framesLost() != 0) {
            why.add("backend transfer: ping lost " + backendTransfer.framesLost() + " of " + backendTransfer.framesSent() + " frames");
        }
        if (!ifindexUnchanged) {
            why.add("backend transfer: the TAP's ifindex changed (it must be the very same TAP)");
        }
        return new DemoVerdict(why.isEmpty(), List.copyOf(why));
    }
}
