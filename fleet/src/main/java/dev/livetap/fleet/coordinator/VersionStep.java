package dev.livetap.fleet.coordinator;

import dev.livetap.fleet.agent.VmmBuilds;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The stream-compatibility policy applied to a plan's {@code targetVersion} (docs/stream-format.md,
 * "Compatibility between livetap versions"): a build loads the streams of the previous one and
 * writes them on request, so a plan may move VMs by at most one version step from this build
 * (the coordinator's) — to the next minor version (an upgrade) or the previous one (a rollback).
 * {@code current} and labels that are not {@code MAJOR.MINOR[.PATCH]} are not checked (they name
 * this build or a build the operator vouches for).
 */
public final class VersionStep {
    /** What {@code livetap fleet start} sends when no version is given. */
    public static final String CURRENT = VmmBuilds.CURRENT;
    private static final Pattern VERSION = Pattern.compile("v?(\\d+)\\.(\\d+)(?:\\.\\d+)?(?:[-+].*)?");

    private VersionStep() {
    }

    /** This build's version (the jar's Implementation-Version; 0.2.0 when run from classes). */
    public static String thisBuild() {
        return VmmBuilds.thisBuild();
    }

    /** Why a plan to {@code target} is refused by a coordinator of build {@code self}; empty: allowed. */
    public static Optional<String> refusal(String target, String self) {
        Matcher t = VERSION.matcher(target);
        Matcher s = VERSION.matcher(self);
        if (CURRENT.equals(target) || !t.matches() || !s.matches()) {
            return Optional.empty();
        }
        int tMajor = Integer.parseInt(t.group(1));
        int tMinor = Integer.parseInt(t.group(2));
        int sMajor = Integer.parseInt(s.group(1));
        int sMinor = Integer.parseInt(s.group(2));
        boolean oneStep = tMajor == sMajor && Math.abs(tMinor - sMinor) <= 1
                // across a major version the newer side's x.0 follows whatever minor came last
                || Math.abs(tMajor - sMajor) == 1 && (tMajor > sMajor ? tMinor == 0 : sMinor == 0);
        if (oneStep) {
            return Optional.empty();
        }
        return Optional.of("target version " + target + " is more than one version step from this build's " + self
                + ": a migration stream is compatible between a build and the previous one only (N-1 <-> N); plan the "
                + "versions in between one at a time (docs/stream-format.md, Compatibility between livetap versions)");
    }
}
