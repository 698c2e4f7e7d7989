package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MigrationParametersTest {

    private static Map<String, Object> args(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void defaultsAreQemus() {
        MigrationParameters p = MigrationParameters.defaults();
        assertFalse(p.local());
        assertEquals(300, p.downtimeLimitMs());
        assertEquals(0, p.switchoverLimitMs());
        assertFalse(p.hasSwitchoverLimit());
        assertEquals(2, p.streamFormat(), "a source writes this build's own stream format unless told otherwise");
        assertEquals(args("local", false, "downtime-limit", 300L, "x-switchover-limit", 0L, "x-stream-format", 2),
                p.toQmp());
    }

    @Test
    void partialUpdateKeepsTheRest() {
        MigrationParameters p = MigrationParameters.defaults().apply(args("local", true));
        assertEquals(new MigrationParameters(true, 300, 0, 2), p);
        p = p.apply(args("x-switchover-limit", 150));
        assertEquals(new MigrationParameters(true, 300, 150, 2), p);
        assertTrue(p.hasSwitchoverLimit());
        assertEquals(p, p.apply(Map.of()));
    }

    @Test
    void backendTransferIsAnAliasReportedAsLocal() {
        MigrationParameters p = MigrationParameters.defaults().apply(args("backend-transfer", true));
        assertTrue(p.local());
        assertEquals(true, p.toQmp().get("local"));
        assertFalse(p.toQmp().containsKey("backend-transfer"));
        assertTrue(MigrationParameters.defaults().apply(args("local", true, "backend-transfer", true)).local());
        assertRejected("Parameters 'local' and 'backend-transfer' (its former name) are given different values",
                () -> MigrationParameters.defaults().apply(args("local", true, "backend-transfer", false)));
    }

    @Test
    void limitsRange() {
        assertEquals(2_000_000, MigrationParameters.defaults().apply(args("downtime-limit", 2_000_000)).downtimeLimitMs());
        assertEquals(0, MigrationParameters.defaults().apply(args("downtime-limit", 0)).downtimeLimitMs());
        assertRejected("Parameter 'downtime-limit' expects an integer in the range of 0 to 2000000 ms",
                () -> MigrationParameters.defaults().apply(args("downtime-limit", 2_000_001)));
        assertRejected("Parameter 'x-switchover-limit' expects an integer in the range of 0 to 2000000 ms",
                () -> MigrationParameters.defaults().apply(args("x-switchover-limit", -1)));
        assertRejected("Parameter 'downtime-limit' expects an integer in the range of 0 to 2000000 ms",
                () -> new MigrationParameters(false, -5, 0, 2));
    }

    @Test
    void streamFormatPinsThePreviousFormatAndRefusesWhatThisBuildCannotWrite() {
        assertEquals(1, MigrationParameters.defaults().apply(args("x-stream-format", 1)).streamFormat(),
                "a rollback to the previous build pins its format");
        assertEquals(2, MigrationParameters.defaults().apply(args("x-stream-format", 1)).apply(args("x-stream-format", 2))
                .streamFormat(), "and unpins it");
        assertRejected("Parameter 'x-stream-format' expects a stream format version this build writes, 1 to 2",
                () -> MigrationParameters.defaults().apply(args("x-stream-format", 3)));
        assertRejected("Parameter 'x-stream-format' expects a stream format version this build writes, 1 to 2",
                () -> MigrationParameters.defaults().apply(args("x-stream-format", 0)));
        assertRejected("Invalid parameter type for 'x-stream-format', expected: integer",
                () -> MigrationParameters.defaults().apply(args("x-stream-format", "1")));
    }

    @Test
    void nothingAppliesWhenOneValueIsBad() {
        MigrationParameters before = MigrationParameters.defaults();
        assertRejected("Invalid parameter type for 'downtime-limit', expected: integer",
                () -> before.apply(args("local", true, "downtime-limit", "300")));
        assertRejected("Parameter 'max-postcopy-bandwidth' is unexpected",
                () -> before.apply(args("local", true, "max-postcopy-bandwidth", 1)));
        assertRejected("Invalid parameter type for 'local', expected: boolean", () -> before.apply(args("local", "on")));
        assertEquals(MigrationParameters.defaults(), before, "records are immutable: the old value is kept");
    }

    @Test
    void capabilities() {
        MigrationCapabilities c = MigrationCapabilities.defaults();
        assertFalse(c.isOn(MigrationCapabilities.Capability.EVENTS));
        assertFalse(c.isOn(MigrationCapabilities.Capability.RETURN_PATH));
        assertTrue(c.returnPathInUse(), "livetap always uses the return path");
        MigrationCapabilities d = c.apply(args("capabilities", List.of(
                args("capability", "events", "state", true), args("capability", "return-path", "state", true))));
        assertTrue(d.isOn(MigrationCapabilities.Capability.EVENTS));
        assertTrue(d.isOn(MigrationCapabilities.Capability.RETURN_PATH));
        assertFalse(d.isOn(MigrationCapabilities.Capability.X_IGNORE_SHARED));
        assertEquals(List.of(args("capability", "events", "state", true),
                args("capability", "x-ignore-shared", "state", false),
                args("capability", "return-path", "state", true),
                args("capability", "pause-before-switchover", "state", false)), d.toQmp());
        assertFalse(c.isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER), "off by default, as in QEMU");
        assertTrue(c.apply(args("capabilities", List.of(args("capability", "pause-before-switchover", "state", true))))
                .isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER));
        assertRejected("Parameter 'capability' does not accept value 'postcopy-ram'",
                () -> c.apply(args("capabilities", List.of(args("capability", "events", "state", true),
                        args("capability", "postcopy-ram", "state", true)))));
        assertRejected("Invalid parameter type for 'state', expected: boolean",
                () -> c.apply(args("capabilities", List.of(args("capability", "events", "state", "on")))));
        assertRejected("Parameter 'state' is missing",
                () -> c.apply(args("capabilities", List.of(args("capability", "events")))));
        assertRejected("Parameter 'capabilities' is missing", () -> c.apply(args()));
        assertRejected("Invalid parameter type for 'capabilities', expected: array",
                () -> c.apply(args("capabilities", "events")));
        assertRejected("Invalid parameter type for 'capabilities[0]', expected: object",
                () -> c.apply(args("capabilities", List.of("events"))));
    }
}
