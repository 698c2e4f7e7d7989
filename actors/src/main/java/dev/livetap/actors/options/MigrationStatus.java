package dev.livetap.actors.options;

/** QEMU's migration statuses ({@code query-migrate}, the MIGRATION event), with their QMP names. */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    ACTIVE("active"),
    /** {@code pause-before-switchover}: the source is stopped and waits for {@code migrate-continue}. */
    PRE_SWITCHOVER("pre-switchover"),
    DEVICE("device"),
    COMPLETED("completed"),
    FAILED("failed"),
    CANCELLING("cancelling"),
    CANCELLED("cancelled");

    private final String qmpName;

    MigrationStatus(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() {
        return qmpName;
    }

    /** The status with this QMP name, if livetap has it (QEMU's enum has more: postcopy, colo, wait-unplug). */
    public static java.util.Optional<MigrationStatus> fromQmp(String name) {
        for (MigrationStatus s : values()) {
            if (s.qmpName.equals(name)) {
                return java.util.Optional.of(s);
            }
        }
        return java.util.Optional.empty();
    }

    /** No further change follows. */
    public boolean isFinal() {
        return this == COMPLETED || this == FAILED || this == CANCELLED;
    }
}
