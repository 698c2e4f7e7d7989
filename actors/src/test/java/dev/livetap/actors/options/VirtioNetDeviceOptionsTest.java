package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class VirtioNetDeviceOptionsTest {

    private static Map<String, Object> qmp(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("driver", "virtio-net-pci");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void parsesEveryProperty() {
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse(
                "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:12:34:56,mq=on,backend-transfer=off");
        assertEquals(Optional.of("nic0"), d.id());
        assertEquals("net0", d.netdev());
        assertEquals("52:54:00:12:34:56", d.macAddress().toString());
        assertTrue(d.multiqueue());
        assertFalse(d.backendTransfer(MachineType.parse("q35")), "the device's own value beats the default");
        assertEquals(d, VirtioNetDeviceOptions.fromQmp(qmp("id", "nic0", "netdev", "net0", "mac", "52:54:00:12:34:56",
                "mq", true, "backend-transfer", false)));
    }

    @Test
    void acceptsThePciPropertiesLibvirtPasses() {
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.fromQmp(java.util.Map.of("driver", "virtio-net-pci", "id", "net0",
                "netdev", "hostnet0", "bus", "pci.1", "addr", "0x0", "romfile", "", "vectors", 6, "disable-legacy", "on",
                "mac", "52:54:00:12:34:56"));
        assertEquals("hostnet0", d.netdev());
        VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,bus=rp0,addr=0x2.0x1,vectors=10,disable-legacy=off,romfile=");
        assertRejected("Parameter 'disable-legacy' does not accept value 'maybe'",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,disable-legacy=maybe"));
        assertRejected("Parameter 'x-unknown' is unexpected",
                () -> VirtioNetDeviceOptions.fromQmp(java.util.Map.of("driver", "virtio-net-pci", "netdev", "n", "x-unknown", 1)));
    }

    @Test
    void netdevIsRequired() {
        assertRejected("Parameter 'netdev' is missing", () -> VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic0"));
        assertRejected("Parameter 'netdev' expects an identifier",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=1x"));
    }

    @Test
    void onlyVirtioNetPci() {
        assertRejected("livetap supports only device driver 'virtio-net-pci'; got 'e1000'",
                () -> VirtioNetDeviceOptions.parse("e1000,netdev=n"));
        assertRejected("Invalid parameter 'x-vectors'", () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,x-vectors=4"));
        assertRejected("Parameter 'x-vectors' is unexpected",
                () -> VirtioNetDeviceOptions.fromQmp(qmp("netdev", "n", "x-vectors", 4)));
        assertRejected("Invalid parameter type for 'mq', expected: boolean",
                () -> VirtioNetDeviceOptions.fromQmp(qmp("netdev", "n", "mq", "on")));
        assertRejected("Invalid parameter type for 'backend-transfer', expected: boolean",
                () -> VirtioNetDeviceOptions.fromQmp(qmp("netdev", "n", "backend-transfer", 0)));
    }

    @Test
    void macValidation() {
        assertRejected("Property 'virtio-net-pci.mac' doesn't take value '52:54:00:12:34'",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=52:54:00:12:34"));
        assertRejected("Property 'virtio-net-pci.mac' doesn't take value '52:54:00:12:34:zz'",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=52:54:00:12:34:zz"));
        assertRejected("Property 'virtio-net-pci.mac' doesn't take value '52:54-00:12:34:56'",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=52:54-00:12:34:56"));
        assertRejected("NIC cannot have multicast MAC address (odd 1st byte)",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=01:00:5e:00:00:01"));
        assertRejected("NIC cannot have multicast MAC address (odd 1st byte)",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=ff:ff:ff:ff:ff:ff"));
        assertRejected("NIC cannot have the all-zero MAC address",
                () -> VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=00:00:00:00:00:00"));
        assertEquals("52:54:00:ab:cd:ef",
                VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,mac=52-54-00-AB-CD-EF").macAddress().toString());
    }

    @Test
    void defaultMacIsDeterministicUnicastAndDerivedFromTheId() {
        MacAddress a = VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic0,netdev=n").macAddress();
        assertEquals(a, VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic0,netdev=other").macAddress());
        assertNotEquals(a, VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic1,netdev=n").macAddress());
        assertEquals(MacAddress.derivedFrom("n"), VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n").macAddress(),
                "without a device id the netdev id seeds the address");
        assertFalse(a.isMulticast());
        assertTrue(a.toString().startsWith("52:54:00:"));
        // The address ends in the low 24 bits of CRC-32("nic0").
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update("nic0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(crc.getValue() & 0xFFFFFF, a.value() & 0xFFFFFF);
    }

    @ParameterizedTest
    @CsvSource({"pc-q35-10.0,false", "pc-q35-10.1,false", "pc-q35-10.2,false", "pc-q35-11.0,true", "q35,true",
            "pc-i440fx-10.2,false", "pc-i440fx-11.0,true", "pc,true"})
    void backendTransferCompatDefault(String machine, boolean expected) {
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n");
        assertEquals(expected, d.backendTransfer(MachineType.parse(machine)));
        assertTrue(VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,backend-transfer=on")
                .backendTransfer(MachineType.parse(machine)), "an explicit property overrides the compat default");
    }

    @Test
    void netdevLookups() {
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=net9");
        assertRejected("Property 'virtio-net-pci.netdev' can't find value 'net9'", () -> d.requireNetdevAmong(List.of("net0")));
        d.requireNetdevAmong(List.of("net0", "net9"));
        assertRejected("Property 'virtio-net-pci.netdev' can't take value 'net9', it's in use",
                () -> d.requireNetdevUnused(List.of("net9")));
        d.requireNetdevUnused(List.of());
    }
}
