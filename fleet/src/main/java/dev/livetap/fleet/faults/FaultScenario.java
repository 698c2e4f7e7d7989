package dev.livetap.fleet.faults;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/** One fault of the matrix, injected once mid-plan. */
public enum FaultScenario {
    SINGLETON_KILL("SIGKILL of the coordinator singleton's node mid-plan (fail-over to another node)"),
    SINGLETON_STOP("SIGSTOP of the singleton's node past the failure detector, then SIGCONT (downed; the fence)"),
    AGENT_KILL("SIGKILL of a host agent while its host has a step in flight; restarted, it re-adopts its VMMs"),
    VMM_CRASH("SIGKILL of a migration's target VMM process once its QMP socket answers (the VM stays on its source)"),
    DB_RESTART("the PostgreSQL server stopped mid-plan (pg_ctl stop -m fast), down 2 s, started again"),
    VMM_CRASH_SWITCHOVER("SIGKILL of a migration's target VMM inside the switch-over: the source stopped, the stream out, "
            + "no loaded yet (the source rolls back and resumes with its own TAP queues)"),
    AGENT_SINGLETON_KILL("two at once: SIGKILL of a host agent mid-switch-over and of the singleton's node; the agent restarted"),
    DB_AGENT_KILL("two at once: the PostgreSQL server stopped and a host agent SIGKILLed mid-switch-over while it is down");

    private final String description;

    FaultScenario(String description) {
        this.description = description;
    }

    /** The command-line name: {@code singleton-kill}, … */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public String description() {
        return description;
    }

    public static Optional<FaultScenario> byLabel(String label) {
        return Arrays.stream(values()).filter(s -> s.label().equals(label)).findFirst();
    }
}
