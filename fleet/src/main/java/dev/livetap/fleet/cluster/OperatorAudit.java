package dev.livetap.fleet.cluster;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The audit log of operator commands: one line per command with who (a certificate's CN and role, or a cluster
 * member's address) and what, on the logger {@value #LOGGER} so that it can be routed to its own file.
 */
public final class OperatorAudit {
    /** The audit logger's name. */
    public static final String LOGGER = "dev.livetap.fleet.audit";
    private static final Logger LOG = LoggerFactory.getLogger(LOGGER);

    private OperatorAudit() {
    }

    /** {@code who} ran {@code command}; the coordinator answered {@code outcome}. */
    public static void done(String who, FleetRole.Command command, String outcome) {
        LOG.info("operator {} {}: done ({})", who, command.label(), outcome);
    }

    /** {@code who} was refused {@code command} for lack of the right. */
    public static void refused(String who, FleetRole.Command command, String reason) {
        LOG.warn("operator {} {}: refused ({})", who, command.label(), reason);
    }

    /** {@code who} asked for {@code command}, which failed or was rejected by the coordinator. */
    public static void failed(String who, FleetRole.Command command, String reason) {
        LOG.info("operator {} {}: failed ({})", who, command.label(), reason);
    }

    /** A command from a cluster member (the operator commands' own path): who is the member's address. */
    public static void member(String address, FleetRole.Command command, String outcome) {
        LOG.info("operator member {} {}: {}", address, command.label(), outcome);
    }
}
