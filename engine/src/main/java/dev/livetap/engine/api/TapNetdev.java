package dev.livetap.engine.api;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A TAP netdev ({@code -netdev tap,...}, QMP {@code netdev_add} with {@code "type": "tap"}), with
 * QEMU's option names and rules (docs/options.md). Start from {@link #named(String)} and add what
 * differs; every rule is checked when the VM receives it, and a refusal carries QEMU's text.
 *
 * <p>Three ways to get the TAP queues: by name ({@link #ifname(String)}: the VM's process opens
 * them, so it must live in the TAP's network namespace), pre-opened fds handed in with
 * {@link VirtualMachine#netdevAdd(TapNetdev, java.util.List)} (QEMU's {@code fd=}/{@code fds=}:
 * the control plane's JVM may live anywhere), or from an incoming migration
 * ({@link #incomingFds(boolean)}).
 *
 * @param id          the netdev id a {@link VirtioNetDevice} names
 * @param ifname      the TAP interface's name; empty: the kernel names it ({@code tap%d})
 * @param queues      the number of queues (1-256); empty: 1, or as many as fds were handed in
 * @param vnetHdr     QEMU's {@code vnet_hdr}; empty: on where the kernel supports it
 * @param vhost       QEMU's {@code vhost}; empty: off
 * @param script      QEMU's {@code script}: {@code "no"} or a path; empty: none runs
 * @param downscript  QEMU's {@code downscript}: {@code "no"} or a path; empty: none runs
 * @param incomingFds the live-TAP series' {@code incoming-fds}: the queues wait for the source's fds
 *                    (needs {@code script("no")} and {@code downscript("no")}, the series' review rule)
 * @param localMigrationSupported the series' v17 {@code local-migration-supported}; empty: the seed's
 *                    v10 form, where the device's {@code backend-transfer} is the switch
 * @param downscriptDuty livetap's {@code x-downscript-duty}: a target's netdev may name its own
 *                    {@code downscript} PATH, which it runs once the source has received {@code loaded}
 */
public record TapNetdev(String id, Optional<String> ifname, OptionalInt queues, Optional<Boolean> vnetHdr,
        Optional<Boolean> vhost, Optional<String> script, Optional<String> downscript, boolean incomingFds,
        Optional<Boolean> localMigrationSupported, boolean downscriptDuty) {

    /** Checks only for absent members; QEMU's rules are checked by the VM. */
    public TapNetdev {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(ifname, "ifname");
        Objects.requireNonNull(queues, "queues");
        Objects.requireNonNull(vnetHdr, "vnetHdr");
        Objects.requireNonNull(vhost, "vhost");
        Objects.requireNonNull(script, "script");
        Objects.requireNonNull(downscript, "downscript");
        Objects.requireNonNull(localMigrationSupported, "localMigrationSupported");
    }

    /** The v10 form's members, as before {@code local-migration-supported} and {@code x-downscript-duty}. */
    public TapNetdev(String id, Optional<String> ifname, OptionalInt queues, Optional<Boolean> vnetHdr,
            Optional<Boolean> vhost, Optional<String> script, Optional<String> downscript, boolean incomingFds) {
        this(id, ifname, queues, vnetHdr, vhost, script, downscript, incomingFds, Optional.empty(), false);
    }

    /** A TAP netdev with this id and every other option left to its default. */
    public static TapNetdev named(String id) {
        return new TapNetdev(id, Optional.empty(), OptionalInt.empty(), Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.empty(), false, Optional.empty(), false);
    }

    /** {@code ifname=NAME}. */
    public TapNetdev ifname(String name) {
        return new TapNetdev(id, Optional.of(name), queues, vnetHdr, vhost, script, downscript, incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code queues=N}. */
    public TapNetdev queues(int count) {
        return new TapNetdev(id, ifname, OptionalInt.of(count), vnetHdr, vhost, script, downscript, incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code vnet_hdr=on|off}. */
    public TapNetdev vnetHdr(boolean on) {
        return new TapNetdev(id, ifname, queues, Optional.of(on), vhost, script, downscript, incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code vhost=on|off}. */
    public TapNetdev vhost(boolean on) {
        return new TapNetdev(id, ifname, queues, vnetHdr, Optional.of(on), script, downscript, incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code script=no|PATH}. */
    public TapNetdev script(String noOrPath) {
        return new TapNetdev(id, ifname, queues, vnetHdr, vhost, Optional.of(noOrPath), downscript, incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code downscript=no|PATH}. */
    public TapNetdev downscript(String noOrPath) {
        return new TapNetdev(id, ifname, queues, vnetHdr, vhost, script, Optional.of(noOrPath), incomingFds,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code incoming-fds=on|off}. */
    public TapNetdev incomingFds(boolean on) {
        return new TapNetdev(id, ifname, queues, vnetHdr, vhost, script, downscript, on,
                localMigrationSupported, downscriptDuty);
    }

    /** {@code local-migration-supported=on|off}: the series' v17 form (docs/options.md). */
    public TapNetdev localMigrationSupported(boolean on) {
        return new TapNetdev(id, ifname, queues, vnetHdr, vhost, script, downscript, incomingFds, Optional.of(on),
                downscriptDuty);
    }

    /** {@code x-downscript-duty=on|off}: livetap's extension (design semantic 8). */
    public TapNetdev downscriptDuty(boolean on) {
        return new TapNetdev(id, ifname, queues, vnetHdr, vhost, script, downscript, incomingFds,
                localMigrationSupported, on);
    }
}
