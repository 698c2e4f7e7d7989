package dev.livetap.actors.vm;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.RunState;
import java.util.List;

/**
 * The answer to a {@link VmActor} command: the command's own reply record ({@link Done} for the
 * commands that return nothing), or {@link Refused}. What a management protocol makes of it (QMP's
 * {@code return} and {@code error}) is the engine's business.
 */
public sealed interface VmReply permits VmReply.Done, VmReply.Refused, VmReply.Parameters, VmReply.Capabilities,
        VmReply.Migration, VmReply.Status, VmReply.Nics {

    default boolean isOk() {
        return !(this instanceof Refused);
    }

    /** The command did what it asked. */
    record Done() implements VmReply {
    }

    /** Why a command was refused: a device it names does not exist, or anything else. */
    enum Refusal {
        REJECTED,
        DEVICE_NOT_FOUND
    }

    /** The command was refused and changed nothing; {@code message} is the text a client sees. */
    record Refused(Refusal refusal, String message) implements VmReply {
        public static Refused rejected(String message) {
            return new Refused(Refusal.REJECTED, message);
        }

        public static Refused deviceNotFound(String id) {
            return new Refused(Refusal.DEVICE_NOT_FOUND, "Device '" + id + "' not found");
        }
    }

    /** {@link VmActor.QueryMigrateParameters}. */
    record Parameters(MigrationParameters parameters) implements VmReply {
    }

    /** {@link VmActor.QueryMigrateCapabilities}. */
    record Capabilities(MigrationCapabilities capabilities) implements VmReply {
    }

    /** {@link VmActor.QueryMigrate}: the current or last migration. */
    record Migration(MigrationInfo info) implements VmReply {
    }

    /** {@link VmActor.QueryStatus}. */
    record Status(RunState runState) implements VmReply {
        public boolean running() {
            return runState == RunState.RUNNING;
        }
    }

    /** {@link VmActor.QueryNics}: in device-id order. */
    record Nics(List<VirtioNetActor.NicInfo> nics) implements VmReply {
        public Nics {
            nics = List.copyOf(nics);
        }
    }
}
