package dev.livetap.simulation;

/**
 * The published protocol phases a fault can be injected at, in protocol order. Each names the
 * moment the simulation's hook fires.
 */
public enum Phase {
    /** {@code migrate} accepted, status {@code setup}: the channel is being connected. */
    SETUP("setup"),
    /** The source sends the stream header (VM stopped, status {@code device}). */
    HEADER("header"),
    /** The source sends the NIC's section ({@code virtio-net} with its {@code virtio-net-nic} subsection). */
    DEVICE_SECTION("device_section"),
    /** A queue's fd in the section frame's fd list (one slot per queue, one chosen by the seed). */
    QUEUE_FD("queue_fd"),
    /** The source sends the end marker. */
    END_MARKER("end_marker"),
    /** The source sends the trailing self-description (vmdesc). */
    VMDESC("vmdesc"),
    /** The target's queues run pre_load, the fd checks and post_load (the first queue's Load is delivered). */
    POST_LOAD("post_load"),
    /** The target answers {@code loaded} on the return path. */
    RETURN_PATH_LOADED("return_path_loaded"),
    /** After {@code completed}: the target resumes (by itself or on {@code cont}). */
    CONT("cont");

    private final String id;

    Phase(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static Phase parse(String s) {
        for (Phase p : values()) {
            if (p.id.equals(s)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown phase " + s);
    }
}
