package dev.livetap.simulation.invariants;

import dev.livetap.simulation.SimRun;
import java.util.regex.Pattern;

/**
 * Every failure's error (query-migrate's error-desc, on each side that failed) names the phase
 * it happened in and its cause: a phase word (connecting, stream, section, loading, answer,
 * switch-over, ...) and a cause after a colon or in words such as "took longer than".
 */
public final class ErrorNamesPhaseAndCause implements Invariant {
    static final Pattern PHASE = Pattern.compile("(?i)connect|stream|section|load|answer|return.path|switch-over"
            + "|sav|stop|roll|channel|describ|discard|fd |fds|queue|vhost|device");
    static final Pattern CAUSE = Pattern.compile("(?i):\\s*\\S|took longer than|exceeded|refused|closed|lost|went away");

    @Override
    public String name() {
        return "ErrorNamesPhaseAndCause";
    }

    @Override
    public void atEnd(SimRun run) {
        if (run.outcome().equals("failed")) {
            check("source", run.sourceError());
        }
        if (run.target().statuses().contains("failed") && !run.target().crashed()) {
            check("target", run.targetError());
        }
    }

    private void check(String side, String error) {
        if (error == null || error.isBlank()) {
            throw violation("the " + side + "'s migration failed without an error-desc");
        }
        if (!PHASE.matcher(error).find() || !CAUSE.matcher(error).find()) {
            throw violation("the " + side + "'s error does not name its phase and cause: \"" + error + "\"");
        }
    }
}
