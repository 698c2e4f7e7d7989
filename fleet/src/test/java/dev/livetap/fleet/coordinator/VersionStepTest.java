package dev.livetap.fleet.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class VersionStepTest {
    @Test
    void oneVersionStepEitherWayIsAllowed() {
        for (String target : new String[] {"current", "0.2.0", "0.2.7", "0.3.0", "0.1.4", "v0.3.0", "some-label"}) {
            assertEquals(Optional.empty(), VersionStep.refusal(target, "0.2.0"), target + " is within the policy");
        }
        assertEquals(Optional.empty(), VersionStep.refusal("1.0.0", "0.9.1"), "a major step from the last minor");
        assertEquals(Optional.empty(), VersionStep.refusal("0.9.0", "1.0.0"), "and back");
    }

    @Test
    void moreThanOneStepIsRefusedNamingBothVersionsAndThePolicy() {
        String why = VersionStep.refusal("0.4.0", "0.2.0").orElseThrow();
        assertEquals("target version 0.4.0 is more than one version step from this build's 0.2.0: a migration stream is "
                + "compatible between a build and the previous one only (N-1 <-> N); plan the versions in between one at "
                + "a time (docs/stream-format.md, Compatibility between livetap versions)", why);
        assertTrue(VersionStep.refusal("0.0.9", "0.2.0").isPresent(), "two steps back");
        assertTrue(VersionStep.refusal("1.1.0", "0.2.0").isPresent(), "a major step and a minor one");
        assertTrue(VersionStep.refusal("2.0.0", "0.2.0").isPresent(), "two major steps");
    }
}
