package dev.livetap.simulation;

import static dev.livetap.simulation.Phase.CONT;
import static dev.livetap.simulation.Phase.DEVICE_SECTION;
import static dev.livetap.simulation.Phase.END_MARKER;
import static dev.livetap.simulation.Phase.HEADER;
import static dev.livetap.simulation.Phase.POST_LOAD;
import static dev.livetap.simulation.Phase.QUEUE_FD;
import static dev.livetap.simulation.Phase.RETURN_PATH_LOADED;
import static dev.livetap.simulation.Phase.SETUP;
import static dev.livetap.simulation.Phase.VMDESC;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The fault catalogue: each fault with the phases it applies to and how it is injected. Faults
 * act only through the production classes' interfaces (a decorated FrameChannel or transport,
 * the in-memory kernel's fault hooks, a decorated VhostBackend, commands to the VmActors, a
 * process crash); the module holds no protocol code of its own.
 */
public enum Fault {
    NONE("none", "no fault: a clean migration", EnumSet.of(SETUP)),
    CHANNEL_CLOSED("channel_closed", "the migration connection breaks (ECONNRESET/EPIPE both ways; at setup: refused)",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, END_MARKER, VMDESC, POST_LOAD, RETURN_PATH_LOADED)),
    TRUNCATED_FRAME("truncated_frame", "the frame reaches the target's decoder cut in half (with its fds)",
            EnumSet.of(HEADER, DEVICE_SECTION, END_MARKER, VMDESC)),
    CORRUPTED_BYTES("corrupted_bytes", "one byte of the frame flipped on the way (target decoder; source for the return path)",
            EnumSet.of(HEADER, DEVICE_SECTION, END_MARKER, VMDESC, RETURN_PATH_LOADED)),
    DELAY_BEYOND_TIMEOUT("delay_beyond_timeout", "the frame (and all after it) is held past every migration timeout",
            EnumSet.of(HEADER, DEVICE_SECTION, END_MARKER, VMDESC, RETURN_PATH_LOADED)),
    TARGET_CRASH("target_crash", "the target process dies: actors stopped, every fd closed by the kernel",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, END_MARKER, POST_LOAD)),
    SOURCE_CRASH("source_crash", "the source process dies: actors stopped, every fd closed by the kernel",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, END_MARKER, VMDESC, POST_LOAD, RETURN_PATH_LOADED)),
    PRE_LOAD_FAILURE("pre_load_failure", "a target queue already holds an fd when its state arrives (already initialized)",
            EnumSet.of(DEVICE_SECTION)),
    POST_LOAD_FAILURE("post_load_failure", "the last queue's post_load fails after the others loaded (vhost set-up refused)",
            EnumSet.of(POST_LOAD)),
    VHOST_SETUP_FAILURE("vhost_setup_failure", "vhost cannot be opened at the target's netdev creation, or bound in queue 0's post_load",
            EnumSet.of(SETUP, POST_LOAD)),
    SECTION_VERSION_MISMATCH("section_version_mismatch", "the section's version_id is one above the target's schema",
            EnumSet.of(DEVICE_SECTION)),
    UNKNOWN_SECTION("unknown_section", "the section's name is one the target does not know",
            EnumSet.of(DEVICE_SECTION)),
    MISSING_SECTION("missing_section", "the section frame never reaches the target",
            EnumSet.of(DEVICE_SECTION)),
    CANCEL("cancel", "migrate_cancel on the source",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, END_MARKER, VMDESC, POST_LOAD, RETURN_PATH_LOADED, CONT)),
    CANCEL_TWICE("cancel_twice", "two migrate_cancel in a row: still cancelled",
            EnumSet.of(SETUP, DEVICE_SECTION, POST_LOAD)),
    CANCEL_AFTER_FAILURE("cancel_after_failure", "the connection breaks, then migrate_cancel after 'failed': stays failed",
            EnumSet.of(HEADER, DEVICE_SECTION)),
    CANCEL_IDLE("cancel_idle", "migrate_cancel with no migration running: the next migration is not affected",
            EnumSet.of(SETUP)),
    MIGRATE_TWICE("migrate_twice", "a second migrate while one runs: refused, the first goes on",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, POST_LOAD, RETURN_PATH_LOADED)),
    CONT_DURING_MIGRATION("cont_during_migration", "cont on both VMs while the migration runs",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, POST_LOAD)),
    EMFILE_ON_RECEIVE("emfile_on_receive", "the target is out of descriptors when the section's fds arrive (EMFILE, MSG_CTRUNC)",
            EnumSet.of(QUEUE_FD)),
    FD_NOT_TAP("fd_not_tap", "a queue's fd slot carries a pipe instead of a TAP queue",
            EnumSet.of(QUEUE_FD)),
    SAME_FD_TWICE("same_fd_twice", "two queues' slots carry the same open TAP queue",
            EnumSet.of(QUEUE_FD)),
    SWITCHOVER_LIMIT("switchover_limit", "x-switchover-limit set and the frame held just beyond it",
            EnumSet.of(HEADER, DEVICE_SECTION, END_MARKER, VMDESC, RETURN_PATH_LOADED)),
    TAP_CRASH("tap_crash", "a source TAP queue's handler throws on its first fd-less request after the phase",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION)),
    NIC_CRASH("nic_crash", "the source NIC's handler throws on its first fd-less request after the phase",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION)),
    GUEST_CRASH("guest_crash", "the guest stand-in throws on the snapshot (source) or the restore (target)",
            EnumSet.of(HEADER, POST_LOAD)),
    SOURCE_ROLE_CRASH("source_role_crash", "the source migration role throws on its first NIC reply or stream event after the phase",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, RETURN_PATH_LOADED)),
    TARGET_ROLE_CRASH("target_role_crash", "the target migration role throws on its first NIC reply or stream event after the phase",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, POST_LOAD)),
    VM_CRASH("vm_crash", "the source VM actor throws on its first report from the migration role after the phase: not"
            + " supervised, it stops, and its NICs, queues and role stop with it, closing their fds (the endpoint is lost)",
            EnumSet.of(SETUP, HEADER, DEVICE_SECTION, VMDESC));

    private final String id;
    private final String description;
    private final Set<Phase> phases;

    Fault(String id, String description, Set<Phase> phases) {
        this.id = id;
        this.description = description;
        this.phases = phases;
    }

    public String id() {
        return id;
    }

    public String description() {
        return description;
    }

    /** The phases this fault applies to, in protocol order. */
    public List<Phase> phases() {
        return List.copyOf(phases);
    }

    public boolean appliesTo(Phase p) {
        return phases.contains(p);
    }

    /** Whether this fault makes an actor throw (through the simulation's tracer; documented outcome: resume, the VM stops). */
    public boolean isActorCrash() {
        return this == TAP_CRASH || this == NIC_CRASH || this == GUEST_CRASH || this == SOURCE_ROLE_CRASH
                || this == TARGET_ROLE_CRASH || this == VM_CRASH;
    }

    public static Fault parse(String s) {
        for (Fault f : values()) {
            if (f.id.equals(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown fault " + s + "; known: " + List.of(values()).stream().map(Fault::id).toList());
    }
}
