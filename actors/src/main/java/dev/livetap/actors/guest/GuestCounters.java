package dev.livetap.actors.guest;

/**
 * What the guest stand-in has seen and answered; part of the device state, so it travels with
 * the NIC in a migration and the counts continue on the target.
 */
public record GuestCounters(long framesSeen, long arpReplies, long icmpReplies, long ignored) {
    public static final GuestCounters ZERO = new GuestCounters(0, 0, 0, 0);

    public GuestCounters {
        if (framesSeen < 0 || arpReplies < 0 || icmpReplies < 0 || ignored < 0) {
            throw new IllegalArgumentException("counters cannot be negative");
        }
        if (arpReplies + icmpReplies + ignored != framesSeen) {
            throw new IllegalArgumentException("every frame seen is answered or ignored: " + framesSeen + " != "
                    + arpReplies + " + " + icmpReplies + " + " + ignored);
        }
    }

    /** These counters after one more frame with {@code outcome}. */
    public GuestCounters after(GuestOutcome outcome) {
        if (outcome instanceof GuestOutcome.ArpReply) {
            return new GuestCounters(framesSeen + 1, arpReplies + 1, icmpReplies, ignored);
        }
        if (outcome instanceof GuestOutcome.EchoReply) {
            return new GuestCounters(framesSeen + 1, arpReplies, icmpReplies + 1, ignored);
        }
        return new GuestCounters(framesSeen + 1, arpReplies, icmpReplies, ignored + 1);
    }

    /** The sum of two counters (e.g. over the queues of one NIC). */
    public GuestCounters plus(GuestCounters other) {
        return new GuestCounters(framesSeen + other.framesSeen, arpReplies + other.arpReplies,
                icmpReplies + other.icmpReplies, ignored + other.ignored);
    }
}
