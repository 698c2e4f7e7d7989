package dev.livetap.testbed.oracle;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Set;

/** One step of a {@link Scenario}, against the VMM playing {@code role} ("source", "target"). */
public sealed interface Step {
    String role();

    /** Starts a VMM ({@code -incoming defer} / {@code --incoming}; {@code -S} / {@code --paused}), connects and negotiates. */
    record Start(String role, boolean incoming, boolean paused) implements Step { }

    /**
     * Executes a QMP command. String arguments may hold {@code {dir}} (the scenario's private
     * directory). {@code textFixed}: the error text is part of the digest (QEMU or the seed fixes it).
     */
    record Command(String role, String command, ObjectNode args, boolean textFixed) implements Step { }

    /** Waits (bounded) until the role's migration reaches one of {@code statuses} (query-migrate, not recorded). */
    record AwaitMigration(String role, Set<String> statuses, Duration timeout) implements Step { }

    /** Waits (bounded) for the process to exit by itself; the digest records whether and how it did. */
    record AwaitExit(String role, Duration timeout) implements Step { }

    /** A peer connects to {@code connectTo} (may hold {@code {dir}}) and closes at once (a source that gives up before its header). */
    record ConnectAndClose(String role, String connectTo) implements Step { }

    /** SIGKILL. */
    record Kill(String role) implements Step { }

    /**
     * {@code getfd fdname} with an fd attached by SCM_RIGHTS: a socket connected to {@code connectTo}
     * (may hold {@code {dir}}; e.g. a target's incoming socket, for an {@code fd:} URI), or one end of
     * a socketpair when {@code connectTo} is null. The harness closes its own copy afterwards.
     */
    record Getfd(String role, String fdname, String connectTo) implements Step { }
}
