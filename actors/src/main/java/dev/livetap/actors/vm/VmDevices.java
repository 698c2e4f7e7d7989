package dev.livetap.actors.vm;

import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.actors.tap.PassedTapFds;
import dev.livetap.actors.tap.TapBackendFactory;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.actors.tap.VhostException;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The {@link VmActor}'s netdev and device plumbing: checks a netdev_add or device_add against the
 * {@link DeviceTable}, opens or spawns what it needs, and gives the new table. A refusal is an
 * {@link OptionException} (or {@link IllegalArgumentException}) with the text a client sees, and
 * changes nothing.
 */
final class VmDevices {
    private VmDevices() {
    }

    /**
     * The table with the new netdev; the fds that came with the command are closed on refusal.
     * {@code runState} and {@code localOn} (migration parameter {@code local} now) decide the v17
     * form's creation rules.
     */
    static DeviceTable netdevAdd(VmActor.VmConfig config, DeviceTable devices, RunState runState, boolean localOn,
            VmActor.NetdevAdd m) {
        TapNetdevOptions o = m.options();
        try {
            o.checkCreation(config.machine(), runState, localOn);
            if (devices.netdev(o.id()).isPresent()) {
                throw new OptionException("Duplicate ID '" + o.id() + "' for netdev");
            }
            if (devices.netdevs().size() >= VmActor.MAX_NETDEVS) {
                throw new OptionException("too many netdevs: this VM has " + devices.netdevs().size() + " (limit "
                        + VmActor.MAX_NETDEVS + ")");
            }
        } catch (RuntimeException e) {
            OwnedFd.closeAll(m.fds()); // the fds came with the command: a refusal closes them
            throw e;
        }
        PassedTapFds passed = PassedTapFds.take(o, m.fds(), config.os()); // closes them all on refusal
        List<VhostBackend.VhostQueue> vqs = new ArrayList<>();
        if (o.vhostEnabled()) {
            // QEMU opens vhost at netdev creation and fails netdev_add when it cannot (never silently
            // without it); semantic 2: a target opens its own vhost fds here too
            try {
                for (int q = 0; q < o.queueCount(); q++) {
                    vqs.add(config.vhost().open(q));
                }
            } catch (VhostException e) {
                vqs.forEach(config.vhost()::tearDown);
                if (passed != null) {
                    OwnedFd.closeAll(passed.fds()); // a refused netdev_add closes the fds it came with
                }
                throw new OptionException(e.getMessage().equals(KernelVhostNet.OPEN_FAILED) ? e.getMessage()
                        : "vhost-net requested but could not be initialized: " + e.getMessage());
            }
        }
        return devices.withNetdev(new DeviceTable.Netdev(o, vqs, !o.waitsForIncomingFds(), passed, false));
    }

    /**
     * Spawns the NIC of a device_add (its reply waits for the NIC's realize, which comes to
     * {@code realizeAdapter}) and gives the table with the device pending.
     */
    static DeviceTable deviceAdd(ActorContext<VmActor.Command> ctx, VmActor.VmConfig config,
            ActorRef<VirtioNetActor.RealizeResult> realizeAdapter, DeviceTable devices, RunState runState,
            VmActor.DeviceAdd m) {
        VirtioNetDeviceOptions o = m.options();
        o.requireNetdevAmong(devices.netdevs().keySet());
        o.requireNetdevUnused(devices.netdevsInUse());
        String deviceId = o.id().orElse(o.netdev());
        if (devices.hasDevice(deviceId)) {
            throw new OptionException("Duplicate device ID '" + deviceId + "' for device");
        }
        if (devices.nicCount() >= VmActor.MAX_NICS) {
            throw new OptionException("too many NICs: this VM has " + devices.nicCount() + " (limit "
                    + VmActor.MAX_NICS + ")");
        }
        DeviceTable.Netdev netdev = devices.netdev(o.netdev()).orElseThrow();
        if (netdev.passedTaken()) {
            throw new OptionException("netdev '" + o.netdev() + "' has no TAP fds left: the fds passed with its "
                    + (netdev.options().fd().isPresent() ? "fd=" : "fds=") + " were closed with the device that"
                    + " used them; netdev_del it and netdev_add it again with new fds");
        }
        TapBackendFactory factory = new TapBackendFactory(netdev.options(), netdev.passed(), config.os(),
                netdev.vhostQueues().isEmpty() ? null : config.vhost(), netdev.vhostQueues());
        VirtioNetActor.realizeCheck(factory, runState); // QEMU's texts; nothing opened yet
        Ipv4Address guestIp = m.guestIp().orElse(config.defaultGuestIp());
        VirtioNetActor.NicConfig nc = new VirtioNetActor.NicConfig(deviceId, o.macAddress(), guestIp, runState,
                config.queueTimeout(), VmActor.DISPATCHER, config.tracer());
        // a NIC unplugged by device_del may still live under that name (held until netdev_del, or stopping)
        String actorName = "nic-" + deviceId;
        for (int k = 2; ctx.getChild(actorName).isPresent(); k++) {
            actorName = "nic-" + deviceId + "-" + k;
        }
        ctx.spawn(config.tracer().trace("nic-" + deviceId, VirtioNetActor.create(nc, factory, config.os().fds(),
                realizeAdapter)), actorName, VmActor.DISPATCHER);
        DeviceTable next = devices;
        if (netdev.heldNic().isPresent()) {
            // a NIC device_del unplugged still holds this netdev's TAP queues: they close now
            netdev.heldNic().get().tell(new VirtioNetActor.Unplug());
            next = next.updateNetdev(netdev.options().id(), d -> d.holding(Optional.empty()));
        }
        if (netdev.passed() != null) {
            next = next.withNetdev(netdev.passedTakenByDevice()); // the NIC's queues own the fds now
        }
        return next.withPending(deviceId, new DeviceTable.PendingDevice(o, m.replyTo()));
    }

    /**
     * Semantic 8: each side runs only its own downscript, and only while the duty is its own.
     *
     * @return the run's end, when one started
     */
    static Optional<CompletionStage<Integer>> runDownscript(ActorContext<?> ctx, VmActor.VmConfig config, DeviceTable.Netdev n) {
        Optional<String> script = n.options().downscriptPath();
        if (script.isPresent() && n.downscriptDuty()) {
            String ifname = n.options().ifname().orElse(n.options().id());
            ctx.getLog().info("netdev {}: running downscript {} {}", n.options().id(), script.get(), ifname);
            try {
                return Optional.of(config.scripts().run(script.get(), ifname));
            } catch (RuntimeException ex) {
                ctx.getLog().warn("netdev {}: downscript {} did not start: {}", n.options().id(), script.get(), ex.toString());
                return Optional.empty();
            }
        } else if (script.isPresent()) {
            ctx.getLog().info("netdev {}: downscript not run (the duty is the other side's)", n.options().id());
        }
        return Optional.empty();
    }
}
