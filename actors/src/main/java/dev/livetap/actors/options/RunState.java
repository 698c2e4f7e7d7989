package dev.livetap.actors.options;

/** The VM run states livetap uses, with QEMU's {@code query-status} names. */
public enum RunState {
    PRELAUNCH("prelaunch"),
    INMIGRATE("inmigrate"),
    RUNNING("running"),
    PAUSED("paused"),
    FINISH_MIGRATE("finish-migrate"),
    POSTMIGRATE("postmigrate");

    private final String qmpName;

    RunState(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() {
        return qmpName;
    }
}
