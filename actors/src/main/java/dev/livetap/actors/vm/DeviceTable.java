package dev.livetap.actors.vm;

import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.tap.PassedTapFds;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A VM's netdevs, realized NICs and NICs being realized, each by id in id order (the order the
 * NICs are asked in and handed to a migration). An immutable value: every change gives a new
 * table, which the VM's state record carries.
 */
public record DeviceTable(SortedMap<String, Netdev> netdevs, SortedMap<String, Nic> nics,
        SortedMap<String, PendingDevice> pending) {

    public DeviceTable {
        netdevs = frozen(netdevs);
        nics = frozen(nics);
        pending = frozen(pending);
    }

    public static final DeviceTable EMPTY = new DeviceTable(new TreeMap<>(), new TreeMap<>(), new TreeMap<>());

    /**
     * @param passed the fds of {@code fd=}/{@code fds=} while this netdev holds them (until a device
     *     takes them), else null; {@code passedTaken} once a device took them
     * @param heldNic a NIC unplugged by device_del whose TAP queues stay open (stopped) until
     *     netdev_del has run this netdev's downscript: QEMU closes the TAP only in tap_cleanup, after
     *     the down script, so the script still sees the interface
     */
    public record Netdev(TapNetdevOptions options, List<VhostBackend.VhostQueue> vhostQueues, boolean downscriptDuty,
            PassedTapFds passed, boolean passedTaken, Optional<ActorRef<VirtioNetActor.Command>> heldNic) {
        public Netdev {
            vhostQueues = List.copyOf(vhostQueues);
        }

        public Netdev(TapNetdevOptions options, List<VhostBackend.VhostQueue> vhostQueues, boolean downscriptDuty,
                PassedTapFds passed, boolean passedTaken) {
            this(options, vhostQueues, downscriptDuty, passed, passedTaken, Optional.empty());
        }

        Netdev withDuty(boolean duty) {
            return new Netdev(options, vhostQueues, duty, passed, passedTaken, heldNic);
        }

        Netdev passedTakenByDevice() {
            return new Netdev(options, vhostQueues, downscriptDuty, null, true, heldNic);
        }

        Netdev holding(Optional<ActorRef<VirtioNetActor.Command>> nic) {
            return new Netdev(options, vhostQueues, downscriptDuty, passed, passedTaken, nic);
        }

        /** Whether netdev_del will run a downscript here (semantic 8: a path, and the duty is this side's). */
        boolean downscriptDue() {
            return downscriptDuty && options.downscriptPath().isPresent();
        }

        /** Closes the passed fds no device took (netdev_del, VM stop). */
        void closePassed() {
            if (passed != null) {
                OwnedFd.closeAll(passed.fds());
            }
        }
    }

    /** @param backendGone its TAP queues were handed to a migration target (released at {@code loaded}) */
    public record Nic(VirtioNetDeviceOptions options, String deviceId, ActorRef<VirtioNetActor.Command> ref,
            boolean peersWaitIncoming, boolean backendGone) {
        public Nic(VirtioNetDeviceOptions options, String deviceId, ActorRef<VirtioNetActor.Command> ref,
                boolean peersWaitIncoming) {
            this(options, deviceId, ref, peersWaitIncoming, false);
        }

        Nic withBackendGone() {
            return new Nic(options, deviceId, ref, peersWaitIncoming, true);
        }
    }

    /** A device_add whose NIC has not reported its realize yet: its reply waits for that. */
    public record PendingDevice(VirtioNetDeviceOptions options, ActorRef<VmReply> replyTo) {
    }

    private static <V> SortedMap<String, V> frozen(SortedMap<String, V> m) {
        return Collections.unmodifiableSortedMap(new TreeMap<>(m));
    }

    private static <V> SortedMap<String, V> with(SortedMap<String, V> m, String key, V value) {
        TreeMap<String, V> next = new TreeMap<>(m);
        next.put(key, value);
        return next;
    }

    private static <V> SortedMap<String, V> without(SortedMap<String, V> m, String key) {
        TreeMap<String, V> next = new TreeMap<>(m);
        next.remove(key);
        return next;
    }

    public Optional<Netdev> netdev(String id) {
        return Optional.ofNullable(netdevs.get(id));
    }

    public Optional<Nic> nic(String deviceId) {
        return Optional.ofNullable(nics.get(deviceId));
    }

    public List<Nic> nicList() {
        return List.copyOf(nics.values());
    }

    /** The NIC that uses netdev {@code netdevId}, if any. */
    public Optional<Nic> nicUsing(String netdevId) {
        return nics.values().stream().filter(n -> n.options().netdev().equals(netdevId)).findFirst();
    }

    /** The netdevs the realized and the pending devices use. */
    public List<String> netdevsInUse() {
        List<String> used = new ArrayList<>();
        nics.values().forEach(n -> used.add(n.options().netdev()));
        pending.values().forEach(p -> used.add(p.options().netdev()));
        return used;
    }

    /** Realized and pending NICs. */
    /** Whether some NIC's TAP queues went to a migration target. */
    public boolean anyBackendGone() {
        return nics.values().stream().anyMatch(Nic::backendGone);
    }

    public int nicCount() {
        return nics.size() + pending.size();
    }

    public boolean hasDevice(String deviceId) {
        return nics.containsKey(deviceId) || pending.containsKey(deviceId);
    }

    public DeviceTable withNetdev(Netdev n) {
        return new DeviceTable(with(netdevs, n.options().id(), n), nics, pending);
    }

    public DeviceTable withoutNetdev(String id) {
        return new DeviceTable(without(netdevs, id), nics, pending);
    }

    /** The table with {@code change} applied to netdev {@code id}, if it exists. */
    public DeviceTable updateNetdev(String id, UnaryOperator<Netdev> change) {
        Netdev n = netdevs.get(id);
        return n == null ? this : new DeviceTable(with(netdevs, id, change.apply(n)), nics, pending);
    }

    public DeviceTable withPending(String deviceId, PendingDevice p) {
        return new DeviceTable(netdevs, nics, with(pending, deviceId, p));
    }

    public DeviceTable withoutPending(String deviceId) {
        return new DeviceTable(netdevs, nics, without(pending, deviceId));
    }

    public DeviceTable withNic(Nic n) {
        return new DeviceTable(netdevs, with(nics, n.deviceId(), n), pending);
    }

    public DeviceTable withoutNic(String deviceId) {
        return new DeviceTable(netdevs, without(nics, deviceId), pending);
    }

    /** Closes the passed fds no device took, of every netdev (the VM stops; queues close their own). */
    public void closePassedFds() {
        netdevs.values().forEach(Netdev::closePassed);
    }
}
