package dev.livetap.actors.options;

/** QEMU's migration statuses ({@code query-migrate}, the MIGRATION event), with their QMP names. */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    ACTIVE("active"),
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

    /** No further change follows. */
    public boolean isFinal() {
        return this == COMPLETED || this == FAILED || this == CANCELLED;
    }
}
