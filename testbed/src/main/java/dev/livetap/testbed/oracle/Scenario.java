package dev.livetap.testbed.oracle;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpJson;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A QMP session script written once against "a VMM" and run on every {@link Flavor}.
 *
 * @param pendingReason why the scenario cannot run yet (e.g. a capability livetap lacks), or null
 * @param only the flavor it runs on (a behaviour newer than the oracle's QEMU), or null for both
 * @param expected for a scenario that runs on livetap only: the digest fields QEMU's source at the
 *     announced version fixes, with their values (only these are compared); empty otherwise
 * @param expectedSource where in QEMU's source {@code expected} comes from (commit, file, function)
 */
public record Scenario(String name, String about, List<Step> steps, String pendingReason, Flavor only,
        Map<String, String> expected, String expectedSource) {
    public Scenario {
        expected = Collections.unmodifiableMap(new LinkedHashMap<>(expected));
        if (only == Flavor.LIVETAP && pendingReason == null && (expected.isEmpty() || expectedSource == null)) {
            throw new IllegalArgumentException(name + ": a livetap-only scenario needs the digest QEMU's source gives, and where from");
        }
    }

    public Optional<String> pending() {
        return Optional.ofNullable(pendingReason);
    }

    public static Builder named(String name, String about) {
        return new Builder(name, about);
    }

    /** Builds the steps of a scenario in order. */
    public static final class Builder {
        private static final Duration MIGRATION_WAIT = Duration.ofSeconds(10);
        private final String name;
        private final String about;
        private final List<Step> steps = new ArrayList<>();
        private String pendingReason;
        private Flavor only;
        private Map<String, String> expected = Map.of();
        private String expectedSource;

        private Builder(String name, String about) {
            this.name = name;
            this.about = about;
        }

        public Builder start(String role) {
            steps.add(new Step.Start(role, false, false));
            return this;
        }

        public Builder startIncoming(String role) {
            steps.add(new Step.Start(role, true, false));
            return this;
        }

        public Builder startPaused(String role) {
            steps.add(new Step.Start(role, false, true));
            return this;
        }

        public Builder qmp(String role, String command) {
            return qmp(role, command, null);
        }

        public Builder qmp(String role, String command, ObjectNode args) {
            steps.add(new Step.Command(role, command, args, false));
            return this;
        }

        /** A command whose error text is part of the digest (QEMU or the seed fixes it). */
        public Builder qmpText(String role, String command, ObjectNode args) {
            steps.add(new Step.Command(role, command, args, true));
            return this;
        }

        /** {@code migrate-set-capabilities} with the {@code events} capability on. */
        public Builder eventsOn(String role) {
            ObjectNode args = QmpJson.object();
            args.putArray("capabilities").addObject().put("capability", "events").put("state", true);
            return qmp(role, "migrate-set-capabilities", args);
        }

        /** {@code migrate-set-capabilities} with {@code capability} on. */
        public Builder capabilityOn(String role, String capability) {
            ObjectNode args = QmpJson.object();
            args.putArray("capabilities").addObject().put("capability", capability).put("state", true);
            return qmp(role, "migrate-set-capabilities", args);
        }

        /** A peer connects to {@code path} (may hold {@code {dir}}) and closes at once, before any byte. */
        public Builder connectAndClose(String role, String path) {
            steps.add(new Step.ConnectAndClose(role, path));
            return this;
        }

        public Builder awaitMigration(String role, String... statuses) {
            steps.add(new Step.AwaitMigration(role, Set.of(statuses), MIGRATION_WAIT));
            return this;
        }

        public Builder awaitExit(String role, Duration timeout) {
            steps.add(new Step.AwaitExit(role, timeout));
            return this;
        }

        public Builder kill(String role) {
            steps.add(new Step.Kill(role));
            return this;
        }

        public Builder getfd(String role, String fdname, String connectTo) {
            steps.add(new Step.Getfd(role, fdname, connectTo));
            return this;
        }

        public Builder pending(String reason) {
            this.pendingReason = reason;
            return this;
        }

        public Builder only(Flavor flavor) {
            this.only = flavor;
            return this;
        }

        /** For a livetap-only scenario: the digest fields QEMU's source fixes, and where they come from. */
        public Builder expected(Map<String, String> fields, String source) {
            this.expected = fields;
            this.expectedSource = source;
            return this;
        }

        public Scenario build() {
            return new Scenario(name, about, List.copyOf(steps), pendingReason, only, expected, expectedSource);
        }
    }

    /** {@code {"uri": uri}}. */
    public static ObjectNode uri(String uri) {
        return QmpJson.object().put("uri", uri);
    }
}
